"""The agent protocol, the step batch agents learn from, and shared slate helpers.

Agents are batched: ``act`` takes the observations of B users (each value with a leading axis
of size B, as :meth:`adaptrec.envs.UserPopulation.observations` returns them) and returns a
``(B, k)`` int64 array of slates; ``update`` takes what those users did with the slates and
returns a dict of training metrics. The runner never branches on an agent's type. For the
single-user env, :func:`batch_observation` adds the leading axis.

Per-user randomness (exploration) is counter-based, keyed by (agent seed, user id, step), so an
agent's random choices for a user do not depend on which other users share its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from adaptrec.core.rng import Component, uniforms, user_keys
from adaptrec.core.validation import check_array


@dataclass(frozen=True)
class StepBatch:
    """Feedback of B users on the slates they were shown.

    Attributes:
        user_ids: ``(B,)`` int64.
        step: ``(B,)`` int64, the step at which the slates were shown.
        slates: ``(B, k)`` int64 item indices, best slot first.
        clicked, skipped: ``(B, k)`` bool.
        dwell: ``(B, k)`` float32 seconds.
        reward: ``(B,)`` float64.
        click_flip: the probability that each ``clicked`` bit was flipped before the agent saw
            it (local differential privacy, :mod:`adaptrec.privacy`); 0 for true clicks.
            Learners read clicks through :func:`click_targets`, which removes the flips' bias.
    """

    user_ids: np.ndarray
    step: np.ndarray
    slates: np.ndarray
    clicked: np.ndarray
    skipped: np.ndarray
    dwell: np.ndarray
    reward: np.ndarray
    click_flip: float = 0.0


@runtime_checkable
class Agent(Protocol):
    """What the runner needs of an agent."""

    name: str

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """``(B, k)`` int64 slates of distinct item indices for the B observed users."""
        ...

    def update(self, batch: StepBatch) -> dict[str, float]:
        """Learn from one step of feedback; return training metrics (may be empty)."""
        ...


def click_targets(batch: StepBatch) -> np.ndarray:
    """``(B, k)`` float64: what each slot's click was worth to learn from.

    True clicks give 1.0 or 0.0. Randomised-response clicks (each bit flipped with probability
    ``q = batch.click_flip``) give the unbiased estimate ``(y' - q) / (1 - 2q)`` of the true
    click: its expectation is the true click whatever it was, so every learner that is linear
    in its targets (ridge regressions, counts) is unbiased under privacy, only noisier.
    """
    clicked = np.asarray(batch.clicked, dtype=np.float64)
    q = float(batch.click_flip)
    return clicked if q == 0.0 else (clicked - q) / (1.0 - 2.0 * q)


def propensities_of(agent: Agent, slates: np.ndarray) -> np.ndarray:
    """``(B, k)`` float64: the probability that ``agent``'s last ``act`` put each item in its
    slot (its ``last_propensity_``), NaN where the agent has none."""
    value = getattr(agent, "last_propensity_", None)
    if value is None or np.shape(value) != slates.shape:
        return np.full(slates.shape, np.nan)
    return np.asarray(value, dtype=np.float64)


def exploration_propensity(
    explored: np.ndarray, n_items: int | np.ndarray, slate_size: int, epsilon: float
) -> np.ndarray:
    """Propensities of :func:`explore`'s slates: a greedy slot keeps its item with probability
    ``1 - epsilon``; an explored slot's item was one of the ``n_items - k`` items outside the
    greedy slate, each drawn with probability ``epsilon / (n_items - k)``. ``n_items`` may be
    ``(B,)``: the live items of each row."""
    n_items = np.asarray(n_items)
    if epsilon <= 0 or np.all(n_items <= slate_size):
        return np.ones(explored.shape)
    spread = epsilon / np.maximum(n_items - slate_size, 1)
    spread = spread[:, None] if spread.ndim else spread
    return np.where(explored, spread, 1.0 - epsilon)


def live_bounds(observation: dict[str, np.ndarray], n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` ``(B,)`` int64: the ids live for each observed user, ``lo <= i < hi``
    (``observation["live"]`` of a changing catalog; the whole catalog otherwise)."""
    live = observation.get("live")
    b = len(np.asarray(observation["user_id"]))
    if live is None:
        return np.zeros(b, dtype=np.int64), np.full(b, n_items, dtype=np.int64)
    live = np.asarray(live, dtype=np.int64)
    check_array("observation['live']", live, shape=(b, 2), kind="iu")
    if live.size and (live[:, 0].min() < 0 or live[:, 1].max() > n_items or
                      (live[:, 1] - live[:, 0]).min() < 1):  # fmt: skip
        raise ValueError(
            f"observation['live'] must hold ranges [lo, hi) within [0, {n_items}], got "
            f"{live[np.argmax((live[:, 1] <= live[:, 0]) | (live[:, 0] < 0))].tolist()}"
        )
    return live[:, 0].copy(), live[:, 1].copy()


def candidate_sets(observation: dict[str, np.ndarray], n_items: int) -> np.ndarray | None:
    """``(B, C)`` int64: the only items each observed user may be shown now
    (``observation["candidates"]``, e.g. a person's randomly exposed items not yet shown in
    :mod:`adaptrec.validate`), or ``None`` when any (live) item may be."""
    candidates = observation.get("candidates")
    if candidates is None:
        return None
    candidates = np.asarray(candidates)
    b = len(np.asarray(observation["user_id"]))
    check_array("observation['candidates']", candidates, shape=(b, None), kind="iu")
    if candidates.size and (candidates.min() < 0 or candidates.max() >= n_items):
        raise ValueError(
            f"observation['candidates'] must hold item ids in [0, {n_items}), got "
            f"{int(candidates.min() if candidates.min() < 0 else candidates.max())}"
        )
    return candidates.astype(np.int64, copy=False)


def restrict_scores(
    scores: np.ndarray, observation: dict[str, np.ndarray], n_items: int
) -> np.ndarray:
    """``(B, N)`` scores with every item a user may not be shown now (outside its live ids or
    its candidates) set to ``-inf``; ``scores`` itself when every item may be."""
    if "live" in observation:
        scores = mask_unlive(scores, *live_bounds(observation, n_items))
    candidates = candidate_sets(observation, n_items)
    if candidates is not None:
        allowed = np.zeros(scores.shape, dtype=bool)
        allowed[np.arange(len(scores))[:, None], candidates] = True
        scores = np.where(allowed, scores, -np.inf)
    return scores


def mask_unlive(scores: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``(B, N)`` scores with every item outside a row's live ids set to ``-inf`` (a new array
    when any is; ``scores`` itself for a catalog that is all live)."""
    n = scores.shape[1]
    if (lo == 0).all() and (hi == n).all():
        return scores
    ids = np.arange(n)[None, :]
    return np.where((ids >= lo[:, None]) & (ids < hi[:, None]), scores, -np.inf)


def batch_observation(observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A single env's observation with a leading batch axis of size 1."""
    return {key: np.asarray(value)[None, ...] for key, value in observation.items()}


def observed_user_ids(observation: dict[str, np.ndarray]) -> np.ndarray:
    """The ``(B,)`` int64 user ids of a batched observation, checked."""
    if not isinstance(observation, dict) or "user_id" not in observation:
        got = sorted(observation) if isinstance(observation, dict) else type(observation).__name__
        raise ValueError(f"observation must be a dict with a 'user_id' entry, got {got}")
    ids = np.asarray(observation["user_id"])
    check_array("observation['user_id']", ids, shape=(None,), kind="iu")
    if ids.size and ids.min() < 0:
        raise ValueError(f"observation['user_id'] must be >= 0, got {int(ids.min())}")
    return ids.astype(np.int64, copy=False)


class PerUserRows:
    """Arrays with one row per user id, grown on demand (new rows take ``fill``)."""

    def __init__(
        self, shape: tuple[int, ...], fill: float | np.ndarray = 0.0, dtype=np.float64
    ) -> None:
        self.shape, self.fill = shape, fill
        self.data = np.zeros((0, *shape), dtype=dtype)

    def grow(self, user_ids: np.ndarray) -> np.ndarray:
        top = int(user_ids.max()) + 1 if user_ids.size else 0
        if top > len(self.data):
            extra = np.empty((top - len(self.data), *self.shape), dtype=self.data.dtype)
            extra[...] = self.fill
            self.data = np.concatenate([self.data, extra])
        return self.data


class UserKeys:
    """Counter-RNG keys of an agent's per-user streams, made on demand for the ids it meets.

    Only the ids seen get a key (a shard of users 990,000-999,999 makes 10,000 keys, not a
    million: the keys of every lower id had made a sharded million-user run quadratic)."""

    def __init__(
        self, seed: int, agent_index: int, component: Component = Component.AGENT_USER
    ) -> None:
        self.seed, self.agent_index, self.component = seed, agent_index, component
        self._ids = np.zeros(0, dtype=np.int64)  # ascending
        self._keys = np.zeros(0, dtype=np.uint64)

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(self._ids, ids), max(0, len(self._ids) - 1))

    def __call__(self, user_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(user_ids, dtype=np.int64)
        at = self._positions(ids)
        known = len(self._ids) > 0 and bool((self._ids[at] == ids).all()) if ids.size else True
        if not known:
            have = self._ids[at] == ids if len(self._ids) else np.zeros(len(ids), dtype=bool)
            new = np.unique(ids[~have])
            keys = user_keys(self.seed, self.component, new, self.agent_index)
            merged = np.concatenate([self._ids, new])
            order = np.argsort(merged, kind="stable")
            self._ids, self._keys = merged[order], np.concatenate([self._keys, keys])[order]
            at = self._positions(ids)
        return self._keys[at]


def shown_in_history(history: np.ndarray, n_items: int) -> np.ndarray:
    """``(B, n_items)`` bool: the item is in the user's observed history.

    Args:
        history: ``(B, H, k)`` int item indices of the last H slates, -1 where empty.
    """
    history = np.asarray(history)
    flat = history.reshape(len(history), -1)
    shown = np.zeros((len(history), n_items + 1), dtype=bool)
    shown[np.arange(len(history))[:, None], flat] = True  # -1 (empty) lands in the last column
    return shown[:, :n_items]


def demote(scores: np.ndarray, mask: np.ndarray, amount: float) -> np.ndarray:
    """``scores - amount`` where ``mask``, else ``scores`` (a new array).

    With ``amount`` larger than the range of the scores, every masked item ranks below every
    other one, and the order within each group is kept.
    """
    return np.where(mask, scores - amount, scores)


def _nth_not_in(rank: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Per row, the ``rank``-th smallest integer not in ``excluded`` (``(B, m)``; repeats within
    a row count once)."""
    out = rank.copy()
    ordered = np.sort(excluded, axis=1)
    repeat = np.zeros(ordered.shape, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    for column, skip in zip(ordered.T, repeat.T, strict=True):  # ascending: shifts compound
        out += (out >= column) & ~skip
    return out


def random_slates(
    keys: np.ndarray,
    step: np.ndarray,
    n_items: int,
    k: int,
    lane: int,
    live: tuple[np.ndarray, np.ndarray] | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Uniform slates of ``k`` distinct items (sampling without replacement): ``(B, k)`` int64;
    with ``live`` (``(lo, hi)``, ``(B,)`` each), of the ids ``lo <= i < hi`` of each row; with
    ``candidates`` (``(B, C)``), of each row's candidates."""
    if candidates is not None:
        positions = random_slates(keys, step, candidates.shape[1], k, lane)
        return np.take_along_axis(candidates, positions, axis=1)
    draws = uniforms(keys, step, lane, k)
    n = n_items if live is None else live[1] - live[0]
    slates = np.empty((len(keys), k), dtype=np.int64)
    for slot in range(k):
        rank = np.minimum((draws[:, slot] * (n - slot)).astype(np.int64), n - slot - 1)
        slates[:, slot] = _nth_not_in(rank, slates[:, :slot])
    return slates if live is None else slates + live[0][:, None]


def explore(
    slates: np.ndarray,
    keys: np.ndarray,
    step: np.ndarray,
    n_items: int,
    epsilon: float,
    lane: int,
    agent: object | None = None,
    live: tuple[np.ndarray, np.ndarray] | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Epsilon-greedy per slot: each slot is replaced, with probability ``epsilon``, by an item
    drawn uniformly from those neither in the greedy slate nor explored into an earlier slot.
    Returns a new ``(B, k)`` array. By symmetry, an explored slot then holds each of the
    ``n_items - k`` non-greedy items with equal probability, whatever happened before it.
    With ``live`` (``(lo, hi)``, ``(B,)`` each) the items drawn are the row's live ids
    ``lo <= i < hi`` (the greedy slate must be live).

    With ``candidates`` (``(B, C)``, holding the greedy slate) the items drawn are the row's
    candidates: the same draws over positions in that list.

    With ``agent``, also sets ``agent.last_propensity_`` (see :func:`exploration_propensity`).
    """
    if candidates is not None:
        positions = np.argmax(candidates[:, None, :] == slates[:, :, None], axis=2)
        explored = explore(positions, keys, step, candidates.shape[1], epsilon, lane, agent)
        return np.take_along_axis(candidates, explored, axis=1)
    k = slates.shape[1]
    lo, n = (0, n_items) if live is None else (live[0], live[1] - live[0])
    explored = np.zeros(slates.shape, dtype=bool)
    if epsilon > 0 and np.any(np.asarray(n) > k):
        coins = uniforms(keys, step, lane, 2 * k)
        # Within a row's live ids, counted from its first: the same draws as a catalog of
        # just those items.
        greedy = slates - lo[:, None] if live is not None else slates
        slates = greedy.copy()
        for slot in range(k):
            left = n - k - explored[:, :slot].sum(axis=1)
            # (Only a catalog smaller than 2k - 1 can run out of items to explore.)
            chosen = (coins[:, slot] < epsilon) & (left > 0)
            explored[:, slot] = chosen
            if not chosen.any():
                continue
            # Greedy slate plus earlier explored items (the latter sit in the current slate).
            excluded = np.concatenate([greedy[chosen], slates[chosen, :slot]], axis=1)
            available = left[chosen]
            rank = np.minimum((coins[chosen, k + slot] * available).astype(np.int64), available - 1)
            slates[chosen, slot] = _nth_not_in(rank, excluded)
        if live is not None:
            slates += lo[:, None]
    if agent is not None:
        agent.last_propensity_ = exploration_propensity(explored, n, k, epsilon)  # type: ignore[attr-defined]
    return slates
