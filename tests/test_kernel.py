"""The compiled step kernel against plain numpy references of the same model."""

import numpy as np
import pytest

from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import CatalogConfig, EnvConfig, UserConfig
from adaptrec.core.rng import Component, uniforms, user_keys
from adaptrec.core.scoring import top_k
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
    config = UserConfig(drift="none", **users)
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
def test_oracle_is_the_exact_top_k_of_fatigued_utility(order_length):
    pop = population(order_length=order_length, fatigue_weight=2.0)
    weight = pop.users.fatigue_weight
    for _ in range(40):
        slates = pop.oracle_slates()  # keep tiring the best items, so the order list goes stale
        score = pop.utility_ - weight * pop.fatigue()
        assert np.array_equal(slates, top_k(score, pop.slate_size))
        expected = (pop.examination * np.take_along_axis(pop.attractiveness(), slates, 1)).sum(1)
        outcome = pop.step(slates)
        np.testing.assert_allclose(outcome.oracle_expected_clicks, expected, rtol=1e-12)
        np.testing.assert_allclose(outcome.expected_clicks, expected, rtol=1e-12)


def test_step_work_does_not_touch_unshown_items():
    pop = population()
    before = pop.fatigue_level_.copy()
    pop.step(np.tile(np.arange(5), (6, 1)))
    changed = np.nonzero((pop.fatigue_level_ != before).any(axis=0))[0]
    assert changed.tolist() == [0, 1, 2, 3, 4]
