"""Per-user change detection on a user's stream of clicks: the Bernoulli GLR test.

Besson, Kaufmann, Maillard and Seznec (JMLR 2022, "Efficient change-point detection for
tackling piecewise-stationary bandits") restart a bandit when a Bernoulli generalised
likelihood-ratio test finds that a stream of rewards changed its mean. Here the stream of a user
is the outcome (click 1, skip 0) of every examined slot shown to that user since the user's
last restart. After ``n`` outcomes the statistic is

    GLR(n) = max over splits s of  n1 kl(mu1, mu) + n2 kl(mu2, mu)

(``mu1``/``mu2``: the click rates of the ``n1`` outcomes before and ``n2`` after the split,
``mu`` the rate of all ``n``; ``kl`` the Bernoulli relative entropy), and the test alarms when
it exceeds ``beta(n, delta) = log(3 n^(3/2) / delta)``, the threshold of the authors' own
experiments (SMPyBandits, ``threshold_BernoulliGLR``, variant 0).

Two choices differ from the paper, both because the stream here is a learner's own feedback:

* **One-sided**: only a *fall* of the click rate counts (``mu2 < mu1``). A learner's click
  rate rises while it learns a user; a two-sided test would restart it for learning well.
* **Splits at step boundaries, over the last** ``window`` **steps**: a step's examined slots
  are one block (they were ranked together), and the statistic looks back at most
  ``window`` steps, so a step costs O(window) per user, not O(steps since the restart).

Each user's numbers are computed in a compiled loop of their own, so an alarm does not depend
on which other users share the batch or on the number of threads.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from adaptrec.agents.base import PerUserRows
from adaptrec.core.validation import check_float, check_int

_EPS = 1e-12


@nb.njit(inline="always")
def bernoulli_kl(p, q):
    """Bernoulli relative entropy ``kl(p, q)`` (``p``, ``q`` clipped into ``(0, 1)``)."""
    p = min(max(p, _EPS), 1.0 - _EPS)
    q = min(max(q, _EPS), 1.0 - _EPS)
    return p * math.log(p / q) + (1.0 - p) * math.log((1.0 - p) / (1.0 - q))


@nb.njit(inline="always")
def glr_threshold(n, delta):
    """``beta(n, delta) = log(3 n^(3/2) / delta)``."""
    return math.log(3.0 * n**1.5 / delta)


@nb.njit(inline="always")
def _falling_glr(ring, user, length, head):
    """The one-sided GLR statistic of user ``user``'s last ``length`` steps (oldest first in
    the ring ending before ``head``) and the number of outcomes."""
    window = ring.shape[1]
    start = (head - length) % window
    n_total, c_total = 0.0, 0.0
    for j in range(length):
        slot = (start + j) % window
        n_total += ring[user, slot, 0]
        c_total += ring[user, slot, 1]
    if n_total <= 0.0:
        return 0.0, n_total
    mu = c_total / n_total
    n1, c1, best = 0.0, 0.0, 0.0
    for j in range(length - 1):
        slot = (start + j) % window
        n1 += ring[user, slot, 0]
        c1 += ring[user, slot, 1]
        n2 = n_total - n1
        if n1 <= 0.0 or n2 <= 0.0:
            continue
        mu1, mu2 = c1 / n1, (c_total - c1) / n2
        if mu2 >= mu1:
            continue
        value = n1 * bernoulli_kl(mu1, mu) + n2 * bernoulli_kl(mu2, mu)
        best = max(best, value)
    return best, n_total


@nb.njit(cache=True, parallel=True)
def _glr_step(ring, lengths, heads, ids, examined, clicks, delta, alarms, statistics):
    for row in nb.prange(len(ids)):
        user = ids[row]
        window = ring.shape[1]
        head = heads[user]
        ring[user, head, 0] = examined[row]
        ring[user, head, 1] = clicks[row]
        head = (head + 1) % window
        length = min(lengths[user] + 1, window)
        statistic, n = _falling_glr(ring, user, length, head)
        alarm = n > 1.0 and statistic > glr_threshold(n, delta)
        statistics[row] = statistic
        alarms[row] = alarm
        heads[user] = head
        lengths[user] = 0 if alarm else length


class BernoulliGLR:
    """One-sided Bernoulli GLR change detectors, one per user id (see the module docstring).

    Args:
        delta: the test's confidence (false-alarm probability per stationary stretch, in
            theory); smaller alarms later and more rarely.
        window: steps of history the statistic looks back over.

    State: per user id the outcomes of its last ``window`` steps (a ring of per-step
    (examined, clicks) counts, ``(U, window, 2)`` float64) and how many steps it holds since
    the user's last alarm.
    """

    def __init__(self, delta: float = 0.01, window: int = 200) -> None:
        self.delta = check_float("delta", delta, low=0, low_open=True, high=1, high_open=True)
        self.window = check_int("window", window, low=2, high=100_000)
        self._ring = PerUserRows((self.window, 2))
        self._length = PerUserRows((), dtype=np.int64)
        self._head = PerUserRows((), dtype=np.int64)
        self._alarms = PerUserRows((), dtype=np.int64)

    @property
    def alarms_(self) -> np.ndarray:
        """``(U,)`` int64: alarms raised so far per user id."""
        return self._alarms.data

    def update(
        self, user_ids: np.ndarray, examined: np.ndarray, clicks: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Add one step of each user's outcomes and test.

        Args:
            user_ids: ``(B,)`` int64 distinct user ids.
            examined: ``(B,)`` examined slots of each user's slate this step.
            clicks: ``(B,)`` clicks among them.

        Returns:
            ``(alarms (B,) bool, statistics (B,) float64)``. An alarmed user's history is
            cleared: its next test looks only at outcomes after the alarm.
        """
        ids = np.ascontiguousarray(user_ids, dtype=np.int64)
        ring, lengths, heads = self._ring.grow(ids), self._length.grow(ids), self._head.grow(ids)
        alarms = np.zeros(len(ids), dtype=np.bool_)
        statistics = np.zeros(len(ids))
        _glr_step(
            ring,
            lengths,
            heads,
            ids,
            np.ascontiguousarray(examined, dtype=np.float64),
            np.ascontiguousarray(clicks, dtype=np.float64),
            self.delta,
            alarms,
            statistics,
        )
        self._alarms.grow(ids)[ids[alarms]] += 1
        return alarms, statistics
