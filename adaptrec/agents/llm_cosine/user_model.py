"""The learned user vector of the llm-cosine agent: a Bayesian ridge regression per user in
the language model's space, with a population prior, forgetting and posterior samples.

A user's preference is ``theta`` over item features ``x_i = [W' (v_i - m), 1]``: the item's
language-model vector ``v_i`` in its top ``dim`` principal directions, each scaled to unit
variance (``W``, ``(d, dim)``), plus a constant (the user's base click rate). The estimate is
the posterior mean of the ridge regression of click (1) against examined-and-skipped (0),

    A = ridge I + sum x x',        b = sum y x,        theta = A^-1 (b + ridge theta_0),

where ``theta_0``, the prior mean, is the same regression pooled over all users (what the
population likes: a new user starts there, not at zero). Forgetting at rate ``f`` per step moves
``A`` towards its prior and scales ``b``, ``A <- f A + (1 - f) ridge I``, ``b <- f b``, so
evidence older than ~1/(1 - f) steps fades and a changed taste is relearned without being
announced. The user vector handed to the cosine is ``u = W theta[:dim]`` (``(d,)``, in the
language model's space): ``u . v_i = theta . x_i`` up to a per-user constant, so ranking by
``cos(u, v)`` ranks by the regression's prediction. (The agent computes that cosine as
``theta . (W' v_i) / |W theta|``, in the ``D``-dimensional space: :attr:`item_directions`
and :attr:`gram`.)

The prior's precision is ``ridge I`` by default; with ``prior="empirical"`` it is learned
(empirical Bayes, :class:`RidgeUserModel`): weak along the directions in which users' tastes
differ, strong where they agree.

Thompson sampling draws ``theta~ = theta + scale L^-T z`` (``A = L L'``, ``z`` standard
normal from counter-based uniforms keyed by user and step), so a user's draw does not depend on
who else is in the batch. All per-user arithmetic is in compiled loops, one user per
iteration, in a fixed order, and the pooled sums are single-threaded BLAS products: a user's
numbers are the same in any batch and on any number of threads.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from adaptrec.agents.base import PerUserRows
from adaptrec.agents.change import BernoulliGLR
from adaptrec.agents.llm_cosine.parallel_blas import single_threaded_blas
from adaptrec.core.features import principal_basis
from adaptrec.core.rng import uniforms
from adaptrec.core.validation import check_choice

_LANE_SAMPLE = 23
_PROBABILITY_FLOOR = 0.01
"""Predicted click probabilities are clipped into [floor, 1 - floor] in the two-speed test: the
regression is linear, and a prediction at 0 or 1 would make one outcome infinitely surprising."""

DETECTORS = ("none", "cusum", "two-speed", "glr")


@nb.njit(inline="always")
def _forget_and_add(a, b, user, features, slates, targets, examined, row, forgetting, ridge):
    """``A <- f A + (1 - f) ridge I``, ``b <- f b``, then each examined slot ``(x, y)`` of
    the row's slate added: ``A += x x'``, ``b += y x`` (``y`` from ``targets``, ``(B, k)``
    float64: the clicks, debiased under privacy)."""
    dim = features.shape[1]
    if forgetting < 1.0:
        for i in range(dim):
            for j in range(dim):
                a[user, i, j] *= forgetting
            a[user, i, i] += (1.0 - forgetting) * ridge
            b[user, i] *= forgetting
    for slot in range(slates.shape[1]):
        if examined[row, slot]:
            x = features[slates[row, slot]]
            y = targets[row, slot]
            for i in range(dim):
                for j in range(dim):
                    a[user, i, j] += x[i] * x[j]
                b[user, i] += y * x[i]


@nb.njit(cache=True, parallel=True)
def _update_users(
    a, b, a_fast, b_fast, ids, features, slates, targets, examined, restart, forgetting,
    fast_forgetting, ridge,
):  # fmt: skip
    """Restart, forget, then learn one step, each user in place.

    ``a`` ``(U, D, D)`` and ``b`` ``(U, D)``: the slow (long-memory) posterior; ``a_fast``,
    ``b_fast``: the fast one (``(U, 0, 0)``: none). ``ids`` ``(B,)`` distinct user ids; ``slates``
    ``(B, k)`` int64; ``targets`` ``(B, k)`` float64 (the clicks, debiased under privacy);
    ``examined`` ``(B, k)`` bool; ``restart`` ``(B,)`` int8:
    0 keep, 1 drop the slow evidence (back to the population prior), 2 replace the slow
    posterior by the fast one; both done before this step's evidence is added.
    """
    dim = features.shape[1]
    fast = a_fast.shape[1] > 0
    for row in nb.prange(len(ids)):
        user = ids[row]
        if restart[row] == 1:
            for i in range(dim):
                for j in range(dim):
                    a[user, i, j] = 0.0
                a[user, i, i] = ridge
                b[user, i] = 0.0
        elif restart[row] == 2:
            for i in range(dim):
                for j in range(dim):
                    a[user, i, j] = a_fast[user, i, j]
                b[user, i] = b_fast[user, i]
        _forget_and_add(a, b, user, features, slates, targets, examined, row, forgetting, ridge)
        if fast:
            _forget_and_add(
                a_fast, b_fast, user, features, slates, targets, examined, row,
                fast_forgetting, ridge,
            )  # fmt: skip


@nb.njit(cache=True, parallel=True)
def _shortfall_cusum(cusum, ids, features, slates, clicked, examined, theta, slack, threshold, out):
    """One-sided CUSUM of ``clip(x . theta, 0, 1) - y - slack`` over each user's examined
    slots (clicks persistently below what the estimate predicts); ``out[row]`` = 1 (drop the
    evidence) past ``threshold``, and the statistic starts again."""
    dim = features.shape[1]
    for row in nb.prange(len(ids)):
        user = ids[row]
        total = cusum[user]
        for slot in range(slates.shape[1]):
            if examined[row, slot]:
                x = features[slates[row, slot]]
                predicted = 0.0
                for i in range(dim):
                    predicted += x[i] * theta[row, i]
                predicted = min(max(predicted, 0.0), 1.0)
                y = 1.0 if clicked[row, slot] else 0.0
                total = max(0.0, total + predicted - y - slack)
        out[row] = 1 if total > threshold else 0
        cusum[user] = 0.0 if total > threshold else total


@nb.njit(cache=True, parallel=True)
def _two_speed_cusum(
    cusum, a_fast, b_fast, ids, features, slates, clicked, examined, theta, prior_shift,
    prior_rhs, threshold, out,
):  # fmt: skip
    """CUSUM of the log-likelihood ratio of the fast posterior's predictions over the slow
    one's on each user's examined slots, ``log p_fast(y) - log p_slow(y)`` with ``p =
    clip(x . theta, floor, 1 - floor)``; ``theta`` ``(B, D)`` the slow posterior means the
    slates were ranked with. Past ``threshold`` the fast posterior explains the recent clicks
    better than the long memory by that many nats: ``out[row]`` = 2 (the slow posterior is
    replaced by the fast one) and the statistic starts again."""
    dim = features.shape[1]
    for row in nb.prange(len(ids)):
        user = ids[row]
        lower = np.empty((dim, dim))
        work = np.empty(dim)
        theta_fast = np.empty(dim)
        _factor_posterior(a_fast, b_fast, user, prior_shift, prior_rhs, lower, work, theta_fast)
        total = cusum[user]
        for slot in range(slates.shape[1]):
            if examined[row, slot]:
                x = features[slates[row, slot]]
                slow, quick = 0.0, 0.0
                for i in range(dim):
                    slow += x[i] * theta[row, i]
                    quick += x[i] * theta_fast[i]
                slow = min(max(slow, _PROBABILITY_FLOOR), 1.0 - _PROBABILITY_FLOOR)
                quick = min(max(quick, _PROBABILITY_FLOOR), 1.0 - _PROBABILITY_FLOOR)
                if clicked[row, slot]:
                    total += math.log(quick / slow)
                else:
                    total += math.log((1.0 - quick) / (1.0 - slow))
        total = max(0.0, total)
        out[row] = 2 if total > threshold else 0
        cusum[user] = 0.0 if total > threshold else total


@nb.njit(inline="always")
def _cholesky(a, lower):
    """``lower`` = the Cholesky factor of ``a`` (``(D, D)``; pivots floored at 1e-12)."""
    n = a.shape[0]
    for j in range(n):
        total = a[j, j]
        for m in range(j):
            total -= lower[j, m] * lower[j, m]
        pivot = math.sqrt(max(total, 1e-12))
        lower[j, j] = pivot
        for i in range(j + 1, n):
            total = a[i, j]
            for m in range(j):
                total -= lower[i, m] * lower[j, m]
            lower[i, j] = total / pivot
        for i in range(j):
            lower[i, j] = 0.0


@nb.njit(inline="always")
def _solve_lower(lower, rhs, out):
    """``out = L^-1 rhs``."""
    n = len(rhs)
    for i in range(n):
        total = rhs[i]
        for m in range(i):
            total -= lower[i, m] * out[m]
        out[i] = total / lower[i, i]


@nb.njit(inline="always")
def _solve_upper(lower, rhs, out):
    """``out = L'^-1 rhs``."""
    n = len(rhs)
    for i in range(n - 1, -1, -1):
        total = rhs[i]
        for m in range(i + 1, n):
            total -= lower[m, i] * out[m]
        out[i] = total / lower[i, i]


@nb.njit(inline="always")
def _factor_posterior(a, b, user, prior_shift, prior_rhs, lower, work, mean):
    """The Cholesky factor of the user's posterior precision ``A + prior_shift`` into
    ``lower`` and its mean ``(A + prior_shift)^-1 (b + prior_rhs)`` into ``mean`` (``A``
    holds the evidence and ``ridge I``; ``prior_shift`` = ``P - ridge I`` turns that prior
    into ``P``, all zeros for the isotropic one)."""
    dim = prior_rhs.shape[0]
    precision = np.empty((dim, dim))
    rhs = np.empty(dim)
    for i in range(dim):
        for j in range(dim):
            precision[i, j] = a[user, i, j] + prior_shift[i, j]
        rhs[i] = b[user, i] + prior_rhs[i]
    _cholesky(precision, lower)
    _solve_lower(lower, rhs, work)
    _solve_upper(lower, work, mean)


@nb.njit(cache=True, parallel=True)
def _posterior(a, b, ids, prior_shift, prior_rhs, normals, scale, mean_out, sample_out):
    """Posterior mean ``(A + prior_shift)^-1 (b + prior_rhs)`` of each user into
    ``mean_out`` ``(B, D)`` and, if ``normals`` ``(B, D)`` has rows, a draw ``mean + scale
    L'^-1 z`` into ``sample_out``."""
    dim = prior_rhs.shape[0]
    for row in nb.prange(len(ids)):
        user = ids[row]
        lower = np.empty((dim, dim))
        work = np.empty(dim)
        _factor_posterior(a, b, user, prior_shift, prior_rhs, lower, work, mean_out[row])
        if normals.shape[0]:
            _solve_upper(lower, normals[row], work)
            for i in range(dim):
                sample_out[row, i] = mean_out[row, i] + scale * work[i]


@nb.njit(cache=True, parallel=True)
def _posterior_moments(a, b, ids, prior_shift, prior_rhs, mean_out, covariance_out):
    """Each user's posterior mean into ``mean_out`` ``(B, D)`` and the inverse of its
    posterior precision, ``(A + prior_shift)^-1``, into ``covariance_out`` ``(B, D, D)``."""
    dim = prior_rhs.shape[0]
    for row in nb.prange(len(ids)):
        lower = np.empty((dim, dim))
        work = np.empty(dim)
        unit = np.zeros(dim)
        _factor_posterior(a, b, ids[row], prior_shift, prior_rhs, lower, work, mean_out[row])
        for column in range(dim):
            unit[column] = 1.0
            _solve_lower(lower, unit, work)
            _solve_upper(lower, work, covariance_out[row, column])
            unit[column] = 0.0


PRIORS = ("isotropic", "empirical")

_PRIOR_VARIANCE_FLOOR = 0.01
"""The empirical prior's variance in any direction stays above this share of the isotropic
prior's, so no direction is ever pinned to the population's value: users who differ from
everyone seen so far (a drift to a new taste) can still be learned."""


class RidgeUserModel:
    """Per-user Bayesian ridge regressions over whitened language-model item features.

    Args:
        item_vectors: ``(N, d)`` float32 item vectors (the agent's, centred and unit).
        dim: principal directions kept (``D = dim + 1`` features with the constant).
        ridge: prior precision (strength of the population prior, in examined items).
        forgetting: per-step forgetting factor in (0, 1] (1 = never forget).
        seed_keys: the agent's :class:`~adaptrec.agents.base.UserKeys` (for the draws).
        detector: how a changed taste is detected (:data:`DETECTORS`): ``"none"``
            (forgetting alone), ``"cusum"`` (shortfall of clicks below the estimate's
            predictions; restarts from the population prior), ``"two-speed"`` (a second,
            fast-forgetting posterior per user and a CUSUM of its predictive log-likelihood
            ratio over the slow one's; on an alarm the slow posterior is replaced by the fast
            one) or ``"glr"`` (a one-sided Bernoulli GLR test on the user's clicks,
            :class:`~adaptrec.agents.change.BernoulliGLR`; the same replacement).
        change_threshold: the CUSUM detectors' threshold (nats for ``"two-speed"``).
        change_slack: ``"cusum"``'s per-item shortfall that is ignored.
        fast_forgetting: the fast posterior's per-step forgetting (``"two-speed"``, ``"glr"``).
        glr_delta, glr_window: the GLR test's confidence and look-back in steps.
        prior: the prior's covariance (:data:`PRIORS`): ``"isotropic"`` (precision ``ridge
            I``) or ``"empirical"`` (empirical Bayes: the spread of the users' tastes around
            the population's, re-estimated after every update, so the prior is weak along
            the directions in which users differ and strong where they agree).
        noise_variance: ``"empirical"``'s variance of a click around its predicted rate
            (at most 1/4 for a 0/1 outcome), the scale between evidence and prior.
        prior_smoothing: ``"empirical"``'s weight of the previous estimate in each update.

    State: ``a_`` ``(U, D, D)`` and ``b_`` ``(U, D)`` float64 per user id seen (the slow
    posterior), ``fast_a_``/``fast_b_`` likewise for the fast one (empty without), the pooled
    ``pooled_a_`` ``(D, D)`` and ``pooled_b_`` ``(D,)``, ``restarts_`` ``(U,)`` int64:
    the detector's alarms per user id, and ``prior_precision_`` ``(D, D)`` float64, ``P``.
    ``A`` always holds the evidence plus ``ridge I`` (forgetting moves it towards ``ridge
    I``); the posterior precision is ``A - ridge I + P``, so a prior that changes applies at
    once to every user, to forgotten evidence exactly as to fresh (``f A_evidence + P``).

    The empirical prior is the EM step of the hierarchical model ``theta_u ~ N(theta_0,
    Sigma)``, ``y ~ N(x . theta_u, sigma^2)`` over the users of each update: ``Sigma <- s
    Sigma + (1 - s) mean_u[(m_u - theta_0)(m_u - theta_0)' + sigma^2 (A_u + P - ridge
    I)^-1]`` with ``m_u`` the posterior means, then ``P = sigma^2 Sigma^-1`` (``sigma^2`` =
    ``noise_variance``, ``s`` = ``prior_smoothing``; ``Sigma`` starts at ``sigma^2 / ridge
    I``). It is a population estimate, like ``theta_0``: it depends on who was in the
    batches, not on the order of the users in one.
    """

    def __init__(
        self,
        item_vectors,
        dim: int,
        ridge: float,
        forgetting: float,
        seed_keys,
        detector: str = "none",
        change_threshold: float = 0.0,
        change_slack: float = 0.25,
        fast_forgetting: float = 0.9,
        glr_delta: float = 0.01,
        glr_window: int = 200,
        prior: str = "isotropic",
        noise_variance: float = 0.25,
        prior_smoothing: float = 0.9,
    ):
        check_choice("detector", detector, DETECTORS)
        check_choice("prior", prior, PRIORS)
        self.features, self.basis = principal_basis(item_vectors, dim)
        self.dim = self.features.shape[1]
        # u . v_i = theta . (W' v_i) and |u|^2 = theta' (W'W) theta: the cosine of u = W theta
        # without leaving the D-dimensional space.
        self.item_directions = (np.asarray(item_vectors, np.float64) @ self.basis).astype(
            np.float32
        )
        self.gram = self.basis.T @ self.basis
        self.ridge, self.forgetting = float(ridge), float(forgetting)
        self.detector = detector
        self.change_threshold, self.change_slack = float(change_threshold), float(change_slack)
        self.fast_forgetting = float(fast_forgetting)
        self._keys = seed_keys
        eye = np.eye(self.dim)
        self._a = PerUserRows((self.dim, self.dim), self.ridge * eye)
        self._b = PerUserRows((self.dim,))
        two_posteriors = detector in ("two-speed", "glr")
        fast_shape = (self.dim, self.dim) if two_posteriors else (0, 0)
        self._fast_a = PerUserRows(fast_shape, self.ridge * eye if two_posteriors else 0.0)
        self._fast_b = PerUserRows((self.dim,) if two_posteriors else (0,))
        self._cusum = PerUserRows(())
        self._restarts = PerUserRows((), dtype=np.int64)
        self._glr = BernoulliGLR(glr_delta, glr_window) if detector == "glr" else None
        self.pooled_a_ = self.ridge * eye
        self.pooled_b_ = np.zeros(self.dim)
        self._prior: np.ndarray | None = None
        self.prior = prior
        self.noise_variance, self.prior_smoothing = float(noise_variance), float(prior_smoothing)
        self.prior_precision_ = self.ridge * eye
        self._taste_covariance = self.noise_variance / self.ridge * eye

    def _grow(self, user_ids: np.ndarray) -> None:
        for rows in (self._a, self._b, self._fast_a, self._fast_b, self._cusum, self._restarts):
            rows.grow(user_ids)

    @property
    def a_(self) -> np.ndarray:
        """``(U, D, D)`` float64: each user id's ``A`` (the prior's for ids not yet seen)."""
        return self._a.data

    @property
    def b_(self) -> np.ndarray:
        """``(U, D)`` float64: each user id's ``b``."""
        return self._b.data

    @property
    def fast_a_(self) -> np.ndarray:
        """``(U, D, D)`` float64: the fast posterior's ``A`` (``(U, 0, 0)`` without one)."""
        return self._fast_a.data

    @property
    def fast_b_(self) -> np.ndarray:
        """``(U, D)`` float64: the fast posterior's ``b`` (``(U, 0)`` without one)."""
        return self._fast_b.data

    @property
    def cusum_(self) -> np.ndarray:
        """``(U,)`` float64: each user id's CUSUM statistic (the CUSUM detectors)."""
        return self._cusum.data

    @property
    def restarts_(self) -> np.ndarray:
        """``(U,)`` int64: how often the detector restarted each user id's estimate."""
        return self._restarts.data

    def prior_mean(self) -> np.ndarray:
        """``(D,)`` float64: the pooled regression's coefficients (cached until an update)."""
        if self._prior is None:
            self._prior = np.linalg.solve(self.pooled_a_, self.pooled_b_)
        return self._prior

    def _prior_terms(self) -> tuple[np.ndarray, np.ndarray]:
        """``(P - ridge I, P theta_0)``: what turns ``A`` and ``b`` into the posterior."""
        if self.prior == "isotropic":  # zeros and ridge theta_0: the same bits as without
            return np.zeros((self.dim, self.dim)), self.ridge * self.prior_mean()
        shift = self.prior_precision_ - self.ridge * np.eye(self.dim)
        with single_threaded_blas():
            return shift, self.prior_precision_ @ self.prior_mean()

    def _update_prior(self, ids: np.ndarray) -> None:
        """One EM step of the empirical prior over the users ``ids`` (see the class)."""
        shift, rhs = self._prior_terms()
        mean = np.empty((len(ids), self.dim))
        covariance = np.empty((len(ids), self.dim, self.dim))
        _posterior_moments(self.a_, self.b_, ids, shift, rhs, mean, covariance)
        deviation = mean - self.prior_mean()
        with single_threaded_blas():
            spread = deviation.T @ deviation / len(ids)
        batch = spread + self.noise_variance * covariance.mean(axis=0)
        smoothing = self.prior_smoothing
        estimate = smoothing * self._taste_covariance + (1 - smoothing) * batch
        values, vectors = np.linalg.eigh(0.5 * (estimate + estimate.T))
        values = np.maximum(values, _PRIOR_VARIANCE_FLOOR * self.noise_variance / self.ridge)
        with single_threaded_blas():
            self._taste_covariance = (vectors * values) @ vectors.T
            self.prior_precision_ = self.noise_variance * (vectors / values) @ vectors.T

    def coefficients(
        self, user_ids: np.ndarray, steps: np.ndarray | None = None, scale: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means ``(B, D)`` float64 and, with ``steps`` and ``scale > 0``, Thompson
        draws ``(B, D)`` (otherwise the means again)."""
        ids = np.ascontiguousarray(user_ids, dtype=np.int64)
        self._grow(ids)
        mean = np.empty((len(ids), self.dim))
        draw = steps is not None and scale > 0
        if draw:
            u = uniforms(self._keys(ids), steps, _LANE_SAMPLE, 2 * self.dim)
            normals = np.sqrt(-2.0 * np.log1p(-u[:, : self.dim])) * np.cos(
                2 * np.pi * u[:, self.dim :]
            )
            sample = np.empty_like(mean)
        else:
            normals, sample = np.empty((0, self.dim)), mean
        shift, rhs = self._prior_terms()
        _posterior(self.a_, self.b_, ids, shift, rhs, normals, scale, mean, sample)
        return mean, sample

    def to_item_space(self, theta: np.ndarray) -> np.ndarray:
        """``(B, d)`` float32 user vectors ``W theta[:, :dim]`` in the items' space."""
        with single_threaded_blas():
            return (theta[:, :-1] @ self.basis.T).astype(np.float32)

    def update(self, user_ids, slates, clicked, examined, theta=None, targets=None) -> None:
        """Learn from one step: ``slates`` ``(B, k)`` int64, ``clicked``/``examined`` bool;
        ``theta`` ``(B, D)``, the posterior means the slates were ranked with, feeds the
        change detector (computed here if not given). Detection uses the predictions made
        before this step's evidence; a restart happens before that evidence is added.
        ``targets`` ``(B, k)`` float64, what the regression learns (default: ``clicked`` as
        0/1; under privacy the debiased clicks, while the detectors watch the released bits,
        whose rate moves when the true rate does)."""
        ids = np.ascontiguousarray(user_ids, dtype=np.int64)
        self._grow(ids)
        slates = np.ascontiguousarray(slates, dtype=np.int64)
        clicked = np.ascontiguousarray(clicked, dtype=np.bool_)
        examined = np.ascontiguousarray(examined, dtype=np.bool_)
        if targets is None:
            targets = clicked.astype(np.float64)
        targets = np.ascontiguousarray(targets, dtype=np.float64)
        restart = np.zeros(len(ids), dtype=np.int8)
        if self.detector in ("cusum", "two-speed") and self.change_threshold > 0:
            if theta is None:
                theta = self.coefficients(ids)[0]
            theta = np.ascontiguousarray(theta, dtype=np.float64)
            if self.detector == "cusum":
                _shortfall_cusum(
                    self.cusum_, ids, self.features, slates, clicked, examined, theta,
                    self.change_slack, self.change_threshold, restart,
                )  # fmt: skip
            else:
                _two_speed_cusum(
                    self.cusum_, self.fast_a_, self.fast_b_, ids, self.features, slates,
                    clicked, examined, theta, *self._prior_terms(), self.change_threshold,
                    restart,
                )  # fmt: skip
        elif self._glr is not None:
            alarms, _ = self._glr.update(
                ids, examined.sum(axis=1), (clicked & examined).sum(axis=1)
            )
            restart[alarms] = 2
        self.restarts_[ids] += restart > 0
        _update_users(
            self.a_, self.b_, self.fast_a_, self.fast_b_, ids, self.features, slates, targets,
            examined, restart, self.forgetting, self.fast_forgetting, self.ridge,
        )  # fmt: skip
        rows = self.features[slates[examined]]  # (E, D)
        with single_threaded_blas():  # one thread: the same sums on any machine or worker
            self.pooled_a_ += rows.T @ rows
            self.pooled_b_ += rows.T @ targets[examined]
        self._prior = None
        if self.prior == "empirical":
            self._update_prior(ids)
