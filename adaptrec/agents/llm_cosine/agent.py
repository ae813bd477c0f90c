"""The seed recommender: language-model item vectors, an online user vector, and cos x P.

    item vector   v_i = LM(text of item i)              (frozen, L2-normalised)
    user vector   u   = decayed sum of clicked minus skip_weight x skipped item vectors
                        + prior_weight x population prior   (updated after every step)
    P(y | x)          = sigmoid(MLP(embed(u, v, position)))  (one Adam step after every step)
    slate             = top-k of cos(u, v) * P(y | x) at position 0, then epsilon-greedy

Ranking is two-stage when ``candidates`` < N: the ``candidates`` items of highest cosine are
retrieved (exactly, :mod:`.retrieval`), then re-ranked by cos x P
(:mod:`.rerank`; the predictor costs ~projection_dim x hidden multiply-adds per
candidate). The population prior is the direction of all clicks so far
(seeded with the catalog centroid), so a user with no history gets a sensible slate, not NaN.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch

from adaptrec.agents.base import (
    StepBatch,
    UserKeys,
    explore,
    observed_user_ids,
)
from adaptrec.agents.llm_cosine.parallel_blas import matmul_into, single_threaded_blas
from adaptrec.agents.llm_cosine.predictor import BehaviorPredictor
from adaptrec.agents.llm_cosine.rerank import fused_scores, rerank_top_k
from adaptrec.agents.llm_cosine.retrieval import top_k_ids_with_scores
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
    """The "LLM predictor + cosine" recommender, batched over users.

    Args:
        item_vectors: ``(N, d)`` float, finite - item texts embedded by a language model.
        slate_size: ``k``.
        config: hyperparameters (:class:`~adaptrec.core.config.LLMCosineConfig`).
        seed: root seed; the predictor's initial weights and the exploration streams derive
            from it.
        agent_index: separates this agent's streams from other agents' in the same run.

    Learned state: ``user_sums_`` ``(n_users_seen, d)`` float32, ``click_sum_`` ``(d,)``,
    ``predictor`` (torch module) and its optimiser.
    """

    name = "llm-cosine"

    def __init__(
        self,
        item_vectors: np.ndarray,
        slate_size: int,
        config: LLMCosineConfig | None = None,
        seed: int = 0,
        agent_index: int = 0,
    ) -> None:
        check_array("item_vectors", item_vectors, shape=(None, None), kind="f", finite=True)
        n_items, dim = item_vectors.shape
        self.slate_size = check_int("slate_size", slate_size, low=1, high=n_items)
        self.config = config or LLMCosineConfig()
        self.seed = seed
        if self.config.center_items:
            item_vectors = item_vectors - item_vectors.mean(axis=0, keepdims=True)
        self.items = normalise_rows(item_vectors)  # (N, d) float32, unit rows (zero rows stay 0)
        self.n_items, self.dim = n_items, dim
        self._items_t = torch.from_numpy(self.items)
        self._cosine_buffer: torch.Tensor | None = None
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
        """``(B, d)`` float32 current estimates for ``user_ids`` (unknown ids get the prior)."""
        self._grow(user_ids)
        return self.user_sums_[user_ids] + self.config.prior_weight * self.population_prior()

    # ---- act ----------------------------------------------------------------------------
    def _cosine_rows(self, users: np.ndarray, project_items: bool = False) -> np.ndarray:
        """``(B, N)`` float32 unclipped cosines of ``users`` with every item, written into a
        buffer kept between steps: a fresh 40 MB result (B=1,024, N=10,000) costs page faults
        on every step.

        With ``project_items``, the predictor's item projection (``r`` more rows against the
        same items) rides along in the same product, and the projected catalog is handed to
        the predictor for this step's ranking and update.
        """
        b = len(users)
        left = normalise_rows(users)
        if project_items:
            weight = self.predictor.item_projection.weight.detach().numpy()
            left = np.concatenate([left, weight])
        if self._cosine_buffer is None or len(self._cosine_buffer) < len(left):
            self._cosine_buffer = torch.empty(len(left), self.n_items)
        out = self._cosine_buffer[: len(left)].numpy()
        matmul_into(left, self.items.T, out)
        if project_items:
            table = torch.from_numpy(np.ascontiguousarray(out[b:].T))
            self.predictor.remember_item_table(self._items_t, table)
        return out[:b]

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
            return fused_scores(np.clip(cos, -1.0, 1.0), candidates, *parts)

    @torch.no_grad()
    def click_probability(self, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """P(click | user, item, slot 0): ``(B, C)`` float32."""
        logits = self.predictor.score_candidates(
            torch.from_numpy(np.ascontiguousarray(users, dtype=np.float32)),
            self._items_t,
            torch.from_numpy(np.array(candidates, dtype=np.int64)),  # a writable copy
        )
        return torch.sigmoid(logits).numpy()

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        users = self.user_vectors(ids)
        n_candidates = self.config.candidates
        two_stage = 0 < n_candidates < self.n_items and n_candidates >= self.slate_size
        per_user = n_candidates if two_stage else self.n_items
        # The predictor needs the whole projected catalog when the candidates cover it.
        cos = self._cosine_rows(users, project_items=len(ids) * per_user >= self.n_items)
        if two_stage:
            # Exact top-C of the clipped cosine, ids ascending within a row (which keeps "ties
            # to the lower id" in the re-ranking below); the clip is applied on the fly.
            candidates, cos = top_k_ids_with_scores(cos, n_candidates, True)
        else:
            candidates = np.broadcast_to(np.arange(self.n_items), cos.shape).copy()
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
        with single_threaded_blas():  # the kernel is parallel over users already
            slates = rerank_top_k(
                cos, candidates, *parts, history, np.float32(_RECENT_PENALTY), self.slate_size
            )
        return explore(
            slates,
            self._keys(ids),
            np.asarray(observation["step"]),
            self.n_items,
            self.config.epsilon,
            _LANE_EXPLORE,
            agent=self,
        )

    # ---- update -------------------------------------------------------------------------
    def update(self, batch: StepBatch) -> dict[str, float]:
        ids = batch.user_ids
        users = torch.from_numpy(self.user_vectors(ids))  # the vectors the slates were made with
        loss_value = float("nan")
        if self.config.updates_per_step:
            slates = torch.from_numpy(np.ascontiguousarray(batch.slates, dtype=np.int64))
            labels = torch.from_numpy(batch.clicked.astype(np.float32))
            for _ in range(self.config.updates_per_step):
                # predictor(users, items[slates], positions), without gathering (B, k, d)
                logits = self.predictor.logits_from_projections(
                    self.predictor.user_projection(users)[:, None, :],
                    self.predictor.project_items(self._items_t, slates),
                    None,  # slot s of every slate at position s
                )
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
            loss_value = float(loss.detach())

        # User vectors: forget a little, then add clicks and subtract skips.
        clicks = batch.clicked.astype(np.float32)
        signal = clicks - np.float32(self.config.skip_weight) * batch.skipped
        slates = np.ascontiguousarray(batch.slates, dtype=np.int64)
        step_sum = _weighted_item_sums(self.items, slates, signal)
        self.user_sums_[ids] = self.config.user_decay * self.user_sums_[ids] + step_sum
        self.click_sum_ += _weighted_item_sums(self.items, slates, clicks).sum(axis=0)
        return {"loss": loss_value}
