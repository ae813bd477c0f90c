"""The "LLM predictor + cosine" recommender: language-model item vectors, an online user
vector, and cos x P.

    item vector   v_i = LM(text of item i)              (frozen, centred, L2-normalised)
    user vector   u   = learned after every step, one of (``config.user_model``):
                        'ridge' (default): W theta, theta the posterior mean (or, with
                            ``ts_scale`` > 0, a Thompson draw) of a per-user Bayesian ridge
                            regression of click on the item's whitened principal components,
                            its prior mean the population's regression, forgetting old
                            evidence (:mod:`.user_model`);
                        'rocchio' (the literal seed, ``llm-cosine-seed``): decayed sum of
                            clicked minus skip_weight x skipped item vectors + prior_weight x
                            the population's click direction
    P(y | x)          = sigmoid(MLP(embed(u, v, position)) + b_i)  (one Adam step per step);
                        b_i, the item term, is the item's shrunk click log-odds pooled over
                        users (``item_bias``; 0 for the seed), so the MLP learns the rest
    slate             = top-k of cos(u, v) * P(y | x) at position 0, then epsilon-greedy

Ranking is two-stage when ``candidates`` < N: the ``candidates`` items of highest cosine are
retrieved (exactly, :mod:`.retrieval`), then re-ranked by cos x P
(:mod:`.rerank`; the predictor costs ~projection_dim x hidden multiply-adds per
candidate). A user with no history gets the population's taste, not NaN: the ridge model's
prior mean, or the Rocchio vector's population direction (seeded with the catalog centroid).
"""

from __future__ import annotations

from collections.abc import Sequence

import numba as nb
import numpy as np
import torch

from adaptrec.agents.base import (
    StepBatch,
    UserKeys,
    candidate_sets,
    click_targets,
    explore,
    live_bounds,
    observed_user_ids,
    shown_in_history,
)
from adaptrec.agents.llm_cosine.parallel_blas import matmul_into, single_threaded_blas
from adaptrec.agents.llm_cosine.predictor import BehaviorPredictor
from adaptrec.agents.llm_cosine.profile import TextProfile, blend
from adaptrec.agents.llm_cosine.rerank import fused_scores, rerank_top_k
from adaptrec.agents.llm_cosine.retrieval import top_k_ids_with_scores
from adaptrec.agents.llm_cosine.user_model import RidgeUserModel
from adaptrec.core.config import LLMCosineConfig
from adaptrec.core.ranking import normalise_rows
from adaptrec.core.rng import Component, seed_sequence
from adaptrec.core.validation import check_array, check_int

_LANE_EXPLORE = 20
# Fused scores lie in [-1, 1]: subtracting 3 puts every recently shown item below every other.
_RECENT_PENALTY = 3.0


@nb.njit(cache=True, parallel=True)
def _weighted_item_sums(items, slates, weights):
    """``(B, d)`` float32: ``sum_s weights[b, s] * items[slates[b, s]]``, without the ``(B, k,
    d)`` gather (40 MB at B=1,024, d=384, k=10). Slots of weight 0 are skipped."""
    b, k = slates.shape
    out = np.zeros((b, items.shape[1]), dtype=np.float32)
    for row in nb.prange(b):
        for s in range(k):
            weight = weights[row, s]
            if weight != 0:
                item = slates[row, s]
                for j in range(items.shape[1]):
                    out[row, j] += weight * items[item, j]
    return out


class LLMCosineAgent:
    """The "LLM predictor + cosine" recommender, batched over users (the improved agent by
    default; :func:`~adaptrec.core.config.seed_agent_config` gives the literal seed).

    Args:
        item_vectors: ``(N, d)`` float, finite - item texts embedded by a language model.
        slate_size: ``k``.
        config: hyperparameters (:class:`~adaptrec.core.config.LLMCosineConfig`).
        seed: root seed; the predictor's initial weights and the exploration streams derive
            from it.
        agent_index: separates this agent's streams from other agents' in the same run.

    Learned state: ``user_model`` (:class:`.user_model.RidgeUserModel`, or None for Rocchio),
    ``user_sums_`` ``(n_users_seen, d)`` float32 and ``click_sum_`` ``(d,)`` (Rocchio),
    ``item_examined_``/``item_clicks_`` ``(N,)`` float64 (the item term's evidence),
    ``predictor`` (torch module) and its optimiser.
    """

    name = "llm-cosine"
    explain = False
    """Set True to keep each act's score parts in ``last_explanation_`` (see
    :meth:`_explanation`); off, act computes nothing more."""

    def __init__(
        self,
        item_vectors: np.ndarray,
        slate_size: int,
        config: LLMCosineConfig | None = None,
        seed: int = 0,
        agent_index: int = 0,
        texts: Sequence[str] | None = None,
        encoder=None,
    ) -> None:
        check_array("item_vectors", item_vectors, shape=(None, None), kind="f", finite=True)
        n_items, dim = item_vectors.shape
        self.slate_size = check_int("slate_size", slate_size, low=1, high=n_items)
        self.config = config or LLMCosineConfig()
        self.seed = seed
        center = np.zeros(item_vectors.shape[1], dtype=np.float32)
        if self.config.center_items:
            mean = item_vectors.mean(axis=0, keepdims=True)
            item_vectors = item_vectors - mean
            center = mean[0].astype(np.float32)  # the text profile is centred the same way
        self.profile: TextProfile | None = None
        if self.config.text_profile > 0:
            if texts is None or encoder is None or len(texts) != item_vectors.shape[0]:
                raise ValueError(
                    "llm_cosine.text_profile > 0 needs the catalog's item texts and a text "
                    "encoder (texts=, encoder=); got "
                    f"{'no texts' if texts is None else f'{len(texts)} texts'} for "
                    f"{item_vectors.shape[0]} items"
                )
            self.profile = TextProfile(
                texts, encoder, self.config.profile_items, self.config.profile_every, center
            )
        self.items = normalise_rows(item_vectors)  # (N, d) float32, unit rows (zero rows stay 0)
        self.n_items, self.dim = n_items, dim
        self._items_t = torch.from_numpy(self.items)
        self._cosine_buffer: torch.Tensor | None = None
        # (ids, user vectors for P, ridge means) of the last act: state is unchanged until
        # the update that follows, which reuses them.
        self._acted: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        torch_seed = int(seed_sequence(seed, Component.AGENT, agent_index).generate_state(1)[0])
        self.predictor = BehaviorPredictor(
            dim,
            slate_size,
            self.config.projection_dim,
            self.config.hidden,
            generator=torch.Generator().manual_seed(torch_seed),
        )
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=self.config.learning_rate)
        self._keys = UserKeys(seed, agent_index)
        self.user_sums_ = np.zeros((0, dim), dtype=np.float32)
        # Pseudo-count of one "click" on the catalog centroid: the prior before any click.
        self.click_sum_ = self.items.mean(axis=0).astype(np.float64)
        self.user_model: RidgeUserModel | None = None
        if self.config.user_model == "ridge":
            self.user_model = RidgeUserModel(
                self.items,
                self.config.ridge_dim,
                self.config.ridge,
                self.config.forgetting,
                self._keys,
                detector=self.config.change_detector,
                change_threshold=self.config.change_threshold,
                change_slack=self.config.change_slack,
                fast_forgetting=self.config.fast_forgetting,
                glr_delta=self.config.glr_delta,
                glr_window=self.config.glr_window,
                prior=self.config.ridge_prior,
                noise_variance=self.config.noise_variance,
                prior_smoothing=self.config.prior_smoothing,
            )
        # Pooled per-item evidence of the item term: examinations and clicks, (N,) float64.
        self.item_examined_ = np.zeros(n_items)
        self.item_clicks_ = np.zeros(n_items)
        # (item term (N,) float32, retrieval weights (N,) float32), until the counts change.
        self._item_term: tuple[np.ndarray, np.ndarray] | None = None
        self._private = False  # learnt from randomised-response clicks (adaptrec.privacy)

    # ---- state --------------------------------------------------------------------------
    def _grow(self, user_ids: np.ndarray) -> None:
        top = int(user_ids.max()) + 1 if user_ids.size else 0
        if top > len(self.user_sums_):
            extra = np.zeros((top - len(self.user_sums_), self.dim), dtype=np.float32)
            self.user_sums_ = np.concatenate([self.user_sums_, extra])

    def population_prior(self) -> np.ndarray:
        """``(d,)`` float32 unit vector: the direction of all clicks so far."""
        norm = np.linalg.norm(self.click_sum_)
        return (self.click_sum_ / (norm if norm > 0 else 1.0)).astype(np.float32)

    def user_vectors(self, user_ids: np.ndarray) -> np.ndarray:
        """``(B, d)`` float32 current estimates for ``user_ids`` (unknown ids get the prior):
        the Rocchio sum, or the ridge posterior mean as a unit vector in the items' space."""
        if self.user_model is not None:
            mean, _ = self.user_model.coefficients(user_ids)
            return normalise_rows(self.user_model.to_item_space(mean))
        self._grow(user_ids)
        return self.user_sums_[user_ids] + self.config.prior_weight * self.population_prior()

    def _item_terms(self) -> tuple[np.ndarray, np.ndarray]:
        """The item term and the retrieval weights (see :meth:`item_bias`), computed once per
        change of the counts: act reads them twice and update once."""
        if self._item_term is None:
            strength = self.config.item_bias
            if strength == 0:
                bias = np.zeros(self.n_items, dtype=np.float32)
                weights = np.ones(self.n_items, dtype=np.float32)  # plain cosine retrieval
            else:
                item_clicks = self.item_clicks_
                if self._private:  # estimated clicks may leave [0, examined]: a rate must not
                    item_clicks = np.clip(item_clicks, 0.0, self.item_examined_)
                examined, clicks = self.item_examined_.sum(), item_clicks.sum()
                rate = (clicks + 1.0) / (examined + 2.0)
                odds = (item_clicks + strength * rate) / (
                    self.item_examined_ - item_clicks + strength * (1.0 - rate)
                )
                bias = (np.log(odds) - np.log(rate / (1.0 - rate))).astype(np.float32)
                # The item's shrunk click rate: sigmoid(bias + the global log-odds).
                logit = bias + np.float32(np.log(rate / (1.0 - rate)))
                weights = (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
            self._item_term = (bias, weights)
        return self._item_term

    def item_bias(self) -> np.ndarray:
        """``(N,)`` float32 per-item logit offset of P(y|x): each item's click log-odds once
        examined, shrunk towards the global rate by ``config.item_bias`` pseudo-examinations,
        minus the global log-odds (zeros when the term is off)."""
        return self._item_terms()[0]

    def _retrieval_weights(self) -> np.ndarray:
        """``(N,)`` float32 population click probability of each item (the item term alone, at
        the global rate), by which the first stage weighs the cosine so that it retrieves
        what cos x P will rank high; ones (plain cosine) when the item term is off."""
        return self._item_terms()[1]

    def _buffer(self, rows: int) -> np.ndarray:
        """``(rows, N)`` float32 view of the cosine buffer kept between steps: a fresh 40 MB
        result (B=1,024, N=10,000) costs page faults on every step."""
        if self._cosine_buffer is None or len(self._cosine_buffer) < rows:
            self._cosine_buffer = torch.empty(rows, self.n_items)
        return self._cosine_buffer[:rows].numpy()

    # ---- act ----------------------------------------------------------------------------
    def _cosine_rows(
        self, users: np.ndarray, project_items: bool = False, lo: int = 0, hi: int | None = None
    ) -> np.ndarray:
        """``(B, hi - lo)`` float32 unclipped cosines of ``users`` with items ``lo..hi-1``
        (default: every item), written into a buffer kept between steps: a fresh 40 MB
        result (B=1,024, N=10,000) costs page faults on every step.

        With ``project_items``, the predictor's item projection (``r`` more rows against the
        same items) rides along in the same product, and the projected catalog is handed to
        the predictor for this step's ranking and update.
        """
        b = len(users)
        left = normalise_rows(users)
        if project_items:
            weight = self.predictor.item_projection.weight.detach().numpy()
            left = np.concatenate([left, weight])
        out = self._buffer(len(left))
        matmul_into(left, self.items.T, out)
        if project_items:
            table = torch.from_numpy(np.ascontiguousarray(out[b:].T))
            self.predictor.remember_item_table(self._items_t, table)
        hi = self.n_items if hi is None else hi
        return out[:b] if (lo, hi) == (0, self.n_items) else out[:b, lo:hi]

    def scores(self, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """cos x P for each user's candidates.

        Args:
            users: ``(B, d)`` float32 user vectors.
            candidates: ``(B, C)`` int64 item indices.

        Returns:
            ``(B, C)`` float32 fused scores.
        """
        users = np.ascontiguousarray(users, dtype=np.float32)
        candidates = np.ascontiguousarray(candidates, dtype=np.int64)
        parts = self.predictor.ranking_parts(
            torch.from_numpy(users), self._items_t, candidates=candidates
        )
        with single_threaded_blas():
            cos = np.take_along_axis(self._cosine_rows(users), candidates, axis=1)
            return fused_scores(np.clip(cos, -1.0, 1.0), candidates, *parts, self.item_bias())

    @torch.no_grad()
    def click_probability(self, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """P(click | user, item, slot 0): ``(B, C)`` float32."""
        logits = self.predictor.score_candidates(
            torch.from_numpy(np.ascontiguousarray(users, dtype=np.float32)),
            self._items_t,
            torch.from_numpy(np.array(candidates, dtype=np.int64)),  # a writable copy
        )
        return torch.sigmoid(logits + torch.from_numpy(self.item_bias()[candidates])).numpy()

    def _ridge_cosine_rows(
        self, theta: np.ndarray, project_items: bool, lo: int = 0, hi: int | None = None
    ) -> np.ndarray:
        """``(B, hi - lo)`` float32 cos(u, v) of items ``lo..hi-1`` for ``u = W theta[:, :-1]``
        (``theta`` ``(B, D)`` float64), computed in the ridge model's ``D``-dimensional space:
        ``u . v_i = theta . (W' v_i)`` and ``|u|`` from ``W'W``, a product 12x smaller than the
        one in the language model's space (D = 33 against d = 384) with the same result up to
        rounding. Written into the buffer :meth:`_cosine_rows` keeps; with ``project_items``
        the predictor's projected catalog is made ready for this step."""
        model = self.user_model
        hi = self.n_items if hi is None else hi
        directions = theta[:, :-1]
        norms = np.sqrt(np.einsum("bi,ij,bj->b", directions, model.gram, directions))
        left = (directions / np.where(norms > 0, norms, 1.0)[:, None]).astype(np.float32)
        out = self._buffer(len(left))
        if (lo, hi) != (0, self.n_items):  # a C-ordered (B, hi - lo) block of the buffer
            out = out.reshape(-1)[: len(left) * (hi - lo)].reshape(len(left), hi - lo)
        matmul_into(left, model.item_directions[lo:hi].T, out)
        if project_items:
            self.predictor.item_table(self._items_t)
        return out

    def _act_cosines(
        self, ids: np.ndarray, steps: np.ndarray, project_items: bool, lo: int, hi: int
    ):
        """The ``(B, hi - lo)`` cosines with items ``lo..hi-1`` ranked (of the estimate, or of
        a Thompson draw from its posterior); remembers the user vectors for P (``(B, d)``
        float32, the estimate) and the ridge means for the update."""
        weight = self.config.text_profile
        if self.user_model is None:
            users = self.user_vectors(ids)
            if self.profile is not None:
                users = blend(users, self.profile.vectors(ids, steps), weight)
            self._acted = (ids.copy(), users, None)
            return self._cosine_rows(users, project_items, lo, hi)
        mean, draw = self.user_model.coefficients(ids, steps, self.config.ts_scale)
        users = normalise_rows(self.user_model.to_item_space(mean))
        if self.profile is not None:  # the blend lives in the items' space: a d-wide cosine
            profiles = self.profile.vectors(ids, steps)
            drawn = normalise_rows(self.user_model.to_item_space(draw))
            users = blend(users, profiles, weight)
            self._acted = (ids.copy(), users, mean)
            return self._cosine_rows(blend(drawn, profiles, weight), project_items, lo, hi)
        self._acted = (ids.copy(), users, mean)
        return self._ridge_cosine_rows(draw, project_items, lo, hi)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        if "live" not in observation or "candidates" in observation:
            return self._act(observation, ids, 0, self.n_items)
        # A changing catalog: rank the live items only, one pass per distinct live range (a
        # batch at one step has one; a vector env's users may be at different steps).
        lo, hi = live_bounds(observation, self.n_items)
        ranges, which = np.unique(np.stack([lo, hi], axis=1), axis=0, return_inverse=True)
        which = which.reshape(-1)
        if len(ranges) == 1:
            return self._act(observation, ids, int(ranges[0, 0]), int(ranges[0, 1]))
        slates = np.empty((len(ids), self.slate_size), dtype=np.int64)
        users = np.empty((len(ids), self.dim), dtype=np.float32)
        means = None if self.user_model is None else np.empty((len(ids), self.user_model.dim))
        propensity = np.full(slates.shape, np.nan)
        explanation: dict[str, np.ndarray] = {}
        for group, (first, end) in enumerate(ranges):
            rows = np.flatnonzero(which == group)
            part = {key: np.asarray(value)[rows] for key, value in observation.items()}
            slates[rows] = self._act(part, ids[rows], int(first), int(end))
            _, users[rows], mean = self._acted
            if means is not None:
                means[rows] = mean
            if self.last_propensity_ is not None:
                propensity[rows] = self.last_propensity_
            for key, value in (self.last_explanation_ if self.explain else {}).items():
                explanation.setdefault(key, np.empty((len(ids), *value.shape[1:]), value.dtype))
                explanation[key][rows] = value
        self._acted = (ids.copy(), users, means)
        self.last_propensity_ = None if np.isnan(propensity).any() else propensity
        if self.explain:
            self.last_explanation_ = explanation
        return slates

    def _act(self, observation: dict[str, np.ndarray], ids: np.ndarray, lo: int, hi: int):
        """Slates for ``ids`` from the items ``lo..hi-1`` (the live ones)."""
        steps = np.asarray(observation["step"])
        given = candidate_sets(observation, self.n_items)
        n_live = hi - lo if given is None else given.shape[1]
        n_candidates = self.config.candidates
        two_stage = 0 < n_candidates < n_live and n_candidates >= self.slate_size
        two_stage = two_stage and given is None
        per_user = n_candidates if two_stage else n_live
        # The predictor needs the whole projected catalog when the candidates cover it.
        cos = self._act_cosines(ids, steps, len(ids) * per_user >= self.n_items, lo, hi)
        users = self._acted[1]
        if given is not None:
            # The user's own candidates (e.g. a person's randomly exposed items), ascending
            # within a row: the re-ranking keeps "ties to the lower id".
            candidates = np.sort(given, axis=1)
            cos = np.clip(np.take_along_axis(cos, candidates, axis=1), -1.0, 1.0)
        elif two_stage:
            # Exact top-C of the clipped cosine, ids ascending within a row (which keeps "ties
            # to the lower id" in the re-ranking below); the clip is applied on the fly.
            weights = self._retrieval_weights()
            if (lo, hi) != (0, self.n_items):
                cos = np.ascontiguousarray(cos)
                weights = np.ascontiguousarray(weights[lo:hi])
            candidates, cos = top_k_ids_with_scores(cos, n_candidates, True, weights)
            candidates += lo
        else:
            candidates = np.broadcast_to(np.arange(lo, hi), cos.shape).copy()
            cos = np.clip(cos, -1.0, 1.0)
        parts = self.predictor.ranking_parts(
            torch.from_numpy(users), self._items_t, candidates=candidates
        )
        history = observation.get("items") if self.config.avoid_recent else None
        if history is None:
            history = np.empty((len(ids), 0, 0), dtype=np.int64)
        history = np.ascontiguousarray(history, dtype=np.int64)
        if len(history) != len(ids) or (history.size and history.max() >= self.n_items):
            raise ValueError(
                f"observation['items'] must be ({len(ids)}, H, k) item indices below "
                f"{self.n_items} (-1 for empty), got shape {history.shape} and max "
                f"{history.max() if history.size else None}"
            )
        # With explanations, the kernel also hands back each candidate's P (B, C).
        probability = np.empty(cos.shape, dtype=np.float32) if self.explain else None
        with single_threaded_blas():  # the kernel is parallel over users already
            slates = rerank_top_k(
                cos,
                candidates,
                *parts,
                self.item_bias(),
                history,
                np.float32(_RECENT_PENALTY),
                self.slate_size,
                probability,
            )
        live = None
        if (lo, hi) != (0, self.n_items):
            live = (np.full(len(ids), lo, dtype=np.int64), np.full(len(ids), hi, dtype=np.int64))
        greedy = slates
        slates = explore(
            slates,
            self._keys(ids),
            steps,
            self.n_items,
            self.config.epsilon,
            _LANE_EXPLORE,
            self,
            live,
            given,
        )
        if self.explain:
            self.last_explanation_ = self._explanation(
                cos, candidates, probability, history, greedy, slates, two_stage
            )
        if self.user_model is not None and self.config.ts_scale > 0:
            self.last_propensity_ = None  # a posterior draw's top-k has no closed-form probability
        return slates

    def _explanation(self, cos, candidates, probability, history, greedy, slates, two_stage):
        """The parts of each shown item's score, ``(B, k)`` each, exactly as ranked.

        ``score = cosine * click_probability - recent_penalty`` in float32, the same operations
        as the re-ranking kernel, with ``click_probability`` ``(B, C)`` the P that kernel
        computed; ``item_term`` is the item's logit offset inside P.
        ``rank_first_stage``: the item's rank among the candidates by the first stage's score
        (the cosine, times the item's population click rate when the item term is on);
        ``rank_reranked``: its rank by ``score`` (its slot, for an item the greedy slate
        holds); both -1 for an explored item outside the candidates. ``explored``: the slot was
        replaced by exploration. NaN where a part does not exist.
        """
        rows = np.arange(len(slates))[:, None]
        recent = shown_in_history(history, self.n_items)[rows, candidates]
        penalty = np.where(recent, np.float32(_RECENT_PENALTY), np.float32(0.0))
        score = cos * probability - penalty  # (B, C) float32, as the kernel computes it
        first = cos * self._retrieval_weights()[candidates] if two_stage else cos
        match = candidates[:, None, :] == slates[:, :, None]  # (B, k, C)
        found = match.any(axis=2)
        at = match.argmax(axis=2)

        def gather(values):
            return np.where(found, values[rows, at], np.nan).astype(np.float32)

        def rank(values):
            # Ties go to the lower id, i.e. the earlier candidate (ids ascend within a row).
            mine = values[rows, at][:, :, None]
            before = np.arange(candidates.shape[1])[None, None, :] < at[:, :, None]
            higher = (values[:, None, :] > mine) | ((values[:, None, :] == mine) & before)
            return np.where(found, higher.sum(axis=2), -1).astype(np.int16)

        return {
            "score": gather(score),
            "score_cosine": gather(cos),
            "score_click_probability": gather(probability),
            "score_item_term": self.item_bias()[slates].astype(np.float32),
            "score_recent_penalty": gather(penalty),
            "rank_first_stage": rank(first),
            "rank_reranked": rank(score),
            "explored": slates != greedy,
        }

    # ---- update -------------------------------------------------------------------------
    def update(self, batch: StepBatch) -> dict[str, float]:
        ids = batch.user_ids
        # The vectors the slates were made with (kept from act when it was these users).
        acted, self._acted = self._acted, None
        same = acted is not None and np.array_equal(acted[0], ids)
        users = torch.from_numpy(acted[1] if same else self.user_vectors(ids))
        theta = acted[2] if same else None
        loss_value = float("nan")
        targets = click_targets(batch)  # (B, k) float64: the clicks, debiased under privacy
        if self.config.updates_per_step:
            slates = torch.from_numpy(np.ascontiguousarray(batch.slates, dtype=np.int64))
            # Under privacy the debiased clicks: BCE's gradient sigmoid(t) - y is then an
            # unbiased estimate of the true one (Natarajan et al., NeurIPS 2013).
            labels = torch.from_numpy(targets.astype(np.float32))
            # The item term is an offset (not a parameter): the MLP learns what it leaves.
            offset = torch.from_numpy(self.item_bias()[batch.slates])
            for _ in range(self.config.updates_per_step):
                # predictor(users, items[slates], positions), without gathering (B, k, d)
                logits = (
                    self.predictor.logits_from_projections(
                        self.predictor.user_projection(users)[:, None, :],
                        self.predictor.project_items(self._items_t, slates),
                        None,  # slot s of every slate at position s
                    )
                    + offset
                )
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
            loss_value = float(loss.detach())

        slates = np.ascontiguousarray(batch.slates, dtype=np.int64)
        clicked = np.asarray(batch.clicked, dtype=bool)
        examined = clicked | np.asarray(batch.skipped, dtype=bool)
        self._private = self._private or batch.click_flip > 0
        if self.profile is not None:
            self.profile.update(ids, slates, clicked)
        if self.config.item_bias > 0:
            np.add.at(self.item_examined_, slates[examined], 1.0)
            if self._private:
                np.add.at(self.item_clicks_, slates[examined], targets[examined])
            else:
                np.add.at(self.item_clicks_, slates[clicked], 1.0)
            self._item_term = None
        if self.user_model is not None:
            self.user_model.update(ids, slates, clicked, examined, theta, targets)
            return {"loss": loss_value}
        # Rocchio user vectors: forget a little, then add clicks and subtract skips.
        clicks = targets.astype(np.float32)
        skips = 1.0 - clicks if batch.click_flip > 0 else batch.skipped  # all slots examined
        signal = clicks - np.float32(self.config.skip_weight) * skips
        step_sum = _weighted_item_sums(self.items, slates, signal)
        self.user_sums_[ids] = self.config.user_decay * self.user_sums_[ids] + step_sum
        self.click_sum_ += _weighted_item_sums(self.items, slates, clicks).sum(axis=0)
        return {"loss": loss_value}
