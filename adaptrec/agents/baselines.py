"""Baselines: uniformly random slates, most-popular (online click counts), and the oracle."""

from __future__ import annotations

import numba as nb
import numpy as np

from adaptrec.agents.base import (
    StepBatch,
    UserKeys,
    candidate_sets,
    click_targets,
    explore,
    live_bounds,
    observed_user_ids,
    random_slates,
)
from adaptrec.core.validation import check_float, check_int
from adaptrec.envs.population import Population

_LANE_RANDOM, _LANE_EXPLORE = 10, 11


class RandomAgent:
    """Shows k distinct items drawn uniformly at random; learns nothing."""

    name = "random"

    def __init__(self, n_items: int, slate_size: int, seed: int = 0, agent_index: int = 2):
        self.n_items = check_int("n_items", n_items, low=1)
        self.slate_size = check_int("slate_size", slate_size, low=1, high=self.n_items)
        self._keys = UserKeys(seed, agent_index)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        live = live_bounds(observation, self.n_items) if "live" in observation else None
        candidates = candidate_sets(observation, self.n_items)
        n_live = self.n_items if live is None else (live[1] - live[0])[:, None]
        if candidates is not None:
            n_live = candidates.shape[1]
        self.last_propensity_ = np.broadcast_to(1.0 / n_live, (len(ids), self.slate_size)).copy()
        return random_slates(
            self._keys(ids),
            np.asarray(observation["step"]),
            self.n_items,
            self.slate_size,
            _LANE_RANDOM,
            live,
            candidates,
        )

    def update(self, batch: StepBatch) -> dict[str, float]:
        return {}


class PopularityAgent:
    """Most-popular: each user gets the items with the most clicks so far (ties to the lower
    id) among those not in the user's observed history, with per-slot epsilon-greedy
    exploration - without it the first slate would lock in. Skipping recently shown items makes
    it rotate through the popular items instead of tiring every user with the same slate."""

    name = "popularity"

    def __init__(
        self,
        n_items: int,
        slate_size: int,
        epsilon: float = 0.1,
        seed: int = 0,
        agent_index: int = 1,
        avoid_recent: bool = True,
    ):
        self.n_items = check_int("n_items", n_items, low=1)
        self.slate_size = check_int("slate_size", slate_size, low=1, high=self.n_items)
        self.epsilon = check_float("epsilon", epsilon, low=0, high=1)
        self.avoid_recent = avoid_recent
        self._keys = UserKeys(seed, agent_index)
        self.clicks_ = np.zeros(n_items, dtype=np.float64)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        # One ranking of the shared counts (ties to the lower id) for all users; each user
        # takes the first k items of it not in the observed history, then the shown ones in
        # the same order. That is exactly the top-k of the counts with recent items demoted
        # below every other, in O(N log N + B k H) instead of a (B, N) top-k per step (which
        # was two thirds of a 10,000-user x 10,000-item run).
        order = np.argsort(-self.clicks_, kind="stable")
        live = live_bounds(observation, self.n_items) if "live" in observation else None
        slates = np.empty((len(ids), self.slate_size), dtype=np.int64)
        # One ranking per distinct live range (a batch at one step has one): the order with
        # the items outside the range left out.
        groups = [(np.arange(len(ids)), order)]
        if live is not None:
            ranges, which = np.unique(np.stack(live, axis=1), axis=0, return_inverse=True)
            groups = [
                (np.flatnonzero(which.reshape(-1) == g), order[(order >= lo) & (order < hi)])
                for g, (lo, hi) in enumerate(ranges)
            ]
        candidates = candidate_sets(observation, self.n_items)
        if candidates is not None:  # each user's own candidates, in the order of the counts
            rank = np.empty(self.n_items, dtype=np.int64)
            rank[order] = np.arange(self.n_items)
            ranked_rows = np.take_along_axis(
                candidates, np.argsort(rank[candidates], axis=1, kind="stable"), axis=1
            )
            groups = [(np.array([row]), ranked_rows[row]) for row in range(len(ids))]
        for rows, ranked in groups:
            if self.avoid_recent and "items" in observation:
                history = np.asarray(observation["items"])[rows]
                slates[rows] = first_unshown(ranked, history, self.slate_size)
            else:
                slates[rows] = ranked[: self.slate_size]
        return explore(
            slates,
            self._keys(ids),
            np.asarray(observation["step"]),
            self.n_items,
            self.epsilon,
            _LANE_EXPLORE,
            agent=self,
            live=live,
            candidates=candidates,
        )

    def update(self, batch: StepBatch) -> dict[str, float]:
        if batch.click_flip > 0:  # randomised-response clicks: add their unbiased estimates
            np.add.at(self.clicks_, batch.slates, click_targets(batch))
        else:
            np.add.at(self.clicks_, batch.slates[batch.clicked], 1.0)
        return {}


def first_unshown(order: np.ndarray, history: np.ndarray, k: int) -> np.ndarray:
    """Per user, the first ``k`` items of ``order`` not in the user's history, then the shown
    ones in ``order``'s order: ``(B, k)`` int64.

    Args:
        order: ``(N,)`` int item ids, best first.
        history: ``(B, H, k')`` int item ids of the last H slates, -1 where empty.
    """
    history = np.ascontiguousarray(np.asarray(history).reshape(len(history), -1), dtype=np.int64)
    # At most H k' items are shown, so the first k + H k' of the order always hold k unshown
    # ones (or the whole catalog, where the shown ones follow in order).
    block = np.ascontiguousarray(order[: min(len(order), k + history.shape[1])], dtype=np.int64)
    out = np.empty((len(history), k), dtype=np.int64)
    _first_unshown(block, history, out)
    return out


@nb.njit(cache=True)
def _first_unshown(block, history, out):
    # A user reads the order until k items are unshown, each checked against its H k' shown
    # ones: O(k H k') per user, where the (B, m, H k') comparison of numpy was a third of a
    # popularity run of a million users.
    k = out.shape[1]
    for b in range(history.shape[0]):
        filled = 0
        for unshown_pass in (True, False):
            for item in block:
                if filled == k:
                    break
                shown = False
                for seen in history[b]:
                    if seen == item:
                        shown = True
                        break
                if shown != unshown_pass:
                    out[b, filled] = item
                    filled += 1


class OracleAgent:
    """Reads the users' hidden state and shows each the slate of highest expected clicks.

    An upper bound for regret, not a recommender: it needs the simulator's
    :class:`~adaptrec.envs.population.Population` (the same object the runner steps).
    """

    name = "oracle"

    def __init__(self, population: Population) -> None:
        self.population = population

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        expected = self.population.agent_user_ids()
        if not np.array_equal(ids, expected):
            raise ValueError(
                "observation['user_id'] must list the oracle's population in order "
                f"{expected[:5].tolist()}..., got {ids[:5].tolist()}..."
            )
        slates = self.population.oracle_slates()
        self.last_propensity_ = np.ones(slates.shape)  # deterministic
        return slates

    def update(self, batch: StepBatch) -> dict[str, float]:
        return {}
