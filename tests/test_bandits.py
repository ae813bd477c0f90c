"""Bandit baselines, the Vowpal Wabbit agent, propensities and the news-switch world."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
from scipy import stats

from adaptrec.agents import StepBatch, make_agent
from adaptrec.agents.bandits import (
    EpsilonGreedyAgent,
    LinearBanditAgent,
    ThompsonAgent,
    item_features,
)
from adaptrec.agents.base import explore
from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import BanditConfig, CatalogConfig
from adaptrec.core.rng import Component, user_keys
from adaptrec.envs.news_switch import NewsSwitchPopulation, news_catalog
from adaptrec.envs.scenarios import NEWS_CEILING, SCENARIOS, scenario_config
from adaptrec.rollout import simulate_shard
from adaptrec.world import make_population


def random_feedback(rng, n_users, n_items, k, steps):
    """Random slates and feedback: some slots unexamined (neither clicked nor skipped)."""
    out = []
    for step in range(steps):
        slates = np.stack([rng.choice(n_items, k, replace=False) for _ in range(n_users)])
        examined = rng.random((n_users, k)) < 0.7
        clicked = examined & (rng.random((n_users, k)) < 0.4)
        out.append(
            StepBatch(
                user_ids=np.arange(n_users),
                step=np.full(n_users, step),
                slates=slates,
                clicked=clicked,
                skipped=examined & ~clicked,
                dwell=np.zeros((n_users, k), np.float32),
                reward=clicked.sum(axis=1).astype(float),
            )
        )
    return out


@pytest.mark.parametrize("forgetting", [1.0, 0.9])
@pytest.mark.parametrize("mode", ["ucb", "ts"])
def test_linear_bandit_update_equals_a_refit_from_scratch(mode, forgetting):
    """Sherman-Morrison (and re-inversion after forgetting) give exactly the ridge solution
    of the forgotten, examined-slot data: catches a wrong rank-one update, updating on
    unexamined slots, or forgetting applied twice."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(30, 12))
    config = BanditConfig(dim=5, ridge=2.0, forgetting=forgetting, epsilon=0.0)
    agent = LinearBanditAgent(vectors, 3, mode, config)
    x = item_features(vectors, 5)
    batches = random_feedback(rng, 4, 30, 3, 25)
    a = np.stack([2.0 * np.eye(6)] * 4)
    b = np.zeros((4, 6))
    for batch in batches:
        agent.update(batch)
        a = forgetting * a + (1 - forgetting) * 2.0 * np.eye(6)
        b = forgetting * b
        examined = batch.clicked | batch.skipped
        for user in range(4):
            for slot in np.flatnonzero(examined[user]):
                feature = x[batch.slates[user, slot]]
                a[user] += np.outer(feature, feature)
                b[user] += batch.clicked[user, slot] * feature
    a_inv, b_agent = agent.state(np.arange(4))
    np.testing.assert_allclose(a_inv, np.linalg.inv(a), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b_agent, b, rtol=1e-12, atol=1e-12)
    theta = np.linalg.solve(a, b[..., None])[..., 0]
    if mode == "ucb":  # the mean part of LinUCB's score is the refit's prediction
        zero_width = LinearBanditAgent(vectors, 3, "ucb", dataclasses.replace(config, alpha=0.0))
        for batch in batches:
            zero_width.update(batch)
        scores = zero_width.scores(np.arange(4), np.zeros(4, np.int64))
        np.testing.assert_allclose(scores, theta @ x.T, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", [EpsilonGreedyAgent, ThompsonAgent])
def test_count_bandit_state_equals_counts_recomputed_from_the_data(kind):
    rng = np.random.default_rng(1)
    config = BanditConfig(forgetting=0.8, prior_strength=3.0)
    agent = kind(20, 4, config)
    batches = random_feedback(rng, 5, 20, 4, 15)
    clicks, trials = np.zeros((5, 20)), np.zeros((5, 20))
    pooled_clicks, pooled_trials = np.zeros(20), np.zeros(20)
    for batch in batches:
        agent.update(batch)
        clicks *= 0.8
        trials *= 0.8
        examined = batch.clicked | batch.skipped
        for user in range(5):
            for slot in np.flatnonzero(examined[user]):
                item = batch.slates[user, slot]
                clicks[user, item] += batch.clicked[user, slot]
                trials[user, item] += 1
                pooled_clicks[item] += batch.clicked[user, slot]
                pooled_trials[item] += 1
    got_clicks, got_trials = agent.counts(np.arange(5))
    np.testing.assert_allclose(got_clicks, clicks, rtol=1e-12)
    np.testing.assert_allclose(got_trials, trials, rtol=1e-12)
    prior = (pooled_clicks + 1) / (pooled_trials + 2)
    np.testing.assert_allclose(agent.prior_mean(), prior)
    if kind is EpsilonGreedyAgent:
        expected = (clicks + 3 * prior) / (trials + 3)
        np.testing.assert_allclose(agent.estimates(np.arange(5)), expected, rtol=1e-12)
    else:
        alpha, beta = agent.posterior(np.arange(5))
        np.testing.assert_allclose(alpha, 1 + 3 * prior + clicks, rtol=1e-12)
        np.testing.assert_allclose(beta, 1 + 3 * (1 - prior) + trials - clicks, rtol=1e-12)


@pytest.mark.parametrize("mode", ["ucb", "ts"])
def test_linear_bandit_slates_of_a_user_do_not_depend_on_the_batch(mode):
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(40, 8))
    batches = random_feedback(rng, 6, 40, 3, 5)
    together = LinearBanditAgent(vectors, 3, mode, BanditConfig(dim=4, avoid_recent=False))
    alone = LinearBanditAgent(vectors, 3, mode, BanditConfig(dim=4, avoid_recent=False))
    for batch in batches:
        together.update(batch)
        alone.update(dataclasses.replace(batch, user_ids=batch.user_ids[2:3],
                                         slates=batch.slates[2:3], clicked=batch.clicked[2:3],
                                         skipped=batch.skipped[2:3]))  # fmt: skip
    observation = {"user_id": np.arange(6), "step": np.full(6, 9)}
    single = {"user_id": np.array([2]), "step": np.array([9])}
    np.testing.assert_array_equal(together.act(observation)[2], alone.act(single)[0])


def test_explore_propensities_match_the_frequencies_of_exploration():
    """The logged propensity is the probability of that item in that slot: checked against
    20,000 draws of the same greedy slate (catches e.g. epsilon / N instead of / (N - k))."""
    n_items, k, epsilon, draws = 12, 3, 0.3, 20_000

    class Holder:
        last_propensity_ = None

    holder = Holder()
    greedy = np.tile([4, 7, 1], (draws, 1))
    keys = user_keys(0, Component.AGENT_USER, np.zeros(draws, np.int64))
    slates = explore(greedy, keys, np.arange(draws), n_items, epsilon, 5, agent=holder)
    propensity = holder.last_propensity_
    for slot in range(k):
        for item in range(n_items):
            frequency = np.mean(slates[:, slot] == item)
            shown = slates[:, slot] == item
            if not shown.any():
                assert item in (4, 7, 1)  # greedy items never appear in another greedy slot
                continue
            assert np.allclose(propensity[shown, slot], propensity[shown, slot][0])
            assert frequency == pytest.approx(propensity[shown, slot][0], abs=0.01)


def cold_start_world(minilm):
    config = scenario_config("cold-start", 40, 60, window=10)
    config = dataclasses.replace(config, catalog=CatalogConfig(n_items=300))
    catalog = make_catalog(config.catalog, config.seed)
    return config, catalog, minilm.encode(list(catalog.texts))


@pytest.fixture(scope="module")
def cold_start_ctr(minilm):
    config, catalog, vectors = cold_start_world(minilm)
    ctr = {}
    for name in ("random", "egreedy", "thompson", "linucb", "lin-ts", "vw", "llm-cosine"):
        table = simulate_shard(config, name, catalog, vectors, np.arange(config.n_users))
        clicks = np.asarray(table["clicked"]).reshape(config.n_steps, config.n_users, -1)
        ctr[name] = clicks.mean(axis=(0, 2))  # per user, over the run
    return ctr


@pytest.mark.parametrize("name", ["egreedy", "thompson", "linucb", "lin-ts", "vw", "llm-cosine"])
def test_each_agent_beats_random_on_cold_start(cold_start_ctr, name):
    """Paired over the same 40 users (common random numbers), one-sided."""
    ctr, baseline = cold_start_ctr[name], cold_start_ctr["random"]
    assert ctr.mean() > baseline.mean()
    assert stats.wilcoxon(ctr, baseline, alternative="greater").pvalue < 0.01


def test_news_switch_world_is_the_tutorials():
    population = NewsSwitchPopulation(
        news_catalog(), scenario_config("news-switch").users, scenario_config("news-switch").env
    )
    population.reset(np.arange(2000), root_seed=0)
    topics = news_catalog().texts
    wanted = {}
    for _ in range(3):
        for context, topic in zip(population.context_, population.wanted(), strict=True):
            wanted[tuple(context)] = topics[topic]
        population.step(population.oracle_slates())
    # (person, time): Tom = 0, Anna = 1; morning = 0, afternoon = 1
    assert wanted == {(0, 0): "politics", (0, 1): "music", (1, 0): "sports", (1, 1): "politics"}
    assert 0.45 < population.context_[:, 0].mean() < 0.55  # people drawn evenly
    population.step_[:] = 5000  # after the switch
    after = {
        tuple(c): topics[t] for c, t in zip(population.context_, population.wanted(), strict=True)
    }
    assert after == {(0, 0): "politics", (0, 1): "sports", (1, 0): "sports", (1, 1): "sports"}
    # Agents see four users per replicate, one per (person, time of day).
    ids = population.agent_user_ids()
    assert set(ids[:1].tolist()) <= {0, 1, 2, 3} and ids.max() < 4 * 2000
    # Clicks are deterministic: exactly where the shown topic is the wanted one.
    wanted_now = population.wanted()
    outcome = population.step(np.zeros((2000, 1), np.int64))  # everyone shown politics
    np.testing.assert_array_equal(outcome.clicked[:, 0], wanted_now == 0)
    assert population.step(population.oracle_slates()).clicked.all()


def test_vw_learns_news_switch_like_the_tutorial(minilm):
    """The published behaviour: CTR near 0.8 with epsilon 0.2 well before the switch."""
    config = scenario_config("news-switch", n_users=3, n_steps=3_500, agents=("vw",))
    catalog = news_catalog()
    vectors = minilm.encode(list(catalog.texts))
    ctr = []
    for replicate in range(3):
        table = simulate_shard(config, "vw", catalog, vectors, np.array([replicate]))
        ctr.append(np.asarray(table["clicked"])[3_000:].mean())
        propensity = np.asarray(table["propensity"])
        assert np.all((propensity > 0) & (propensity <= 1))  # VW's pmf of the shown article
    assert np.mean(ctr) > 0.7
    assert np.mean(ctr) < NEWS_CEILING + 0.05  # cannot beat its own exploration


def test_vw_without_the_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "vowpalwabbit", None)
    config = scenario_config("news-switch", n_users=1, n_steps=10)
    population = make_population(config, news_catalog())
    with pytest.raises(ImportError, match=r"pip install 'adaptrec\[vw\]'"):
        make_agent("vw", config, np.ones((7, 4), np.float32), population)


def test_scenarios_are_selectable_by_name_and_differ_where_documented():
    assert set(SCENARIOS) == {
        "cold-start", "abrupt-drift", "gradual-drift", "fatigue-heavy", "news-switch",
        "fresh-content", "recurring", "trend-shock",
    }  # fmt: skip
    fresh = scenario_config("fresh-content")
    assert (fresh.arrivals.rate, fresh.arrivals.lifetime, fresh.users.drift) == (5, 100, "none")
    assert fresh.catalog.n_items >= fresh.arrivals.items_needed(fresh.n_steps) == 500 + 5 * 299
    movies = scenario_config("fresh-content", data="movielens:x")
    assert movies.arrivals.rate == 20
    recurring = scenario_config("recurring")
    assert (recurring.users.drift, recurring.users.cycle_period, recurring.users.drift_step) == (
        "recurring",
        50,
        25,
    )
    trend = scenario_config("trend-shock")
    assert (trend.users.trend_topic, trend.users.trend_start, trend.users.drift) == (0, 100, "none")
    assert scenario_config("cold-start").users.drift == "none"
    assert scenario_config("abrupt-drift").users.drift == "abrupt"
    gradual = scenario_config("gradual-drift", n_steps=120)
    assert (gradual.users.drift, gradual.users.drift_step, gradual.users.drift_duration) == (
        "gradual",
        60,
        20,
    )
    heavy, default = scenario_config("fatigue-heavy"), scenario_config("abrupt-drift")
    assert heavy.users.fatigue_weight > default.users.fatigue_weight
    news = scenario_config("news-switch")
    assert (news.n_steps, news.users.drift_step, news.env.slate_size, news.data) == (
        10_000,
        5_000,
        1,
        "news-switch",
    )
    assert news.threshold == pytest.approx(0.9 * (0.8 + 0.2 / 7), abs=1e-6)
    with pytest.raises(ValueError, match="scenario must be one of"):
        scenario_config("sudden-drift")
