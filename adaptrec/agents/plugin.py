"""Agents that are not built in: a policy function as an agent, and the checks on what a
plugin's ``act`` returns (one clear line naming the agent when it is wrong)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from adaptrec.agents.base import Agent, StepBatch, candidate_sets, live_bounds


class PolicyAgent:
    """A policy function ``observation -> (B, k) slates`` as an agent that never learns."""

    def __init__(self, name: str, policy: Callable[[dict[str, np.ndarray]], Any]) -> None:
        self.name, self.policy = name, policy

    def act(self, observation: dict[str, np.ndarray]) -> Any:
        return self.policy(observation)

    def update(self, batch: StepBatch) -> dict[str, float]:
        return {}


class CheckedAgent:
    """Wraps a plugin's agent: ``act``'s slates are checked (shape ``(B, k)``, integer dtype,
    items in ``[0, n_items)``, distinct within a slate) and returned as int64; anything else
    raises ``ValueError`` naming the agent. Other attributes (e.g. ``last_propensity_``) are
    the wrapped agent's."""

    def __init__(self, name: str, agent: Any, n_items: int, slate_size: int) -> None:
        self.name, self.agent = name, agent
        self.n_items, self.slate_size = n_items, slate_size

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.__dict__["agent"], attribute)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        slates = self.agent.act(observation)
        slates = check_slates(
            self.name, slates, len(observation["user_id"]), self.n_items, self.slate_size
        )
        candidates = candidate_sets(observation, self.n_items)
        if candidates is not None:
            inside = (slates[:, :, None] == candidates[:, None, :]).any(axis=2)
            if not inside.all():
                row, slot = np.argwhere(~inside)[0]
                raise ValueError(
                    f"agent {self.name!r}: act must return items among "
                    f"observation['candidates'], got item {int(slates[row, slot])} in row {row}"
                )
        if "live" in observation:
            lo, hi = live_bounds(observation, self.n_items)
            outside = (slates < lo[:, None]) | (slates >= hi[:, None])
            if outside.any():
                row, slot = np.argwhere(outside)[0]
                raise ValueError(
                    f"agent {self.name!r}: act must return items live at this step "
                    f"(observation['live']), got item {int(slates[row, slot])} in row {row}, "
                    f"whose live ids are [{int(lo[row])}, {int(hi[row])})"
                )
        return slates

    def update(self, batch: StepBatch) -> dict[str, float]:
        metrics = self.agent.update(batch)
        return {} if metrics is None else dict(metrics)


def check_slates(name: str, slates: Any, n_users: int, n_items: int, k: int) -> np.ndarray:
    """``slates`` as a ``(n_users, k)`` int64 array, or ``ValueError`` saying what is wrong."""
    where = f"agent {name!r}: act must return a ({n_users}, {k}) integer array of distinct items"
    array = np.asarray(slates)
    if array.shape != (n_users, k):
        raise ValueError(f"{where}, got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise ValueError(f"{where}, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and (array.min() < 0 or array.max() >= n_items):
        bad = int(array.min() if array.min() < 0 else array.max())
        raise ValueError(f"{where} in [0, {n_items}), got item {bad}")
    ordered = np.sort(array, axis=1)
    repeated = np.nonzero(ordered[:, 1:] == ordered[:, :-1])
    if repeated[0].size:
        row, column = int(repeated[0][0]), int(repeated[1][0])
        raise ValueError(f"{where}, got item {int(ordered[row, column])} twice in row {row}")
    return array


def as_agent(name: str, built: Any, n_items: int, slate_size: int) -> Agent:
    """What a plugin factory returned, as a checked agent, or ``TypeError`` saying why not."""
    has_act, has_update = (
        callable(getattr(built, "act", None)),
        callable(getattr(built, "update", None)),
    )
    if has_act and has_update:
        return CheckedAgent(name, built, n_items, slate_size)
    if has_act or has_update:
        missing = "update" if has_act else "act"
        raise TypeError(
            f"agent {name!r}: {type(built).__name__} has no {missing}() method; an agent needs "
            "act(observation) -> slates and update(batch) -> dict"
        )
    if callable(built):
        return CheckedAgent(name, PolicyAgent(name, built), n_items, slate_size)
    raise TypeError(
        f"agent {name!r}: the factory returned {type(built).__name__}; expected an agent "
        "(act and update methods) or a policy function observation -> slates"
    )
