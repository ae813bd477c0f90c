"""Baselines: uniformly random slates, most-popular (online click counts), and the oracle."""

from __future__ import annotations

import numpy as np

from adaptrec.agents.base import (
    StepBatch,
    UserKeys,
    demote,
    explore,
    observed_user_ids,
    random_slates,
    shown_in_history,
)
from adaptrec.core.ranking import top_k
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
        self.last_propensity_ = np.full((len(ids), self.slate_size), 1.0 / self.n_items)
        return random_slates(
            self._keys(ids),
            np.asarray(observation["step"]),
            self.n_items,
            self.slate_size,
            _LANE_RANDOM,
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
        counts = np.broadcast_to(self.clicks_, (len(ids), self.n_items))
        if self.avoid_recent and "items" in observation:
            # More than the largest count: a recently shown item ranks below every other one.
            penalty = self.clicks_.max() + 1.0
            counts = demote(counts, shown_in_history(observation["items"], self.n_items), penalty)
        slates = top_k(
            np.ascontiguousarray(counts, dtype=np.float64), self.slate_size, validate=False
        )
        return explore(
            slates,
            self._keys(ids),
            np.asarray(observation["step"]),
            self.n_items,
            self.epsilon,
            _LANE_EXPLORE,
            agent=self,
        )

    def update(self, batch: StepBatch) -> dict[str, float]:
        np.add.at(self.clicks_, batch.slates[batch.clicked], 1.0)
        return {}


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
