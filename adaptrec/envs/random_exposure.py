"""Real people's ratings of randomly exposed items as a world agents can be run on.

A *random-exposure* ratings matrix ``R`` (``(U, I)``, 0 = not exposed) holds, for each person,
their ratings of items drawn at random for them (Coat's ``test.ascii``: 16 random coats per
person). Such a row is a fully observed random slate: an agent that shows a person only items
from it can be scored with that person's reactions, nothing thrown away.

:class:`RandomExposurePopulation` implements the
:class:`~adaptrec.envs.population.Population` protocol for a batch of such people. Each step a
person is shown ``k`` of their exposed items not yet shown (``observation["candidates"]``
lists those, and every agent ranks only them); a shown item is clicked exactly when its rating
is at least ``liked`` (every shown item is examined: the person rated it), so expected clicks
are the clicks. The same class runs simulated people: give it a matrix of simulated ratings of
the same exposures (:func:`adaptrec.validate.simulated_ratings`).

The oracle shows each person their best-rated exposed items first (ties to the lower id;
:meth:`oracle_slates`), so its clicks at step ``t`` are those of the items it ranks
``t k .. t k + k - 1``: ``oracle_expected_clicks`` is that, whatever the agent showed, and a
person's sum over the run is the most clicks any policy could get in as many steps. There is
no drift, fatigue or leaving.
"""

from __future__ import annotations

import numpy as np

from adaptrec.core.catalog import Catalog
from adaptrec.core.config import EnvConfig, UserConfig
from adaptrec.core.ranking import top_k
from adaptrec.core.rng import Component, user_keys
from adaptrec.core.validation import check_array
from adaptrec.envs.population import StepOutcome


class RandomExposurePopulation:
    """B people of a random-exposure ratings matrix, each shown slates of their own exposed
    items (see the module docstring).

    Args:
        catalog: the items (texts for the agents).
        ratings: ``(U, I)`` int ratings of random exposures, 0 where not exposed.
        users: user config (only ``drift``'s absence is assumed).
        env: slate size, history length and episode length (``max_steps``: steps per person).
        liked: a rating at least this is a click.
    """

    def __init__(
        self,
        catalog: Catalog,
        ratings: np.ndarray,
        users: UserConfig,
        env: EnvConfig,
        liked: int = 4,
        probabilities: np.ndarray | None = None,
    ) -> None:
        check_array("ratings", ratings, shape=(None, catalog.n_items), kind="iu")
        if probabilities is not None:
            check_array("probabilities", probabilities, shape=ratings.shape, kind="f", finite=True)
        self.catalog, self.users, self.env = catalog, users, env
        self.ratings = np.asarray(ratings, dtype=np.int64)
        self.probabilities = probabilities
        self.liked = int(liked)
        self.n_items, self.slate_size = catalog.n_items, env.slate_size

    @property
    def real(self) -> bool:
        return self.probabilities is None

    # ---- sample -------------------------------------------------------------------------
    def reset(self, user_ids: np.ndarray, root_seed: int) -> None:
        """Start people ``user_ids`` (rows of ``ratings``), each with its exposed items."""
        ids = np.asarray(user_ids, dtype=np.int64)
        check_array("user_ids", ids, shape=(None,), kind="iu")
        exposed = [np.flatnonzero(self.ratings[person]) for person in ids]
        sizes = {len(items) for items in exposed}
        if len(sizes) != 1:
            raise ValueError(
                f"user_ids must have equally many exposed items in one batch, got {sorted(sizes)}"
            )
        size = sizes.pop()
        needed = self.env.max_steps * self.slate_size
        if size < needed:
            raise ValueError(
                f"env.max_steps x env.slate_size = {needed} must not exceed the {size} exposed "
                "items of a person"
            )
        self.user_ids_ = ids
        self.candidates_ = np.array(exposed, dtype=np.int64).reshape(len(ids), size)
        self.shown_ = np.zeros(self.candidates_.shape, dtype=bool)
        self.keys_ = user_keys(root_seed, Component.USER_STEP, ids)
        b, h, k = len(ids), self.env.history_length, self.slate_size
        self.step_ = np.zeros(b, dtype=np.int64)
        self.session_ = np.zeros(b, dtype=np.int64)
        self._items = np.full((b, h, k), -1, dtype=np.int64)
        self._clicks = np.zeros((b, h, k), dtype=np.int8)
        self._skips = np.zeros((b, h, k), dtype=np.int8)

    @property
    def drift_step_(self) -> np.ndarray:
        return np.full(len(self.user_ids_), -1, dtype=np.int64)

    def agent_user_ids(self) -> np.ndarray:
        return self.user_ids_

    # ---- observe ------------------------------------------------------------------------
    def remaining(self) -> np.ndarray:
        """``(B, C)`` int64: each person's exposed items not yet shown (ascending)."""
        b = len(self.user_ids_)
        left = self.candidates_[~self.shown_]
        return left.reshape(b, -1)

    def observations(self) -> dict[str, np.ndarray]:
        return {
            "user_id": self.user_ids_.copy(),
            "step": self.step_.copy(),
            "session_step": self.step_.copy(),
            "items": self._items.copy(),
            "clicks": self._clicks.copy(),
            "skips": self._skips.copy(),
            "dwell": np.zeros(self._items.shape, dtype=np.float32),
            "candidates": self.remaining(),
        }

    # ---- respond ------------------------------------------------------------------------
    def oracle_slates(self) -> np.ndarray:
        """``(B, k)``: each person's best-rated remaining items, ties to the lower id."""
        left = self.remaining()
        value = self.ratings[self.user_ids_[:, None], left].astype(np.float64)
        return np.take_along_axis(left, top_k(value, self.slate_size, validate=False), axis=1)

    def step(self, slates: np.ndarray, name: str = "slates") -> StepOutcome:
        slates = np.asarray(slates)
        b, k = len(self.user_ids_), self.slate_size
        check_array(name, slates, shape=(b, k), kind="iu")
        left = self.remaining()
        for row in range(b):
            outside = ~np.isin(slates[row], left[row])
            if outside.any() or len(set(slates[row].tolist())) != k:
                item = int(slates[row][outside][0]) if outside.any() else None
                raise ValueError(
                    f"{name} must hold {k} distinct items among person {self.user_ids_[row]}'s "
                    f"exposed items not yet shown, got "
                    + (f"item {item}" if item is not None else f"{slates[row].tolist()}")
                )
        people = self.user_ids_[:, None]
        ratings = self.ratings[people, slates]
        # The oracle's own step t: its ranks t k .. t k + k - 1 of every exposed item.
        value = self.ratings[people, self.candidates_].astype(np.float64)
        ranked = np.take_along_axis(
            self.candidates_, top_k(value, self.candidates_.shape[1], validate=False), axis=1
        )
        start = self.step_[:, None] * k + np.arange(k)[None, :]
        best = np.take_along_axis(ranked, start, axis=1)
        clicked = ratings >= self.liked
        probability = clicked.astype(np.float64)
        oracle = (self.ratings[people, best] >= self.liked).sum(axis=1).astype(np.float64)
        self.shown_ |= (self.candidates_[:, :, None] == slates[:, None, :]).any(axis=2)
        self._items = np.concatenate([slates[:, None, :], self._items[:, :-1]], axis=1)
        self._clicks = np.concatenate([clicked[:, None, :], self._clicks[:, :-1]], axis=1)
        self._clicks = self._clicks.astype(np.int8)
        self._skips = np.concatenate([~clicked[:, None, :], self._skips[:, :-1]], axis=1)
        self._skips = self._skips.astype(np.int8)
        self.step_ += 1
        return StepOutcome(
            clicked=clicked,
            skipped=~clicked,
            dwell=np.zeros((b, k), dtype=np.float32),
            reward=clicked.sum(axis=1).astype(np.float64),
            expected_clicks=probability.sum(axis=1),
            oracle_expected_clicks=oracle,
            click_probability=probability,
            drift=np.zeros(b, dtype=bool),
            session_end=np.zeros(b, dtype=bool),
            truncated=self.step_ >= self.env.max_steps,
        )
