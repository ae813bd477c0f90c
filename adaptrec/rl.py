"""Generic RL libraries on adaptrec: the ``SlateRecRL-v0`` env of a run's world, and a trained
policy back as an adaptrec agent, measured by the report like any other.

Example (``experiments/ppo_sb3.py`` is the whole of it)::

    config = rl_run_config(n_items=100, n_users=200, n_steps=100)
    vectors = item_vectors_of(config)
    env = gym.make("adaptrec/SlateRecRL-v0", **env_kwargs(config, vectors))  # train on it
    adaptrec.run(config, agents=[("ppo", policy_factory(predict)), "random"])
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from adaptrec.agents.base import StepBatch
from adaptrec.core.config import CatalogConfig, EnvConfig, RunConfig, default_run_config
from adaptrec.envs.rl_env import RL_ENV_DEFAULTS, RLObservation, SlateDecoder

Policy = Callable[[dict[str, np.ndarray]], Any]
"""A batched RL policy: RL observations ``(B, ...)`` per key -> ``(B, ...)`` actions."""


class RLPolicyAgent:
    """An adaptrec agent that shows the slates of a policy trained on ``SlateRecRL-v0``.

    ``act`` builds the RL observations of the B users (:class:`RLObservation`), asks the
    policy for their actions and decodes them (:class:`SlateDecoder`); ``update`` learns
    nothing (the policy was trained beforehand). ``history_length`` and ``action`` must be
    those the policy was trained with; the run's ``env.slate_size`` must be, too.
    """

    def __init__(
        self,
        name: str,
        policy: Policy,
        item_vectors: np.ndarray,
        slate_size: int,
        history_length: int,
        action: str = "query",
        history_embeddings: bool = True,
    ) -> None:
        self.name, self.policy = name, policy
        self.observe = RLObservation(item_vectors, slate_size, history_length, history_embeddings)
        self.decode = SlateDecoder(action, item_vectors, slate_size)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        history = observation["items"].shape[1]
        if history < self.observe.history_length:
            raise ValueError(
                f"env.history_length must be >= the policy's {self.observe.history_length}, "
                f"got {history}"
            )
        cut = {
            key: value[:, : self.observe.history_length] if value.ndim == 3 else value
            for key, value in observation.items()
        }
        return self.decode(self.policy(self.observe(cut)))

    def update(self, batch: StepBatch) -> dict[str, float]:
        return {}


TRAINING_USERS = 1_000_000
"""Training episodes use users from this id on, so a policy is never evaluated (adaptrec's
users 0 .. n_users - 1) on the people it was trained on."""


def rl_run_config(
    n_items: int = 100, n_users: int = 200, n_steps: int = 100, seed: int = 0, **fields: Any
) -> RunConfig:
    """A run config of a small world for RL training and its evaluation: ``n_items`` items
    (a catalog on-policy methods can explore in minutes), history as the RL id's default."""
    env = EnvConfig(history_length=RL_ENV_DEFAULTS["history_length"], max_steps=n_steps)
    return default_run_config(
        n_users=n_users,
        n_steps=n_steps,
        seed=seed,
        catalog=CatalogConfig(n_items=n_items),
        env=env,
        **fields,
    )


def env_kwargs(
    config: RunConfig,
    item_vectors: np.ndarray,
    action: str = "query",
    *,
    history_embeddings: bool = False,
    episode_steps: int | None = None,
    first_user: int = TRAINING_USERS,
    user_stride: int = 1,
) -> dict[str, Any]:
    """``gym.make("adaptrec/SlateRecRL-v0", **env_kwargs(...))`` arguments for ``config``'s
    world: its catalog (and seed), users and env, with episodes of ``episode_steps`` (default
    ``config.n_steps``) starting from user ``first_user``."""
    if config.source.kind != "synthetic":
        raise ValueError(f"data must be 'synthetic' for the RL env, got {config.data!r}")
    env = config.env.to_dict()
    env["max_steps"] = episode_steps or config.n_steps
    return {
        "action": action,
        "item_vectors": item_vectors,
        "history_embeddings": history_embeddings,
        "env": env,
        "users": config.users,
        "catalog": config.catalog,
        "catalog_seed": config.seed,
        "user_id": first_user,
        "user_stride": user_stride,
        "world_seed": config.seed,  # the run's world, whatever seeds a library passes
    }


def policy_factory(policy: Policy, action: str = "query", *, history_embeddings: bool = False):
    """An agent factory (:func:`adaptrec.agents.register`) that shows ``policy``'s slates;
    ``policy`` maps batched RL observations to ``(B, ...)`` actions."""

    def factory(context):
        return RLPolicyAgent(
            context.name,
            policy,
            context.item_vectors,
            context.slate_size,
            context.config.env.history_length,
            action,
            history_embeddings,
        )

    return factory


BASELINES = ("random", "llm-cosine-seed", "oracle")
"""What a trained policy is measured beside: chance, the seed agent and the upper bound."""


def evaluate_policy(
    config: RunConfig,
    name: str,
    policy: Policy,
    action: str = "query",
    out: str | os.PathLike[str] = "runs/policy",
    *,
    history_embeddings: bool = False,
):
    """Measure a trained ``policy`` on ``config``'s users beside :data:`BASELINES` with
    ``adaptrec.run`` (into ``out``); returns the :class:`adaptrec.api.RunResult`.

    A rerun into the same folder keeps finished agents' logs, but a policy is new each time it
    is trained, so its own log from an earlier call is removed first (the baselines' are kept).
    """
    from adaptrec.api import run
    from adaptrec.logs import steps_path

    steps_path(out, name).unlink(missing_ok=True)
    factory = policy_factory(policy, action, history_embeddings=history_embeddings)
    return run(
        config,
        agents=[(name, factory), *BASELINES],
        out=out,
        overwrite=True,  # a run of another size in ``out`` is replaced
    )


def item_vectors_of(config: RunConfig, cache_dir: str | None = None) -> np.ndarray:
    """``(n_items, d)`` float32: ``config``'s catalog encoded by its encoder (cached), as the
    run will encode it."""
    from adaptrec.core.encoders import make_encoder
    from adaptrec.world import build_catalog

    catalog = build_catalog(config, cache_dir)
    return make_encoder(config.encoder, cache_dir).encode(list(catalog.texts))
