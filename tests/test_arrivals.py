"""Worlds whose catalogs change (items arrive with their text and expire), recurring interests
and trends: the live set by hand, the simulator's O(1)-in-N state, every agent shows live items
only, one-line errors, and the new-item figures against a log worked by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from adaptrec.analysis.new_items import ItemEvents, cohort, follow_up, new_item_figures
from adaptrec.core.arrivals import arrival_steps, live_bounds
from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import (
    AGENT_NAMES,
    ArrivalConfig,
    CatalogConfig,
    EnvConfig,
    RunConfig,
    UserConfig,
)
from adaptrec.envs import model
from adaptrec.envs.users import UserPopulation
from adaptrec.rollout import simulate_shard


def test_live_ranges_follow_the_arrival_schedule_by_hand():
    # Catches: off-by-one arrivals or expiries, the initial items not staggered, a fractional
    # rate rounded.
    arrivals = ArrivalConfig(rate=2, lifetime=3)  # 6 items at step 0, expiring 2 a step
    np.testing.assert_array_equal(
        arrival_steps(arrivals, 12), [-2, -2, -1, -1, 0, 0, 1, 1, 2, 2, 3, 3]
    )
    lo, hi = live_bounds(arrivals, 12, np.arange(5))
    np.testing.assert_array_equal(
        np.stack([lo, hi], 1), [[0, 6], [2, 8], [4, 10], [6, 12], [8, 12]]
    )
    half = ArrivalConfig(rate=0.5, lifetime=4)  # 2 items, one new every other step
    np.testing.assert_array_equal(arrival_steps(half, 5), [-3, -1, 1, 3, 5])
    growing = ArrivalConfig(rate=1, initial=3)  # nothing expires
    lo, hi = live_bounds(growing, 10, np.array([0, 4]))
    assert (lo.tolist(), hi.tolist()) == ([0, 0], [3, 7])
    fixed = live_bounds(ArrivalConfig(), 7, np.array([0, 99]))
    assert (fixed[0].tolist(), fixed[1].tolist()) == ([0, 0], [7, 7])


def _fresh_population(n_users=6, n_items=700, rate=3.0, lifetime=40, k=4):
    catalog = make_catalog(CatalogConfig(n_items=n_items, n_topics=8), 3)
    catalog = dataclasses.replace(catalog, arrivals=ArrivalConfig(rate=rate, lifetime=lifetime))
    population = UserPopulation(
        catalog, UserConfig(drift="none"), EnvConfig(slate_size=k, max_steps=200)
    )
    population.reset(np.arange(n_users), 5)
    return population


def test_the_oracle_takes_the_best_live_items_through_arrivals_and_list_rebuilds():
    # Catches: an oracle that shows expired or future items, top lists that miss new items
    # (not rebuilt, or built over too short a range), a walk that stops early on a list that
    # does not cover the live items.
    population = _fresh_population()
    rng = np.random.default_rng(0)
    rebuilt_widths = []
    original = population._set_lists

    def counting(rows, lo, end):
        rebuilt_widths.append(end - lo)
        return original(rows, lo, end)

    population._set_lists = counting
    for _ in range(150):
        lo, hi = population.catalog.live_bounds(population.step_)
        slates = population.oracle_slates()
        assert ((slates >= lo[:, None]) & (slates < hi[:, None])).all()
        score = population.utility_ - population.users.fatigue_weight * population.fatigue()
        for b in range(len(slates)):
            want = np.lexsort((np.arange(hi[b] - lo[b]), -score[b, lo[b] : hi[b]]))[:4] + lo[b]
            np.testing.assert_array_equal(slates[b], want)
        shown = slates if rng.random() < 0.5 else np.stack(
            [rng.choice(np.arange(lo[b], hi[b]), 4, replace=False) for b in range(len(lo))]
        )  # fmt: skip
        population.step(shown)
    # Lists are rebuilt every half lifetime over the live items and those due within it.
    assert 5 <= len(rebuilt_widths) <= 9
    assert max(rebuilt_widths) <= 3 * 40 + 3 * 20 + 3


def test_a_users_state_does_not_grow_with_the_catalog():
    # Catches: per-user arrays sized by the catalog (O(N) per user), as before issue 16.
    small, large = _fresh_population(n_items=700), _fresh_population(n_items=7_000)
    for name in ("order_", "top_utility_", "preference_", "clock_", "list_size_"):
        assert getattr(small, name).shape == getattr(large, name).shape, name
    assert small._table.shape == large._table.shape


def test_the_env_refuses_an_expired_or_future_item_in_one_line():
    population = _fresh_population(n_users=1)
    for _ in range(50):
        population.step(population.oracle_slates())
    lo, hi = population.catalog.live_bounds(population.step_)
    with pytest.raises(ValueError, match=rf"live at step 50 \(ids \[{lo[0]}, {hi[0]}\)\).*expired"):
        population.step(np.array([[0, lo[0], lo[0] + 1, lo[0] + 2]]))
    with pytest.raises(ValueError, match=r"arrives at step \d+"):
        population.step(np.array([[hi[0], lo[0], lo[0] + 1, lo[0] + 2]]))
    population.step(population.oracle_slates())  # still usable


def _fresh_config(agents, n_items=400, steps=40):
    return RunConfig(
        n_users=12,
        n_steps=steps,
        agents=agents,
        catalog=CatalogConfig(n_items=n_items, n_topics=8),
        arrivals=ArrivalConfig(rate=4, lifetime=20),
        users=UserConfig(drift="none"),
        env=EnvConfig(slate_size=3, max_steps=steps),
    )


@pytest.mark.parametrize("agent", [name for name in AGENT_NAMES if name != "vw"])
def test_every_built_in_agent_shows_only_live_items(agent, default_vectors_for):
    # Catches: an agent ranking or exploring over the whole catalog (the env would raise),
    # an exploration propensity over all items instead of the live ones.
    config = _fresh_config((agent,))
    from adaptrec.world import build_catalog

    catalog = build_catalog(config)
    table = simulate_shard(config, agent, catalog, default_vectors_for(catalog), np.arange(12))
    items, steps = table["item"].to_numpy(), table["step"].to_numpy()
    lo, hi = catalog.live_bounds(steps)
    assert ((items >= lo) & (items < hi)).all()
    propensity = table["propensity"].to_numpy(zero_copy_only=False)
    if agent == "random":
        np.testing.assert_allclose(propensity, 1.0 / (hi - lo))


def test_vw_shows_only_live_items():
    pytest.importorskip("vowpalwabbit")
    config = _fresh_config(("vw",), n_items=300, steps=30)
    from adaptrec.world import build_catalog

    catalog = build_catalog(config)
    vectors = np.eye(catalog.n_items, 16, dtype=np.float32) + 0.01
    table = simulate_shard(config, "vw", catalog, vectors, np.arange(4))
    lo, hi = catalog.live_bounds(table["step"].to_numpy())
    items = table["item"].to_numpy()
    assert ((items >= lo) & (items < hi)).all()


def test_a_plugin_that_shows_an_expired_item_is_named_in_one_line(default_vectors_for):
    from adaptrec.agents import register
    from adaptrec.world import build_catalog

    def stale(context):
        return lambda observation: np.tile([0, 1, 2], (len(observation["user_id"]), 1))

    register("stale-picker", stale, replace=True)
    config = _fresh_config(("stale-picker",))
    catalog = build_catalog(config)
    with pytest.raises(ValueError, match=r"agent 'stale-picker'.*live at this step.*item 0"):
        simulate_shard(config, "stale-picker", catalog, default_vectors_for(catalog), np.arange(2))


def test_a_catalog_too_small_for_its_arrivals_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"catalog.n_items must be >= 2000 .*got 1000"):
        RunConfig(
            arrivals=ArrivalConfig(rate=5, lifetime=100),
            catalog=CatalogConfig(n_items=1000),
            n_steps=301,
            env=EnvConfig(max_steps=301),
        )
    with pytest.raises(ValueError, match=r"at least env.slate_size=5 items live, got 2"):
        RunConfig(arrivals=ArrivalConfig(rate=1, lifetime=2))


def test_recurring_and_trend_preferences_follow_their_definitions_by_hand():
    # Catches: a recurring taste that never returns, a trend on the wrong topic, one that
    # never fades or skips its plateau.
    initial, target = np.zeros((1, 3)), np.ones((1, 3))
    users = UserConfig(drift="recurring", drift_step=3, cycle_period=4)
    steps = np.arange(10)
    many = np.repeat(initial, 10, axis=0), np.repeat(target, 10, axis=0)
    got = model.preference_at_steps(users, steps, *many, np.ones(10, bool))[:, 0].tolist()
    assert got == [0, 0, 0, 1, 1, 0, 0, 1, 1, 0]
    changes = model.change_now(users, np.arange(10), np.ones(10, bool))
    assert np.flatnonzero(changes).tolist() == [3, 5, 7, 9]
    trend = UserConfig(
        drift="none", trend_topic=2, trend_boost=2.0, trend_start=2, trend_duration=2, trend_fade=4
    )
    level = model.preference_at_steps(trend, steps[:9], many[0][:9], many[1][:9], np.zeros(9, bool))
    assert [row[2] for row in level] == [0, 0, 2, 2, 1.5, 1.0, 0.5, 0, 0]
    assert all(row[0] == 0 for row in level)
    assert model.change_steps(trend, np.array([False, True])).tolist() == [2, 2]


def test_new_item_figures_from_a_log_worked_by_hand():
    # Catches: delays measured from the wrong step, impressions outside the follow-up
    # counted, censored items dropped instead of counted as never, the exposure share
    # against the wrong denominator.
    config = RunConfig(
        n_users=2,
        n_steps=12,
        arrivals=ArrivalConfig(rate=1, lifetime=4),
        catalog=CatalogConfig(n_items=20),
        env=EnvConfig(slate_size=2, max_steps=12),
        window=2,
        bootstrap_resamples=200,
    )
    # Items 0-3 at the start; item 4 arrives at step 1, item 5 at 2, ..., item 11 at 8 (the
    # last with a whole follow-up of 4 steps before step 12).
    ids, arrive = cohort(config, 20)
    assert ids.tolist() == list(range(4, 12)) and arrive.tolist() == list(range(1, 9))
    assert follow_up(config) == 4
    events = ItemEvents(config)
    # (item, step, clicked): item 4 shown at 2 and 3 (click at 3), and at 6 (outside its
    # follow-up 1..4); item 5 shown at 2, never clicked; item 6 never shown.
    events.add(np.array([4, 4, 4, 5, 1]), np.array([2, 3, 6, 2, 0]), np.array([0, 1, 1, 0, 1]))
    arrays = events.arrays()
    assert arrays["first_shown"][:3].tolist() == [1, 0, np.inf]
    assert arrays["first_click"][:3].tolist() == [2, np.inf, np.inf]
    assert arrays["impressions"][:3].tolist() == [2, 1, 0]
    oracle = {**arrays, "impressions": np.array([4.0, 0, 2, 1, 1, 1, 1, 1])}
    figures = new_item_figures(arrays, oracle, config, lambda: np.random.default_rng(0))
    assert figures["first_click"]["reached"] == pytest.approx(1 / 8)
    assert figures["first_click"]["estimate"] is None  # fewer than half clicked: no median
    assert figures["first_shown"]["kaplan_meier"]["events"] == 2
    # shares of items the oracle showed: 2/4, 0/2, 0/1 x 5 -> median 0
    assert figures["exposure_share"]["estimate"] == 0 and figures["exposure_share"]["n_items"] == 7
    assert figures["exposure_share_pooled"] == pytest.approx(3 / 11)


def test_a_fixed_catalogs_log_holds_no_new_item_figures(tmp_path):
    from adaptrec.logs import StepWriter, read_agent_arrays, step_table

    config = RunConfig(n_users=1, n_steps=2, window=1, env=EnvConfig(max_steps=2, slate_size=1))
    columns = {
        "user": np.zeros(2, np.int32), "step": np.arange(2, dtype=np.int32),
        "slot": np.zeros(2, np.int8), "item": np.array([0, 1], np.int32),
        "clicked": np.array([True, False]), "skipped": np.zeros(2, bool),
        "dwell": np.zeros(2, np.float32), "click_probability": np.full(2, 0.5),
        "expected_clicks": np.full(2, 0.5), "oracle_expected_clicks": np.ones(2),
        "reward": np.zeros(2), "drift": np.zeros(2, bool), "drift_step": np.full(2, -1, np.int32),
        "session": np.zeros(2, np.int32), "session_end": np.zeros(2, bool),
        "propensity": np.full(2, np.nan),
    }  # fmt: skip
    with StepWriter(tmp_path, "random", config.to_json()) as writer:
        writer.add_table(step_table("random", [columns]))
    assert "new_items" not in read_agent_arrays(writer.path, config)
