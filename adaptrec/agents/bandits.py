"""Bandit baselines, batched over users: per-user context-free bandits and linear contextual
bandits over the items' text embeddings.

All of them learn from *examined* slots only: the environment reports a skip for an item that
was examined and not clicked, so ``clicked | skipped`` marks the slots that carry evidence; an
unexamined slot says nothing about the item. All keep each user's state in arrays indexed by
user id, forget at rate ``forgetting`` per step (1 = never; lower adapts faster to drift), and
rank items shown in the observed history below all others (``avoid_recent``), as the seed agent
does, so a liked item is not repeated until the user is tired of it.

* :class:`EpsilonGreedyAgent` and :class:`ThompsonAgent` keep per-(user, item) click and trial
  counts. Their prior for an item is the population's click rate on it (pooled counts,
  Beta(1, 1)), worth ``prior_strength`` trials: a new user starts from what everyone liked.
* :class:`LinearBanditAgent` (LinUCB or linear Thompson sampling) fits one ridge regression per
  user of the click on ``x_i``: the item's text embedding reduced to ``dim`` principal
  components (unit variance) plus a constant. ``A^-1`` is kept directly and updated with the
  Sherman-Morrison rank-one formula, one examined slot at a time. Forgetting moves ``A``
  towards the prior, ``A <- f A + (1 - f) ridge I``, and scales ``b`` by ``f``; that step is
  not rank one, so ``A^-1`` is then recomputed from ``A`` (kept alongside).
"""

from __future__ import annotations

import numpy as np

from adaptrec.agents.base import (
    PerUserRows,
    StepBatch,
    UserKeys,
    candidate_sets,
    click_targets,
    demote,
    explore,
    live_bounds,
    observed_user_ids,
    restrict_scores,
    shown_in_history,
)
from adaptrec.core.config import BanditConfig
from adaptrec.core.features import principal_basis
from adaptrec.core.ranking import top_k
from adaptrec.core.rng import uniforms
from adaptrec.core.validation import check_array, check_int

_LANE_EXPLORE, _LANE_SAMPLE = 21, 22
_RECENT_PENALTY = 1e6


def _examined(batch: StepBatch) -> np.ndarray:
    return np.asarray(batch.clicked) | np.asarray(batch.skipped)


def rank_and_explore(agent, scores: np.ndarray, observation: dict[str, np.ndarray], ids):
    """Top-k of ``(B, N)`` scores of the live items (recent items demoted if configured), then
    epsilon-greedy exploration among the live items; sets the agent's ``last_propensity_``."""
    if agent.config.avoid_recent and "items" in observation:
        recent = shown_in_history(observation["items"], agent.n_items)
        scores = demote(scores, recent, _RECENT_PENALTY)
    live = live_bounds(observation, agent.n_items) if "live" in observation else None
    candidates = candidate_sets(observation, agent.n_items)
    scores = restrict_scores(scores, observation, agent.n_items)
    slates = top_k(np.ascontiguousarray(scores, dtype=np.float64), agent.slate_size, validate=False)
    return explore(
        slates,
        agent._keys(ids),
        np.asarray(observation["step"]),
        agent.n_items,
        agent.config.epsilon,
        _LANE_EXPLORE,
        agent=agent,
        live=live,
        candidates=candidates,
    )


class _CountingBandit:
    """Shared state and update of the per-user count bandits."""

    name = "count-bandit"

    def __init__(
        self,
        n_items: int,
        slate_size: int,
        config: BanditConfig | None = None,
        seed: int = 0,
        agent_index: int = 0,
    ) -> None:
        self.n_items = check_int("n_items", n_items, low=1)
        self.slate_size = check_int("slate_size", slate_size, low=1, high=self.n_items)
        self.config = config or BanditConfig()
        self._keys = UserKeys(seed, agent_index)
        self._clicks = PerUserRows((n_items,))
        self._trials = PerUserRows((n_items,))
        self.pooled_clicks_ = np.zeros(n_items)
        self.pooled_trials_ = np.zeros(n_items)
        self._private = False  # learnt from randomised-response clicks (adaptrec.privacy)

    def prior_mean(self) -> np.ndarray:
        """``(N,)`` float64: the population's click rate per item (Beta(1, 1) smoothed)."""
        return (self._clip(self.pooled_clicks_, self.pooled_trials_) + 1.0) / (
            self.pooled_trials_ + 2.0
        )

    def _clip(self, clicks: np.ndarray, trials: np.ndarray) -> np.ndarray:
        # Debiased (private) click sums are unbiased but may leave [0, trials]; a rate or a
        # Beta posterior needs them inside. True clicks are always inside: left untouched.
        return np.clip(clicks, 0.0, trials) if self._private else clicks

    def counts(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, N)`` float64 (forgotten) clicks and trials of each user with each item."""
        clicks, trials = self._clicks.grow(user_ids), self._trials.grow(user_ids)
        return self._clip(clicks[user_ids], trials[user_ids]), trials[user_ids]

    def _finish(self, scores: np.ndarray, observation: dict[str, np.ndarray], ids) -> np.ndarray:
        return rank_and_explore(self, scores, observation, ids)

    def update(self, batch: StepBatch) -> dict[str, float]:
        ids = np.asarray(batch.user_ids, dtype=np.int64)
        clicks, trials = self._clicks.grow(ids), self._trials.grow(ids)
        gamma = self.config.forgetting
        if gamma < 1.0:
            clicks[ids] *= gamma
            trials[ids] *= gamma
        examined = _examined(batch)
        rows = np.repeat(ids[:, None], batch.slates.shape[1], axis=1)[examined]
        items = batch.slates[examined]
        won = click_targets(batch)[examined]
        self._private = self._private or batch.click_flip > 0
        np.add.at(clicks, (rows, items), won)
        np.add.at(trials, (rows, items), 1.0)
        np.add.at(self.pooled_clicks_, items, won)
        np.add.at(self.pooled_trials_, items, 1.0)
        return {}


class EpsilonGreedyAgent(_CountingBandit):
    """Per-user epsilon-greedy: the k items of highest estimated click rate
    ``(clicks + m * prior) / (trials + m)`` (``m = prior_strength``), each slot replaced by a
    uniformly random item with probability ``epsilon``."""

    name = "egreedy"

    def estimates(self, user_ids: np.ndarray) -> np.ndarray:
        """``(B, N)`` float64 estimated click rate once examined."""
        clicks, trials = self.counts(user_ids)
        m, prior = self.config.prior_strength, self.prior_mean()
        unseen = trials + m == 0
        return np.where(unseen, prior, (clicks + m * prior) / np.where(unseen, 1, trials + m))

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        return self._finish(self.estimates(ids), observation, ids)


class ThompsonAgent(_CountingBandit):
    """Per-user Beta-Bernoulli Thompson sampling: each item's click rate is drawn from
    ``Beta(1 + m * prior + clicks, 1 + m * (1 - prior) + trials - clicks)`` and the k highest
    draws are shown. Draws come from a Philox stream keyed by (user, step), so a user's slates
    do not depend on who else is in the batch."""

    name = "thompson"

    def posterior(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, N)`` float64 Beta parameters (alpha, beta) of each user's item click rates."""
        clicks, trials = self.counts(user_ids)
        m, prior = self.config.prior_strength, self.prior_mean()
        return 1.0 + m * prior + clicks, 1.0 + m * (1.0 - prior) + trials - clicks

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        alpha, beta = self.posterior(ids)
        keys, steps = self._keys(ids), np.asarray(observation["step"])
        draws = np.empty_like(alpha)
        for row in range(len(ids)):
            bits = np.random.Philox(key=int(keys[row]), counter=int(steps[row]))
            draws[row] = np.random.Generator(bits).beta(alpha[row], beta[row])
        slates = self._finish(draws, observation, ids)
        self.last_propensity_ = None  # a posterior draw's argmax has no closed-form probability
        return slates


def item_features(item_vectors: np.ndarray, dim: int) -> np.ndarray:
    """``(N, dim + 1)`` float64: the top ``dim`` principal components of the item vectors,
    each scaled to unit variance, and a constant 1 (the user's base click rate). Directions
    the items do not span are left out (fewer columns for a catalog of fewer than ``dim``
    items)."""
    check_array("item_vectors", item_vectors, shape=(None, None), kind="f", finite=True)
    return principal_basis(item_vectors, dim)[0]


def ucb_scores(
    features: np.ndarray, theta: np.ndarray, width: np.ndarray, alpha: float
) -> np.ndarray:
    """``(B, N)`` float64 optimistic scores ``x . theta + alpha sqrt(x' M x)`` of every item.

    Args:
        features: ``(N, D)`` float64 item features ``x``.
        theta: ``(B, D)`` float64 estimates.
        width: ``(B, D, D)`` float64 the confidence matrix ``M`` of each user (``A^-1`` for
            LinUCB, ``V^-1 V~ V^-1`` for D-LinUCB).
        alpha: the width of the bonus.
    """
    spread = np.empty((len(theta), len(features)))
    for start in range(0, len(theta), 64):  # (64, N, D) at a time
        part = np.matmul(features[None], width[start : start + 64])
        spread[start : start + 64] = np.einsum("bnd,nd->bn", part, features)
    return theta @ features.T + alpha * np.sqrt(np.maximum(spread, 0.0))


class LinearBanditAgent:
    """Per-user linear bandit over item text embeddings: LinUCB (``mode='ucb'``: score
    ``theta . x + alpha * sqrt(x' A^-1 x)``) or linear Thompson sampling (``mode='ts'``: score
    ``theta~ . x`` with ``theta~ ~ N(theta, v^2 A^-1)``), ``theta = A^-1 b``,
    ``A = ridge * I + sum x x'``, ``b = sum click * x`` over examined slots."""

    def __init__(
        self,
        item_vectors: np.ndarray,
        slate_size: int,
        mode: str = "ucb",
        config: BanditConfig | None = None,
        seed: int = 0,
        agent_index: int = 0,
    ) -> None:
        if mode not in ("ucb", "ts"):
            raise ValueError(f"mode must be 'ucb' or 'ts', got {mode!r}")
        self.mode, self.name = mode, "linucb" if mode == "ucb" else "lin-ts"
        self.config = config or BanditConfig()
        self.features = item_features(item_vectors, self.config.dim)  # (N, D)
        self.n_items, self.dim = self.features.shape
        self.slate_size = check_int("slate_size", slate_size, low=1, high=self.n_items)
        self._keys = UserKeys(seed, agent_index)
        eye = np.eye(self.dim)
        self._a = PerUserRows((self.dim, self.dim), self.config.ridge * eye)
        self._a_inv = PerUserRows((self.dim, self.dim), eye / self.config.ridge)
        self._b = PerUserRows((self.dim,))

    def state(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, D, D)`` A^-1 and ``(B, D)`` b of ``user_ids`` (copies)."""
        a_inv, b = self._a_inv.grow(user_ids), self._b.grow(user_ids)
        return a_inv[user_ids].copy(), b[user_ids].copy()

    def scores(self, user_ids: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """``(B, N)`` float64 UCB or sampled scores."""
        a_inv, b = self.state(user_ids)
        theta = np.einsum("bij,bj->bi", a_inv, b)
        x = self.features
        if self.mode == "ucb":
            return ucb_scores(x, theta, a_inv, self.config.alpha)
        # Box-Muller normals from counter-based uniforms: batch-independent per user.
        u = uniforms(self._keys(user_ids), steps, _LANE_SAMPLE, 2 * self.dim)
        z = np.sqrt(-2.0 * np.log1p(-u[:, : self.dim])) * np.cos(2 * np.pi * u[:, self.dim :])
        chol = np.linalg.cholesky(0.5 * (a_inv + a_inv.transpose(0, 2, 1)))
        sample = theta + self.config.ts_scale * np.einsum("bij,bj->bi", chol, z)
        return sample @ x.T

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        slates = rank_and_explore(
            self, self.scores(ids, np.asarray(observation["step"])), observation, ids
        )
        if self.mode == "ts":
            self.last_propensity_ = None  # as for Thompson sampling: no closed form
        return slates

    def update(self, batch: StepBatch) -> dict[str, float]:
        ids = np.asarray(batch.user_ids, dtype=np.int64)
        a_all, a_inv_all, b_all = self._a.grow(ids), self._a_inv.grow(ids), self._b.grow(ids)
        a, a_inv, b = a_all[ids], a_inv_all[ids], b_all[ids]
        gamma, ridge = self.config.forgetting, self.config.ridge
        if gamma < 1.0:
            # Forget towards the prior, A <- gamma A + (1 - gamma) ridge I (scaling A alone would
            # let unvisited directions' variance grow without bound). Not rank one: re-invert.
            a = gamma * a + (1.0 - gamma) * ridge * np.eye(self.dim)
            a_inv = np.linalg.inv(a)
            b *= gamma
        examined = _examined(batch)
        clicked = click_targets(batch)
        for slot in range(batch.slates.shape[1]):
            x = self.features[batch.slates[:, slot]] * examined[:, slot, None]  # 0 = no update
            # Sherman-Morrison: (A + x x')^-1 = A^-1 - A^-1 x x' A^-1 / (1 + x' A^-1 x).
            ax = np.einsum("bij,bj->bi", a_inv, x)
            denominator = 1.0 + np.einsum("bi,bi->b", x, ax)
            a_inv -= ax[:, :, None] * ax[:, None, :] / denominator[:, None, None]
            a += x[:, :, None] * x[:, None, :]
            b += clicked[:, slot, None] * x
        a_all[ids], a_inv_all[ids], b_all[ids] = a, a_inv, b
        return {}
