"""The compiled step kernel against plain numpy references of the same model."""

import numpy as np
import pytest

from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import CatalogConfig, EnvConfig, UserConfig
from adaptrec.core.ranking import top_k
from adaptrec.core.rng import Component, uniforms, user_keys
from adaptrec.envs import UserPopulation, kernel


def test_kernel_uniforms_are_bit_identical_to_numpy_uniforms():
    keys = user_keys(3, Component.USER_STEP, np.arange(50))
    counters = np.arange(50, dtype=np.int64) * 7
    for lane in range(4):
        assert np.array_equal(
            kernel.uniforms_kernel(keys, counters, lane, 6), uniforms(keys, counters, lane, 6)
        )


def population(n_items=120, order_length=None, **users):
    catalog = make_catalog(CatalogConfig(n_items=n_items), 0)
    config = UserConfig(**{"drift": "none", **users})
    pop = UserPopulation(catalog, config, EnvConfig(max_steps=10_000))
    if order_length is not None:
        pop.order_length = order_length
    pop.reset(np.arange(6), 0)
    return pop


def test_lazy_fatigue_equals_the_dense_recurrence():
    pop = population(leave_if_no_click=0.5)
    dense = np.zeros((6, 120))
    rng = np.random.default_rng(0)
    cfg = pop.users
    ends = 0
    for _ in range(60):
        slates = np.stack([rng.choice(20, 5, replace=False) for _ in range(6)])  # many repeats
        outcome = pop.step(slates)
        dense *= cfg.fatigue_decay
        dense[np.arange(6)[:, None], slates] += 1.0
        dense[outcome.session_end] *= cfg.session_break_recovery
        np.testing.assert_allclose(pop.fatigue(), dense, rtol=1e-9, atol=1e-12)
        ends += int(outcome.session_end.sum())
    assert ends > 10  # the session-break recovery was exercised


@pytest.mark.parametrize("order_length", [None, 6])  # 6: the full-scan fallback almost always
@pytest.mark.parametrize("drift", ["none", "abrupt", "gradual"])  # a drift rebuilds the lists
def test_oracle_is_the_exact_top_k_of_fatigued_utility(order_length, drift):
    pop = population(
        order_length=order_length,
        fatigue_weight=2.0,
        drift=drift,
        drift_step=15,
        drift_duration=10,
        drift_fraction=1.0,
    )
    weight = pop.users.fatigue_weight
    for _ in range(40):
        slates = pop.oracle_slates()  # keep tiring the best items, so the order list goes stale
        score = pop.utility_ - weight * pop.fatigue()
        assert np.array_equal(slates, top_k(score, pop.slate_size))
        expected = (pop.examination * np.take_along_axis(pop.attractiveness(), slates, 1)).sum(1)
        outcome = pop.step(slates)
        np.testing.assert_allclose(outcome.oracle_expected_clicks, expected, rtol=1e-12)
        np.testing.assert_allclose(outcome.expected_clicks, expected, rtol=1e-12)


def test_top_lists_carry_the_current_state_of_their_items():
    """The oracle walks a copy of each user's top items' state; the copy must equal the item
    state after steps (fatigue), drifts (new lists) and resets (cleared rows)."""
    pop = population(drift="abrupt", drift_step=5, drift_fraction=1.0)
    rng = np.random.default_rng(1)
    for step in range(12):
        pop.step(
            np.stack([rng.choice(pop.n_items, pop.slate_size, replace=False) for _ in range(6)])
        )
        if step == 8:
            pop.reset_rows(np.array([2]), np.array([40]))
        state = pop._item_state[np.arange(6)[:, None], pop.order_]  # (B, M, 4)
        np.testing.assert_array_equal(pop._top_state, state[:, :, :3])
        assert (state[:, :, kernel.RANK] == np.arange(pop.order_length)).all()
        ranked = (pop._item_state[:, :, kernel.RANK] >= 0).sum(axis=1)
        assert (ranked == pop.order_length).all()  # no stale marks from an older list


def test_observed_history_lists_the_last_slates_most_recent_first_across_the_ring():
    pop = population()
    depth = pop.env.history_length
    shown = []
    for t in range(depth + 7):  # wraps around the ring buffer
        slates = (np.arange(6)[:, None] * 3 + t + np.arange(pop.slate_size)) % pop.n_items
        pop.step(slates)
        shown.append(slates)
        items = pop.observations()["items"]
        for h in range(depth):
            expected = shown[-1 - h] if h < len(shown) else np.full_like(slates, -1)
            np.testing.assert_array_equal(items[:, h], expected)
    pop.reset_rows(np.array([4]), np.array([4]))
    assert (pop.observations()["items"][4] == -1).all()
    assert (pop.observations()["clicks"][4] == 0).all()


def test_step_work_does_not_touch_unshown_items():
    pop = population()
    before = pop.fatigue_level_.copy()
    pop.step(np.tile(np.arange(5), (6, 1)))
    changed = np.nonzero((pop.fatigue_level_ != before).any(axis=0))[0]
    assert changed.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("n_users", [5, 70])  # the serial and the parallel path
def test_compiled_utility_has_the_bits_of_the_numpy_topic_by_topic_sum(n_users):
    # The population's utilities (and so every golden trace) depend on these exact bits: a
    # fused multiply-add or a reordered sum would change them.
    rng = np.random.default_rng(n_users)
    preference = rng.normal(0, 2.5, (n_users, 20))
    topics = rng.dirichlet(np.ones(20) * 0.3, 5000)  # (N, T), more items than one block
    item_term = rng.normal(-2, 0.5, 5000)
    expected = np.broadcast_to(item_term, (n_users, 5000)).copy()
    for topic, column in enumerate(np.ascontiguousarray(topics.T)):
        expected += preference[:, topic : topic + 1] * column
    got = kernel.utility_rows(preference, np.ascontiguousarray(topics.T), item_term)
    assert np.array_equal(got, expected)
