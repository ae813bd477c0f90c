"""The compiled ranking kernels (retrieval, re-ranking, the split BLAS product) against plain
numpy/torch references of the same definitions."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adaptrec.agents.llm_cosine.parallel_blas import (
    matmul_into,
    single_threaded_blas,
    transposed_matmul,
)
from adaptrec.agents.llm_cosine.predictor import BehaviorPredictor
from adaptrec.agents.llm_cosine.rerank import fused_scores, rerank_top_k
from adaptrec.agents.llm_cosine.retrieval import top_k_ids
from adaptrec.core.ranking import top_k_items
from adaptrec.rollout import torch_threads


def reference_top_ids(scores, c, clip):
    ranked = np.clip(scores, -1, 1) if clip else scores
    return np.sort(np.argsort(-ranked, axis=1, kind="stable")[:, :c], axis=1)


# Few distinct values (many ties at the cut) and values past +-1 (the clip matters).
tied_scores = st.integers(1, 6).flatmap(
    lambda rows: st.integers(2, 400).flatmap(
        lambda n: arrays(
            np.float32, (rows, n), elements=st.sampled_from([-2.0, -1.0, 0.0, 0.25, 0.5, 1.0, 1.5])
        )
    )
)


@settings(max_examples=150, deadline=None)
@given(tied_scores, st.data(), st.booleans())
def test_top_k_ids_is_the_stable_sort_prefix_as_a_set(scores, data, clip):
    # Catches: ties at the cut resolved to a higher index; the clip ignored; the sampled
    # threshold dropping items; the fallback never taken.
    c = data.draw(st.integers(1, scores.shape[1]))
    np.testing.assert_array_equal(top_k_ids(scores, c, clip), reference_top_ids(scores, c, clip))


def test_top_k_ids_on_continuous_scores_and_when_the_sample_overshoots():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(8, 10_000)).astype(np.float32)
    # Row 0: every 6th item (the sampled ones) is high for the first 100 samples, so the
    # sampled threshold is beaten by only 100 < c items and the kernel must scan everything.
    scores[0] = 0.0
    scores[0, :600:6] = 1.0
    scores[1] = 0.0  # all tied: the lowest c indices
    for c in (1, 10, 200, 9_999):
        np.testing.assert_array_equal(
            top_k_ids(scores, c, clip=True), reference_top_ids(scores, c, clip=True)
        )
    assert top_k_ids(scores, 200)[1].tolist() == list(range(200))


def test_top_k_ids_rejects_bad_input():
    with pytest.raises(ValueError, match="c must be"):
        top_k_ids(np.zeros((2, 5), np.float32), 6)
    with pytest.raises(ValueError, match="scores must be finite"):
        top_k_ids(np.array([[0.0, np.nan]], np.float32), 1)


def candidate_cos(cos, chosen):
    return np.clip(np.take_along_axis(cos, chosen, axis=1), -1, 1)


def ranking_inputs(seed, n_items=60, dim=12, users=5, candidates=17):
    generator = torch.Generator().manual_seed(seed)
    model = BehaviorPredictor(dim, 4, projection_dim=6, hidden=20, generator=generator)
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(n_items, dim)).astype(np.float32)
    items[1] = items[0]  # identical items: exactly tied scores
    user_vectors = rng.normal(size=(users, dim)).astype(np.float32)
    cos = (rng.uniform(-1.2, 1.2, size=(users, n_items))).astype(np.float32)
    cos[:, 1] = cos[:, 0]
    chosen = np.sort(
        np.stack([rng.choice(n_items, candidates, replace=False) for _ in range(users)]), axis=1
    )
    chosen[:, :2] = [0, 1]
    chosen = np.sort(chosen, axis=1)
    item_bias = rng.normal(size=n_items).astype(np.float32)  # the item term of P's logit
    item_bias[1] = item_bias[0]  # items 0 and 1 stay identical
    parts = (
        *model.ranking_parts(torch.from_numpy(user_vectors), torch.from_numpy(items)),
        item_bias,
    )
    return model, items, user_vectors, cos, chosen, parts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fused_scores_are_clipped_cosine_times_the_predictors_probability(seed):
    # Catches: the user/item blocks of the hidden layer swapped, the slot column, a bias or
    # the item term dropped (or taken for the wrong item), no clip, the ReLU or sigmoid
    # missing.
    model, items, users, cos, chosen, parts = ranking_inputs(seed)
    with single_threaded_blas():
        fast = fused_scores(candidate_cos(cos, chosen), chosen, *parts)
    logits = model.score_candidates(
        torch.from_numpy(users), torch.from_numpy(items), torch.from_numpy(chosen)
    )
    probability = torch.sigmoid(logits + torch.from_numpy(parts[-1][chosen])).numpy()
    expected = np.take_along_axis(np.clip(cos, -1, 1), chosen, 1) * probability
    np.testing.assert_allclose(fast, expected, rtol=1e-5, atol=1e-6)
    # Projecting only the candidates' rows (the few-users path) changes nothing they see.
    few = model.ranking_parts(
        torch.from_numpy(users), torch.from_numpy(items), candidates=chosen[:1]
    )
    assert (few[0][np.setdiff1d(np.arange(len(items)), chosen[0])] == 0).all()
    with single_threaded_blas():
        alone = fused_scores(
            candidate_cos(cos[:1], chosen[:1]),
            chosen[:1],
            few[0],
            *(part[:1] for part in few[1:3]),
            *few[3:],
            parts[-1],
        )
    np.testing.assert_allclose(alone[0], fast[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rerank_is_the_top_k_of_the_fused_scores_with_recent_items_demoted(seed):
    # Catches: ties not broken by the lower id, recency marks leaking to the next user, the
    # penalty not applied.
    _, _, _, cos, chosen, parts = ranking_inputs(seed)
    rng = np.random.default_rng(seed)
    history = rng.integers(-1, 60, size=(len(chosen), 3, 2))
    history[0] = -1
    history[1, 0, 0] = chosen[1, 5]
    with single_threaded_blas():
        fused = fused_scores(candidate_cos(cos, chosen), chosen, *parts)
        slates = rerank_top_k(
            candidate_cos(cos, chosen), chosen, *parts, history, np.float32(3.0), 6
        )
    for user in range(len(chosen)):
        recent = np.isin(chosen[user], history[user])
        scores = np.where(recent, fused[user] - np.float32(3.0), fused[user])
        expected = top_k_items(scores[None], chosen[user][None], 6)[0]
        np.testing.assert_array_equal(slates[user], expected)
    assert chosen[1, 5] not in slates[1][:1]  # demoted below the others
    order = slates[0].tolist()
    if 0 in order and 1 in order:  # identical items 0 and 1 tie: the lower id first
        assert order.index(0) < order.index(1)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_split_blas_products_equal_the_product_for_every_split(threads):
    # Catches: a row or catalog block dropped or written twice at some split.
    rng = np.random.default_rng(0)
    a = rng.normal(size=(301, 40)).astype(np.float32)
    b = rng.normal(size=(40, 77)).astype(np.float32)
    tall, wide = (rng.normal(size=(1_000, n)).astype(np.float32) for n in (7, 13))
    with torch_threads(threads):
        out = matmul_into(a, b, np.full((301, 77), np.nan, np.float32))
        gram = transposed_matmul(tall, wide)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gram, tall.T.astype(np.float64) @ wide, rtol=1e-4, atol=1e-4)


def test_rerank_keeps_the_lowest_ids_when_every_candidate_ties():
    # Catches: an equal score at the cut replacing the kept lower id.
    model = BehaviorPredictor(4, 2, projection_dim=3, hidden=5, generator=torch.Generator())
    items = np.ones((30, 4), np.float32)  # identical items: identical P
    users = np.ones((2, 4), np.float32)
    cos = np.full((2, 30), 0.5, np.float32)
    chosen = np.tile(np.arange(3, 30, 2), (2, 1))
    parts = (
        *model.ranking_parts(torch.from_numpy(users), torch.from_numpy(items)),
        np.zeros(30, np.float32),
    )
    history = np.full((2, 1, 1), -1)
    history[1, 0, 0] = 5
    with single_threaded_blas():
        slates = rerank_top_k(
            candidate_cos(cos, chosen), chosen, *parts, history, np.float32(3.0), 4
        )
    assert slates[0].tolist() == [3, 5, 7, 9]
    assert slates[1].tolist() == [3, 7, 9, 11]  # 5 was shown recently


def test_projected_catalog_from_the_cosine_product_is_the_predictors_projection():
    # Catches: the projection rows of the shared product transposed or offset; a table kept
    # after the update changed the weights.
    from adaptrec.agents import LLMCosineAgent, StepBatch
    from adaptrec.core.config import LLMCosineConfig

    rng = np.random.default_rng(0)
    items = rng.normal(size=(40, 16)).astype(np.float32)
    agent = LLMCosineAgent(items, 3, LLMCosineConfig(candidates=10), seed=0)
    observation = {"user_id": np.arange(8), "step": np.zeros(8, np.int64)}
    slates = agent.act(observation)  # 8 users x 10 candidates >= 40 items: the shared product
    projection = agent.predictor.item_projection
    with torch.no_grad():
        expected = projection(agent._items_t)
    table = agent.predictor.item_table(agent._items_t)
    torch.testing.assert_close(table, expected, rtol=1e-5, atol=1e-5)
    clicked = np.zeros((8, 3), bool)
    clicked[:, 0] = True
    agent.update(
        StepBatch(
            np.arange(8),
            np.zeros(8, np.int64),
            slates,
            clicked,
            ~clicked,
            np.zeros((8, 3), np.float32),
            np.ones(8),
        )
    )
    with torch.no_grad():
        moved = projection(agent._items_t)
    assert not torch.allclose(moved, expected)
    torch.testing.assert_close(agent.predictor.item_table(agent._items_t), moved)


def test_top_k_ids_returns_the_clipped_score_of_each_kept_item():
    from adaptrec.agents.llm_cosine.retrieval import top_k_ids_with_scores

    rng = np.random.default_rng(3)
    scores = rng.normal(0, 0.8, size=(4, 500)).astype(np.float32)
    ids, values = top_k_ids_with_scores(scores, 30, True, np.ones(500, np.float32))
    np.testing.assert_array_equal(values, np.clip(np.take_along_axis(scores, ids, 1), -1, 1))


def test_weighted_retrieval_ranks_by_score_times_weight_and_returns_plain_scores():
    # Catches: the weights ignored in the threshold, the selection or the tie count; the
    # weighted value returned instead of the cosine the second stage multiplies by P.
    from adaptrec.agents.llm_cosine.retrieval import top_k_ids_with_scores

    rng = np.random.default_rng(4)
    scores = rng.normal(0, 0.8, size=(5, 700)).astype(np.float32)
    weights = rng.uniform(0.05, 1.0, size=700).astype(np.float32)
    ids, values = top_k_ids_with_scores(scores, 40, True, weights)
    weighted = np.clip(scores, -1, 1) * weights
    expected = np.sort(np.argsort(-weighted, axis=1, kind="stable")[:, :40], axis=1)
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_array_equal(values, np.clip(np.take_along_axis(scores, ids, 1), -1, 1))
