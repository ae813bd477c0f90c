"""``adaptrec/SlateRecRL-v0``: the simulated user, with spaces that generic RL libraries accept.

:class:`~adaptrec.envs.slate_env.SlateRecEnv` (``SlateRec-v0``) speaks in item ids and 2-D
histories, which suits recommenders written for it but not Stable-Baselines3, RLlib or TorchRL:
their samplers draw repeated items, their policies cannot learn from ids alone, and 0-d or 2-D
boxes and a key named ``items`` trip their input layers. This env wraps the same user (same
dynamics, same seeds) and changes only the interface:

* **actions** every library can sample, decoded to a slate by a documented rule
  (:class:`SlateDecoder`): a score per item, a query vector in the item-embedding space, or
  ``k`` item ids with repeats repaired;
* **observations** of 1-D arrays under keys that are not Python or torch attribute names, with
  the item embeddings of the history (:class:`RLObservation`); ``FlattenObservation`` turns
  them into one vector.

The same two pieces turn a policy trained here into an adaptrec agent
(:class:`adaptrec.rl.RLPolicyAgent`),
so ``adaptrec.run`` measures it with the report's metrics beside the built-in agents.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from adaptrec.core.catalog import Catalog
from adaptrec.core.config import CatalogConfig, EnvConfig, UserConfig
from adaptrec.core.validation import check_array, check_choice, check_int
from adaptrec.envs.slate_env import SlateRecEnv

ACTION_KINDS = ("query", "scores", "slate")
RL_ENV_DEFAULTS = {"max_steps": 100, "history_length": 5}
"""``env`` fields of the RL id that differ from :class:`EnvConfig`'s defaults (shorter
episodes and history suit on-policy training)."""
_TIME_SCALE = float(np.log1p(10_000))
_MAX_DWELL = 1e6  # seconds; dwell is exponential with a mean of tens of seconds


class RLObservation:
    """Builds the RL observation, 1-D arrays, from batched ``SlateRec`` observations.

    Keys (H = ``history_length``, k = slate size, d = embedding dimension, all float32 unless
    stated; history slots are most recent first, empty slots are zeros / -1):

    * ``time`` ``(2,)``: log1p(step) and log1p(session step), divided by log1p(10,000), at most 1;
    * ``hist_item_ids`` ``(H*k,)`` int64 in ``[-1, n_items)``;
    * ``hist_clicks``, ``hist_skips`` ``(H*k,)`` int8 (``MultiBinary``);
    * ``hist_dwell`` ``(H*k,)`` seconds in ``[0, 1e6]``;
    * ``hist_embeddings`` ``(H*k*d,)`` in ``[-1, 1]``: each history slot's item vector
      (present when ``history_embeddings``);
    * ``profile_clicked``, ``profile_skipped`` ``(d,)`` in ``[-1, 1]``: the mean item vector of
      the history's clicked / skipped items (zeros if none): a compact taste summary.
    """

    def __init__(
        self,
        item_vectors: np.ndarray,
        slate_size: int,
        history_length: int,
        history_embeddings: bool = True,
    ) -> None:
        vectors = np.asarray(item_vectors, dtype=np.float32)
        self.n_items, self.dim = vectors.shape
        self.slate_size, self.history_length = slate_size, history_length
        self.history_embeddings = history_embeddings
        # Row n_items is the zero vector of an empty slot (id -1 indexes it).
        self._vectors = np.concatenate([vectors, np.zeros((1, self.dim), np.float32)])
        slots = history_length * slate_size
        box = {
            "time": spaces.Box(0.0, 1.0, (2,), np.float32),
            "hist_item_ids": spaces.Box(-1, self.n_items - 1, (slots,), np.int64),
            "hist_clicks": spaces.MultiBinary(slots),
            "hist_skips": spaces.MultiBinary(slots),
            "hist_dwell": spaces.Box(0.0, _MAX_DWELL, (slots,), np.float32),
            "profile_clicked": spaces.Box(-1.0, 1.0, (self.dim,), np.float32),
            "profile_skipped": spaces.Box(-1.0, 1.0, (self.dim,), np.float32),
        }
        if history_embeddings:
            box["hist_embeddings"] = spaces.Box(-1.0, 1.0, (slots * self.dim,), np.float32)
        self.space = spaces.Dict(box)

    def __call__(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The RL observations of B users: each value ``(B, ...)`` as in :attr:`space`."""
        items = np.asarray(observation["items"]).reshape(len(observation["items"]), -1)
        clicks = np.asarray(observation["clicks"]).reshape(items.shape).astype(np.int8)
        skips = np.asarray(observation["skips"]).reshape(items.shape).astype(np.int8)
        dwell = np.asarray(observation["dwell"], np.float32).reshape(items.shape)
        steps = np.stack([observation["step"], observation["session_step"]], axis=1)
        embedded = self._vectors[items]  # (B, H*k, d); -1 -> the zero row
        out = {
            "time": np.minimum(np.log1p(steps) / _TIME_SCALE, 1.0).astype(np.float32),
            "hist_item_ids": items.astype(np.int64),
            "hist_clicks": clicks,
            "hist_skips": skips,
            "hist_dwell": np.minimum(dwell, _MAX_DWELL),
            "profile_clicked": _mean_of(embedded, clicks),
            "profile_skipped": _mean_of(embedded, skips),
        }
        if self.history_embeddings:
            out["hist_embeddings"] = embedded.reshape(len(items), -1)
        return out


def _mean_of(embedded: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(B, d)`` float32: the mean of ``embedded`` rows where ``mask`` (zeros where none)."""
    count = mask.sum(axis=1, keepdims=True).astype(np.float32)
    total = np.einsum("bs,bsd->bd", mask.astype(np.float32), embedded)
    return np.clip(total / np.maximum(count, 1.0), -1.0, 1.0).astype(np.float32)


class SlateDecoder:
    """Turns a batch of RL actions into ``(B, k)`` int64 slates of distinct items.

    * ``"scores"``: ``Box(-1, 1, (n_items,))``; the slate is the k highest scores, best first,
      ties to the lower item id.
    * ``"query"``: ``Box(-1, 1, (d,))``, a vector in the item-embedding space; the slate is the
      k items of highest ``item_vector . query`` (the cosine order, the item vectors being unit
      length), ties to the lower item id (SARDINE's SlateTopK rule).
    * ``"slate"``: ``MultiDiscrete([n_items] * k)``; a slot that repeats an earlier slot's item
      gets the next item id above it (cyclically) not yet in the slate; :attr:`replaced_`
      ``(B, k)`` bool marks those slots (the env reports them in ``info["replaced_slots"]``).

    Scores and queries must be finite (``ValueError`` otherwise); libraries that sample
    outside the box (a Gaussian policy) may pass values beyond ±1, which rank as they are.
    """

    def __init__(self, kind: str, item_vectors: np.ndarray, slate_size: int) -> None:
        self.kind = check_choice("action", kind, ACTION_KINDS)
        self.item_vectors = np.asarray(item_vectors, dtype=np.float32)
        self.n_items, dim = self.item_vectors.shape
        self.slate_size = slate_size
        if kind == "scores":
            self.space: spaces.Space = spaces.Box(-1.0, 1.0, (self.n_items,), np.float32)
        elif kind == "query":
            self.space = spaces.Box(-1.0, 1.0, (dim,), np.float32)
        else:
            self.space = spaces.MultiDiscrete(np.full(slate_size, self.n_items, dtype=np.int64))
        self.replaced_ = np.zeros((0, slate_size), dtype=bool)

    def __call__(self, actions: Any) -> np.ndarray:
        """``(B, k)`` int64 slates for ``(B, ...)`` actions."""
        actions = np.asarray(actions)
        shape = (None, *self.space.shape)
        if self.kind == "slate":
            check_array("action", actions, shape=shape, kind="iu")
            return self._repair(actions.astype(np.int64))
        check_array("action", actions, shape=shape, kind="iuf", finite=True)
        if self.kind == "scores":
            scores = actions.astype(np.float32)
        else:
            scores = actions.astype(np.float32) @ self.item_vectors.T
        self.replaced_ = np.zeros((len(scores), self.slate_size), dtype=bool)
        # A stable sort of -score: equal scores keep id order, so ties go to the lower id.
        return np.argsort(-scores, axis=1, kind="stable")[:, : self.slate_size].astype(np.int64)

    def _repair(self, slates: np.ndarray) -> np.ndarray:
        if slates.size and (slates.min() < 0 or slates.max() >= self.n_items):
            bad = int(slates.min() if slates.min() < 0 else slates.max())
            raise ValueError(f"action must hold item ids in [0, {self.n_items}), got {bad}")
        slates = slates.copy()
        replaced = np.zeros(slates.shape, dtype=bool)
        for row in range(len(slates)):
            seen: set[int] = set()
            for slot in range(self.slate_size):
                item = int(slates[row, slot])
                if item in seen:
                    replaced[row, slot] = True
                    while item in seen:
                        item = (item + 1) % self.n_items
                    slates[row, slot] = item
                seen.add(item)
        self.replaced_ = replaced
        return slates


class SlateRecRLEnv(gym.Env):
    """``SlateRec-v0``'s user behind spaces that SB3, RLlib and TorchRL accept as they are.

    ## Description
    The same simulated user, dynamics and seeds as :class:`SlateRecEnv` (one episode = one
    user's stream of sessions; a seeded reset's episode ``j`` is user ``user_id + j *
    user_stride``, so training moves across users). Only the spaces differ.

    ## Action Space
    ``action="query"`` (default), ``"scores"`` or ``"slate"``: see :class:`SlateDecoder`.

    ## Observation Space
    ``Dict`` of 1-D arrays: see :class:`RLObservation`. Wrap with
    ``gymnasium.wrappers.FlattenObservation`` for one vector.

    ## Rewards
    Clicks on the slate (``env={"reward": "dwell"}`` for dwell seconds), as ``SlateRec-v0``.

    ## Episode End
    Never terminated; truncated by the env itself after ``env.max_steps`` steps (default 100
    for this id; the id registers no extra ``TimeLimit``). Session ends are in ``info``.

    ## Info
    ``SlateRec-v0``'s info, plus ``slate`` ``(k,)`` int64 (the slate shown) and
    ``replaced_slots`` ``(k,)`` bool (``action="slate"``: slots whose repeated item was
    replaced).

    ## Arguments
    ``action``; ``item_vectors`` ``(n_items, d)`` (default: the catalog's texts encoded by
    ``encoder``, ``"minilm"`` or ``"hashing"``, cached under ``cache_dir``);
    ``history_embeddings`` (include ``hist_embeddings``; default True); and
    ``SlateRec-v0``'s ``env``, ``users``, ``catalog``, ``catalog_seed``, ``user_id``,
    ``user_stride``; ``world_seed``: if set, the users are always those of a run with this
    root seed (the population's shared taste is drawn from it), and ``reset(seed=s)`` only
    restarts the user sequence and seeds the action space, so every sub-env of a vector env
    that a library seeds ``s, s+1, ...`` trains in the same world.

    ## Version History
    * v0: initial version.

    Example:
        >>> import gymnasium as gym, adaptrec
        >>> env = gym.make("adaptrec/SlateRecRL-v0", catalog={"n_items": 50}, encoder="hashing")
        >>> obs, info = env.reset(seed=1)
        >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        >>> info["slate"].shape
        (5,)
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        action: str = "query",
        item_vectors: np.ndarray | None = None,
        encoder: str = "minilm",
        cache_dir: str | os.PathLike[str] | None = None,
        history_embeddings: bool = True,
        env: EnvConfig | dict | None = None,
        users: UserConfig | dict | None = None,
        catalog: Catalog | CatalogConfig | dict | None = None,
        catalog_seed: int = 0,
        user_id: int = 0,
        user_stride: int = 1,
        world_seed: int | None = None,
    ) -> None:
        self.world_seed = None if world_seed is None else check_int("world_seed", world_seed, low=0)
        self._started = False
        if env is None:
            env = EnvConfig(**RL_ENV_DEFAULTS)
        self.user_env = SlateRecEnv(env, users, catalog, catalog_seed, user_id, user_stride)
        if self.user_env.catalog.changes:
            raise ValueError(
                "catalog must be fixed for SlateRecRL-v0 (its decoders rank every item), got "
                "one whose items arrive and expire; use adaptrec/SlateRec-v0, whose "
                "observation says which items are live"
            )
        self.catalog = self.user_env.catalog
        if item_vectors is None:
            from adaptrec.core.encoders import make_encoder

            item_vectors = make_encoder(encoder, cache_dir).encode(list(self.catalog.texts))
        item_vectors = np.asarray(item_vectors, dtype=np.float32)
        check_array("item_vectors", item_vectors, shape=(self.catalog.n_items, None), finite=True)
        self.item_vectors = item_vectors
        config = self.user_env.env_config
        self.decoder = SlateDecoder(action, item_vectors, config.slate_size)
        self.observe = RLObservation(
            item_vectors, config.slate_size, config.history_length, history_embeddings
        )
        self.action_space = self.decoder.space
        self.observation_space = self.observe.space

    def _observation(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batched = {key: np.asarray(value)[None, ...] for key, value in observation.items()}
        return {key: value[0] for key, value in self.observe(batched).items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        users_seed = seed
        if self.world_seed is not None:  # the world is fixed; seeds only restart its users
            users_seed = self.world_seed if seed is not None or not self._started else None
        self._started = True
        observation, info = self.user_env.reset(seed=users_seed, options=options)
        return self._observation(observation), info

    def step(self, action: Any):
        slate = self.decoder(np.asarray(action)[None, ...])[0]
        observation, reward, terminated, truncated, info = self.user_env.step(slate)
        info["slate"] = slate
        info["replaced_slots"] = self.decoder.replaced_[0].copy()
        return self._observation(observation), reward, terminated, truncated, info
