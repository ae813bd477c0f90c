"""Linear bandits for non-stationary users: the anchors a drift-aware recommender is measured
against. Each keeps one model per user over the same features as LinUCB (the item's text
embedding in ``dim`` whitened principal components plus a constant, :func:`item_features`),
learns from examined slots only, demotes recently shown items and explores uniformly with
probability ``epsilon`` per slot, exactly as :class:`~adaptrec.agents.bandits.LinearBanditAgent`
does; they differ only in how old evidence stops counting.

* :class:`DiscountedLinUCB` (D-LinUCB; Russac, Vernade and Cappe, NeurIPS 2019, Algorithm 1).
  After every step of a user, with discount ``gamma``::

      V  <- gamma V   + (1 - gamma) lambda I   + sum x x'
      V~ <- gamma^2 V~ + (1 - gamma^2) lambda I + sum x x'
      b  <- gamma b   + sum r x

  the sums over the step's examined slots (``r`` = click). The estimate is
  ``theta = V^-1 b`` and an item's score ``x . theta + alpha sqrt(x' V^-1 V~ V^-1 x)``: the
  confidence matrix ``V^-1 V~ V^-1`` of the discounted least squares.
* :class:`SlidingWindowLinUCB` (SW-LinUCB; Cheung, Simchi-Levi and Zhu, AISTATS 2019): the
  ridge regression of the user's last ``window`` steps only, ``V = lambda I + sum x x'`` and
  ``b = sum r x`` over them; score ``x . theta + alpha sqrt(x' V^-1 x)``. The step leaving the
  window is subtracted as the new one is added.
* :class:`GLRLinUCB`: LinUCB whose user model restarts (back to ``lambda I``, ``b = 0``) when a
  one-sided Bernoulli GLR test (:class:`~adaptrec.agents.change.BernoulliGLR`) finds that the
  user's clicks fell: the restart strategy of Besson, Kaufmann, Maillard and Seznec (JMLR 2022)
  on a linear bandit, with its forced exploration being the uniform ``epsilon`` per slot.

The width ``alpha`` is LinUCB's constant (``bandits.alpha``), not the papers' theoretical
``beta_t``, so that the anchors differ from LinUCB only in how they handle change.
"""

from __future__ import annotations

import numpy as np

from adaptrec.agents.bandits import item_features, rank_and_explore, ucb_scores
from adaptrec.agents.base import (
    PerUserRows,
    StepBatch,
    UserKeys,
    click_targets,
    observed_user_ids,
)
from adaptrec.agents.change import BernoulliGLR
from adaptrec.core.config import BanditConfig
from adaptrec.core.validation import check_int


def _step_evidence(
    features: np.ndarray, batch: StepBatch
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step's examined slots per user: ``(B, D, D)`` sum of ``x x'``, ``(B, D)`` sum of
    ``click x``, and ``(B, k)`` bool examined."""
    examined = np.asarray(batch.clicked, dtype=bool) | np.asarray(batch.skipped, dtype=bool)
    x = features[np.asarray(batch.slates)] * examined[:, :, None]  # (B, k, D), 0 = unexamined
    clicks = click_targets(batch)
    return np.einsum("bki,bkj->bij", x, x), np.einsum("bk,bki->bi", clicks, x), examined


class _LinearAnchor:
    """Shared set-up and acting of the anchors: features, keys, ranking, exploration."""

    name = "linear-anchor"

    def __init__(
        self,
        item_vectors: np.ndarray,
        slate_size: int,
        config: BanditConfig | None = None,
        seed: int = 0,
        agent_index: int = 0,
    ) -> None:
        self.config = config or BanditConfig()
        self.features = item_features(item_vectors, self.config.dim)  # (N, D)
        self.n_items, self.dim = self.features.shape
        self.slate_size = check_int("slate_size", slate_size, low=1, high=self.n_items)
        self._keys = UserKeys(seed, agent_index)
        self.ridge = self.config.ridge
        self._eye = np.eye(self.dim)

    def estimates(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, D)`` estimates ``theta`` and ``(B, D, D)`` confidence matrices of the bonus."""
        raise NotImplementedError

    def scores(self, user_ids: np.ndarray) -> np.ndarray:
        """``(B, N)`` float64 optimistic scores."""
        theta, width = self.estimates(user_ids)
        return ucb_scores(self.features, theta, width, self.config.alpha)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        return rank_and_explore(self, self.scores(ids), observation, ids)


class DiscountedLinUCB(_LinearAnchor):
    """D-LinUCB (see the module docstring); discount ``config.discount`` per step of a user.

    State per user id: ``v_`` and ``v_tilde_`` ``(U, D, D)``, ``b_`` ``(U, D)`` float64.
    """

    name = "d-linucb"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gamma = self.config.discount
        self._v = PerUserRows((self.dim, self.dim), self.ridge * self._eye)
        self._v_tilde = PerUserRows((self.dim, self.dim), self.ridge * self._eye)
        self._b = PerUserRows((self.dim,))

    @property
    def v_(self) -> np.ndarray:
        return self._v.data

    @property
    def v_tilde_(self) -> np.ndarray:
        return self._v_tilde.data

    @property
    def b_(self) -> np.ndarray:
        return self._b.data

    def estimates(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(user_ids, dtype=np.int64)
        v, v_tilde, b = self._v.grow(ids)[ids], self._v_tilde.grow(ids)[ids], self._b.grow(ids)[ids]
        v_inv = np.linalg.inv(v)
        theta = np.einsum("bij,bj->bi", v_inv, b)
        return theta, v_inv @ v_tilde @ v_inv

    def update(self, batch: StepBatch) -> dict[str, float]:
        ids = np.asarray(batch.user_ids, dtype=np.int64)
        v, v_tilde, b = self._v.grow(ids), self._v_tilde.grow(ids), self._b.grow(ids)
        xx, rx, _ = _step_evidence(self.features, batch)
        gamma, ridge = self.gamma, self.ridge
        v[ids] = gamma * v[ids] + (1.0 - gamma) * ridge * self._eye + xx
        v_tilde[ids] = gamma**2 * v_tilde[ids] + (1.0 - gamma**2) * ridge * self._eye + xx
        b[ids] = gamma * b[ids] + rx
        return {}


class SlidingWindowLinUCB(_LinearAnchor):
    """SW-LinUCB (see the module docstring): the user's last ``config.window`` steps.

    State per user id: ``v_`` ``(U, D, D)`` and ``b_`` ``(U, D)`` of the window, and the
    window itself, each step's ``x x'`` and ``r x`` sums in a ring (``(U, W, D, D)`` would be
    large, so the ring holds the step's slate and outcomes instead: ``(U, W, k)``).
    """

    name = "sw-linucb"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.window = self.config.window
        k = self.slate_size
        self._v = PerUserRows((self.dim, self.dim), self.ridge * self._eye)
        self._b = PerUserRows((self.dim,))
        self._items = PerUserRows((self.window, k), dtype=np.int64)
        self._examined = PerUserRows((self.window, k), dtype=np.bool_)
        self._clicked = PerUserRows((self.window, k), dtype=np.bool_)
        self._steps = PerUserRows((), dtype=np.int64)  # steps learned so far per user

    @property
    def v_(self) -> np.ndarray:
        return self._v.data

    @property
    def b_(self) -> np.ndarray:
        return self._b.data

    def estimates(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(user_ids, dtype=np.int64)
        v, b = self._v.grow(ids)[ids], self._b.grow(ids)[ids]
        v_inv = np.linalg.inv(v)
        return np.einsum("bij,bj->bi", v_inv, b), v_inv

    def update(self, batch: StepBatch) -> dict[str, float]:
        ids = np.asarray(batch.user_ids, dtype=np.int64)
        v, b = self._v.grow(ids), self._b.grow(ids)
        items, examined, clicked = (
            self._items.grow(ids),
            self._examined.grow(ids),
            self._clicked.grow(ids),
        )
        steps = self._steps.grow(ids)
        slot = steps[ids] % self.window
        full = steps[ids] >= self.window
        if full.any():  # the step leaving the window
            rows = ids[full]
            old = StepBatch(
                user_ids=rows,
                step=steps[rows],
                slates=items[rows, slot[full]],
                clicked=clicked[rows, slot[full]],
                skipped=examined[rows, slot[full]] & ~clicked[rows, slot[full]],
                dwell=np.zeros(items[rows, slot[full]].shape, dtype=np.float32),
                reward=np.zeros(len(rows)),
                click_flip=batch.click_flip,  # the same q every step: the same estimates
            )
            xx_old, rx_old, _ = _step_evidence(self.features, old)
            v[rows] -= xx_old
            b[rows] -= rx_old
        xx, rx, seen = _step_evidence(self.features, batch)
        v[ids] += xx
        b[ids] += rx
        items[ids, slot] = batch.slates
        examined[ids, slot] = seen
        clicked[ids, slot] = np.asarray(batch.clicked, dtype=bool)
        steps[ids] += 1
        return {}


class GLRLinUCB(_LinearAnchor):
    """LinUCB restarted per user on a Bernoulli GLR alarm (see the module docstring).

    State per user id: ``a_`` ``(U, D, D)``, ``b_`` ``(U, D)`` and the detector's history
    (``detector``; ``detector.alarms_`` counts the restarts).
    """

    name = "glr-linucb"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._a = PerUserRows((self.dim, self.dim), self.ridge * self._eye)
        self._b = PerUserRows((self.dim,))
        self.detector = BernoulliGLR(self.config.glr_delta, self.config.glr_window)

    @property
    def a_(self) -> np.ndarray:
        return self._a.data

    @property
    def b_(self) -> np.ndarray:
        return self._b.data

    def estimates(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(user_ids, dtype=np.int64)
        a, b = self._a.grow(ids)[ids], self._b.grow(ids)[ids]
        a_inv = np.linalg.inv(a)
        return np.einsum("bij,bj->bi", a_inv, b), a_inv

    def update(self, batch: StepBatch) -> dict[str, float]:
        ids = np.asarray(batch.user_ids, dtype=np.int64)
        a, b = self._a.grow(ids), self._b.grow(ids)
        xx, rx, seen = _step_evidence(self.features, batch)
        clicks = (np.asarray(batch.clicked, dtype=bool) & seen).sum(axis=1)
        alarms, _ = self.detector.update(ids, seen.sum(axis=1), clicks)
        restart = ids[alarms]
        # The restart comes before this step's evidence: the step that raised the alarm is
        # the first of the new stretch.
        a[restart] = self.ridge * self._eye
        b[restart] = 0.0
        a[ids] += xx
        b[ids] += rx
        return {"restarts": float(alarms.sum())}
