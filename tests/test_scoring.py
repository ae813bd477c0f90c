import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adaptrec.agents.llm_cosine.predictor import BehaviorPredictor
from adaptrec.core.ranking import cosine, fuse, top_k


def test_cosine_is_bounded_scale_invariant_and_zero_for_zero_vectors():
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(3, 8)), rng.normal(size=(5, 8))
    base = cosine(users, items)
    assert base.shape == (3, 5) and base.dtype == np.float32
    np.testing.assert_allclose(cosine(users * 1e6, items * 1e-6), base, atol=1e-6)
    assert (np.abs(base) <= 1).all()
    zero = cosine(np.zeros((1, 8)), items)
    assert np.array_equal(zero, np.zeros((1, 5), np.float32))
    huge = cosine(np.full((1, 8), 1e38), np.full((1, 8), 1e-38))
    np.testing.assert_allclose(huge, 1.0, atol=1e-6)


def test_cosine_rejects_nan_and_mismatched_widths():
    with pytest.raises(ValueError, match="users must be finite, got 1 NaN/inf"):
        cosine(np.array([[np.nan, 1.0]]), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"items must have shape \(any, 2\), got \(2, 3\)"):
        cosine(np.ones((1, 2)), np.ones((2, 3)))


def test_top_k_orders_by_score_and_breaks_ties_by_lower_index():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 0.0]])
    assert top_k(scores, 2).tolist() == [[1, 2]]
    assert top_k(scores, 4).tolist() == [[1, 2, 4, 3]]
    assert sorted(top_k(scores, 6)[0].tolist()) == list(range(6))


def test_top_k_rejects_bad_k_and_non_finite_scores():
    with pytest.raises(ValueError, match="k must be <= 3, got 4"):
        top_k(np.zeros((1, 3)), 4)
    with pytest.raises(ValueError, match="scores must be finite"):
        top_k(np.array([[0.0, np.inf]]), 1)


@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 40)),
        elements=st.integers(-3, 3).map(float),
    ),
    st.data(),
)
def test_top_k_equals_a_stable_full_sort(scores, data):
    # Small integer scores make ties common: the bug this catches is arbitrary tie order from
    # argpartition at the cut.
    k = data.draw(st.integers(1, scores.shape[1]))
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    assert np.array_equal(top_k(scores, k), expected)


def test_fusion_amplifies_dislike_for_negative_cosine():
    # Documented: with cos < 0 a higher P makes the score lower.
    assert fuse(np.float32(-0.5), np.float32(0.9)) < fuse(np.float32(-0.5), np.float32(0.1))
    assert fuse(np.float32(0.5), np.float32(0.9)) > fuse(np.float32(0.5), np.float32(0.1))


def test_candidate_scoring_matches_the_training_forward_pass():
    generator = torch.Generator().manual_seed(0)
    model = BehaviorPredictor(16, 4, projection_dim=6, hidden=10, generator=generator)
    users, items = torch.randn(3, 16), torch.randn(20, 16)
    # 3 x 7 = 21 candidates > 20 items takes the whole-catalog path, 3 x 2 the candidate path
    for candidates in (torch.randint(0, 20, (3, 7)), torch.randint(0, 20, (3, 2))):
        check_paths(model, users, items, candidates)


def check_paths(model, users, items, candidates):
    b, c = candidates.shape
    for position in range(4):
        with torch.no_grad():
            reference = model(users[:, None, :], items[candidates], torch.full((b, c), position))
        fast = model.score_candidates(users, items, candidates, position)
        torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)


def test_predictor_initialisation_comes_from_the_given_generator():
    def weights(seed):
        model = BehaviorPredictor(8, 3, generator=torch.Generator().manual_seed(seed))
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(weights(1), weights(1))
    assert not torch.equal(weights(1), weights(2))


def test_projected_rows_give_the_plain_forward_and_weight_gradient():
    # Catches: a stale projected catalog after an optimiser step or a different catalog; a
    # scatter that drops repeated items; a gradient that differs from items[index] @ W.T's.
    model = BehaviorPredictor(8, 3, projection_dim=4, hidden=6, generator=torch.Generator())
    items = torch.randn(15, 8)
    index = torch.tensor(
        [[0, 3, 3, 3, 2, 9, 1, 1], [14, 0, 7, 7, 5, 5, 12, 2]]
    )  # > 15 ids, repeats
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3):
        weight = model.item_projection.weight
        grad_out = torch.randn(2, 8, 4)
        fast = model.project_items(items, index)
        (fast * grad_out).sum().backward()
        fast_grad = weight.grad.clone()
        weight.grad = None
        plain = items[index] @ weight.T
        (plain * grad_out).sum().backward()
        torch.testing.assert_close(fast, plain, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(fast_grad, weight.grad, rtol=1e-5, atol=1e-6)
        optimizer.step()  # the cached projection must follow the new weight
        optimizer.zero_grad()
    other = torch.randn(15, 8)
    torch.testing.assert_close(model.item_table(other), model.item_projection(other))
    other.mul_(2.0)  # in place: the same tensor, new values
    torch.testing.assert_close(model.item_table(other), model.item_projection(other))


def test_whole_slate_logits_equal_the_one_hot_positions():
    # Catches: the broadcast slot term using the wrong columns of the hidden layer.
    model = BehaviorPredictor(8, 5, projection_dim=4, hidden=6, generator=torch.Generator())
    pu, pv = torch.randn(3, 1, 4), torch.randn(3, 4, 4)  # slates of 4 in a 5-slot model
    positions = torch.arange(4).expand(3, -1)
    torch.testing.assert_close(
        model.logits_from_projections(pu, pv, None),
        model.logits_from_projections(pu, pv, positions),
    )
