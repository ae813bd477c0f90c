"""Local differential privacy: randomised response on clicks, the debiased targets every
built-in learner learns from, and runs under privacy."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

import adaptrec
from adaptrec.agents import StepBatch
from adaptrec.agents.bandits import EpsilonGreedyAgent, LinearBanditAgent, ThompsonAgent
from adaptrec.agents.base import click_targets
from adaptrec.agents.baselines import PopularityAgent
from adaptrec.agents.llm_cosine import LLMCosineAgent
from adaptrec.agents.nonstationary import DiscountedLinUCB, SlidingWindowLinUCB, _step_evidence
from adaptrec.core.config import BanditConfig, LLMCosineConfig, RunConfig, seed_agent_config
from adaptrec.privacy import FEEDBACK_KEYS, RandomizedResponse, accounting, flip_probability

SMALL = {"n_users": 8, "n_steps": 24, "encoder": "hashing", "catalog": {"n_items": 60}}


def batch_of(clicked, slates, user_ids=None, step=0, examined=None) -> StepBatch:
    clicked = np.asarray(clicked, dtype=bool)
    examined = np.ones_like(clicked) if examined is None else np.asarray(examined, dtype=bool)
    b = len(clicked)
    return StepBatch(
        user_ids=np.arange(b) if user_ids is None else np.asarray(user_ids),
        step=np.full(b, step),
        slates=np.asarray(slates, dtype=np.int64),
        clicked=clicked,
        skipped=examined & ~clicked,
        dwell=np.ones(clicked.shape, np.float32),
        reward=clicked.sum(axis=1).astype(float),
    )


def test_flip_probability_and_the_accounting_follow_randomised_response():
    # ln 3: flips one bit in four, and the likelihood ratio (1 - q) / q is e^epsilon.
    q = flip_probability(math.log(3))
    assert q == pytest.approx(0.25)
    assert (1 - q) / q == pytest.approx(3.0)
    ledger = accounting(2.0, slate_size=5, n_steps=300)
    assert ledger["epsilon_per_user_step"] == 10.0 and ledger["epsilon_per_user_run"] == 3000.0
    with pytest.raises(ValueError, match=r"privacy.epsilon must be > 0, got 0.0"):
        flip_probability(0.0)


def test_released_bits_flip_at_rate_q_and_their_estimates_are_unbiased():
    # Catches: a flip rate of the wrong form (e.g. e^-eps), coins shared between slots or
    # steps, a debiasing that is off by the flip's bias.
    mechanism = RandomizedResponse(1.0, seed=4)
    users, k, steps = 2000, 5, 4
    truth = np.random.default_rng(0).random((users, k)) < 0.3
    flips, estimates = [], []
    for step in range(steps):
        released = mechanism.release(np.arange(users), np.full(users, step), truth)
        flips.append(released != truth)
        batch = mechanism.batch(batch_of(truth, np.zeros((users, k)), step=step))
        assert (batch.clicked == released).all() and batch.click_flip == mechanism.flip
        estimates.append(click_targets(batch))
    flips, estimates = np.array(flips), np.array(estimates)
    n, q = flips.size, mechanism.flip
    assert abs(flips.mean() - q) < 4 * math.sqrt(q * (1 - q) / n)
    # Flips of the same slot at different steps, and of neighbouring slots, are independent.
    assert abs(np.corrcoef(flips[0].ravel(), flips[1].ravel())[0, 1]) < 0.03
    assert abs(np.corrcoef(flips[0, :, 0], flips[0, :, 1])[0, 1]) < 0.06
    spread = 1 / (1 - 2 * q) * 0.5 / math.sqrt(truth.sum() * steps)  # sd of the mean, roughly
    assert abs(estimates[:, truth].mean() - 1.0) < 4 * spread
    assert abs(estimates[:, ~truth].mean() - 0.0) < 4 * spread


def test_a_users_release_depends_on_the_seed_user_and_step_only():
    # Catches coins drawn from a batch-wide stream (a user's noise would then depend on who
    # else is in the batch or worker) and coins that ignore the step or the seed.
    def release(seed, users, steps):
        truth = np.zeros((len(users), 64), dtype=bool)
        return RandomizedResponse(0.5, seed).release(np.array(users), np.array(steps), truth)

    together = release(7, [5, 9, 2], [3, 3, 3])
    alone = release(7, [9], [3])
    assert (together[1] == alone[0]).all()
    assert (release(7, [9], [4]) != alone).any()
    assert (release(8, [9], [3]) != alone).any()
    assert (together[0] != together[1]).any()


def test_the_agent_sees_released_clicks_only():
    mechanism = RandomizedResponse(2.0, seed=0)
    truth = batch_of([[1, 0, 0], [0, 0, 1]], [[1, 2, 3], [4, 5, 6]], examined=[[1, 1, 0]] * 2)
    private = mechanism.batch(truth)
    assert (private.skipped == ~private.clicked).all()  # every slot examined: none released
    assert (private.dwell == 0).all() and private.dwell.dtype == np.float32
    assert (private.reward == private.clicked.sum(axis=1)).all()
    observation = {"user_id": np.arange(2), "items": np.zeros((2, 1, 3)), "clicks": 1}
    observation |= {"skips": 1, "dwell": 1}
    seen = mechanism.observation(observation)
    assert set(seen) == {"user_id", "items"} and not set(seen) & set(FEEDBACK_KEYS)


def _private_batch(q: float) -> StepBatch:
    released = np.array([[True, False, False], [False, True, True]])
    batch = batch_of(released, [[0, 1, 2], [3, 4, 0]])
    return dataclasses.replace(batch, skipped=~released, click_flip=q)


def test_click_targets_are_the_debiased_bits():
    q = 0.25
    targets = click_targets(_private_batch(q))
    np.testing.assert_allclose(targets, [[1.5, -0.5, -0.5], [-0.5, 1.5, 1.5]])
    plain = batch_of([[1, 0, 1]], [[0, 1, 2]])
    assert click_targets(plain).tolist() == [[1.0, 0.0, 1.0]]


def test_linucb_and_d_linucb_regress_on_the_debiased_clicks():
    # b = sum over examined slots of y~ x (every slot under privacy): the ridge estimate is
    # then unbiased. Catches learners that still read the released bits as clicks.
    vectors = np.random.default_rng(1).normal(size=(8, 6))
    batch = _private_batch(0.25)
    targets = click_targets(batch)
    config = BanditConfig(dim=3, epsilon=0.0, forgetting=1.0)
    linucb = LinearBanditAgent(vectors, 3, "ucb", config)
    linucb.update(batch)
    x = linucb.features
    want = np.einsum("bk,bkd->bd", targets, x[batch.slates])
    np.testing.assert_allclose(linucb._b.data[:2], want)
    _, rx, seen = _step_evidence(x, batch)
    assert seen.all()
    np.testing.assert_allclose(rx, want)
    discounted = DiscountedLinUCB(vectors, 3, config)
    discounted.update(batch)
    np.testing.assert_allclose(discounted.b_[:2], want)


def test_sw_linucb_subtracts_the_same_estimates_it_added():
    # The window's oldest step leaves with the debiased targets it came in with: after three
    # private steps through a window of two, V and b are the last two steps' evidence.
    vectors = np.random.default_rng(3).normal(size=(8, 6))
    agent = SlidingWindowLinUCB(vectors, 3, BanditConfig(dim=3, epsilon=0.0, window=2))
    mechanism, truth = RandomizedResponse(1.0, seed=2), np.array([[1, 0, 1], [0, 1, 0]], bool)
    batches = [mechanism.batch(batch_of(truth, [[0, 1, 2], [3, 4, 5]], step=t)) for t in range(3)]
    for batch in batches:
        agent.update(batch)
    x = agent.features
    want_b = sum(np.einsum("bk,bkd->bd", click_targets(b), x[b.slates]) for b in batches[1:])
    want_v = agent.ridge * np.eye(agent.dim) + 2 * np.einsum(
        "kd,ke->de", x[[0, 1, 2]], x[[0, 1, 2]]
    )
    np.testing.assert_allclose(agent.b_[:2], want_b, atol=1e-12)
    np.testing.assert_allclose(agent.v_[0], want_v, atol=1e-12)


def test_the_seed_agents_rocchio_vector_adds_estimated_clicks_and_skips():
    # Rocchio: clicks add, skips subtract; under privacy a slot's estimated skip is
    # 1 - (its estimated click), every slot counting as examined.
    vectors = np.random.default_rng(4).normal(size=(6, 8)).astype(np.float32)
    config = seed_agent_config(epsilon=0.0, updates_per_step=0)
    agent = LLMCosineAgent(vectors, 3, config, seed=0)
    agent.act({"user_id": np.arange(2), "step": np.zeros(2, dtype=np.int64)})
    batch = _private_batch(0.25)
    agent.update(batch)
    clicks = click_targets(batch)
    signal = clicks - config.skip_weight * (1.0 - clicks)
    want = np.einsum("bk,bkd->bd", signal, agent.items[batch.slates])
    np.testing.assert_allclose(agent.user_sums_[:2], want, rtol=1e-5, atol=1e-6)


def test_count_bandits_and_popularity_add_estimates_and_keep_rates_valid():
    batch = _private_batch(0.25)
    greedy = EpsilonGreedyAgent(5, 2, BanditConfig(epsilon=0.0, forgetting=1.0))
    greedy.update(batch)
    clicks, trials = greedy._clicks.data, greedy._trials.data
    assert clicks[0, 1] == -0.5 and clicks[1, 0] == 1.5 and trials[1, 0] == 1.0
    kept, _ = greedy.counts(np.array([0, 1]))
    assert kept[0, 1] == 0.0 and kept[1, 0] == 1.0  # clipped to [0, trials] where used
    assert np.all((greedy.estimates(np.arange(2)) >= 0) & (greedy.estimates(np.arange(2)) <= 1))
    thompson = ThompsonAgent(5, 2, BanditConfig(forgetting=1.0))
    thompson.update(batch)
    alpha, beta = thompson.posterior(np.arange(2))
    assert (alpha > 0).all() and (beta > 0).all()
    popularity = PopularityAgent(5, 2)
    popularity.update(batch)
    np.testing.assert_allclose(popularity.clicks_, [3.0, -0.5, -0.5, -0.5, 1.5])


def test_llm_cosine_user_model_and_item_term_learn_from_the_estimates():
    vectors = np.random.default_rng(2).normal(size=(6, 8)).astype(np.float32)
    config = LLMCosineConfig(epsilon=0.0, updates_per_step=1)
    agent = LLMCosineAgent(vectors, 3, config, seed=0)
    batch = _private_batch(0.25)
    agent.act({"user_id": np.arange(2), "step": np.zeros(2, dtype=np.int64)})
    agent.update(batch)
    model = agent.user_model
    features = model.features[batch.slates]  # (B, k, D)
    f = model.forgetting
    want = np.einsum("bk,bkd->bd", click_targets(batch), features)
    np.testing.assert_allclose(model.b_[:2], want, rtol=1e-12)
    np.testing.assert_allclose(agent.item_clicks_[:5], [3.0, -0.5, -0.5, -0.5, 1.5])
    assert np.isfinite(agent.item_bias()).all() and f <= 1


def test_a_private_run_logs_the_true_clicks_and_reproduces(tmp_path):
    # The random agent does not learn: with privacy or without, it shows the same slates and
    # the simulator logs the same (true) clicks. A learner's run under privacy reproduces
    # and differs from its non-private run.
    private = {**SMALL, "privacy": {"epsilon": 1.0}}
    a = adaptrec.run(private, agents=["random", "linucb"], out=tmp_path / "a")
    b = adaptrec.run(SMALL, agents=["random", "linucb"], out=tmp_path / "b")
    c = adaptrec.run(private, agents=["random", "linucb"], out=tmp_path / "c")

    def rows(result, agent):
        return pq.read_table(result.out_dir / "steps" / f"{agent}.parquet").to_pylist()

    assert rows(a, "random") == rows(b, "random")
    assert rows(a, "linucb") == rows(c, "linucb")
    assert rows(a, "linucb") != rows(b, "linucb")
    assert a.config.privacy.epsilon == 1.0
    assert RunConfig.from_json((a.out_dir / "config.json").read_text()).privacy.epsilon == 1.0
    assert "epsilon" in (a.out_dir / "report.md").read_text()


@pytest.mark.parametrize("value", [0, -1, 1000, "high", float("nan")])
def test_a_bad_epsilon_is_one_clear_error(value):
    with pytest.raises((TypeError, ValueError), match=r"privacy\.epsilon must be"):
        RunConfig.from_dict({"privacy": {"epsilon": value}})


def test_vw_learns_the_negated_estimates_of_every_slot():
    # VW minimises cost: a released click costs -(1 - q)/(1 - 2q) and a released non-click
    # +q/(1 - 2q), on every slot (under privacy all count as examined).
    from adaptrec.agents.vw import VowpalWabbitAgent

    agent = VowpalWabbitAgent(np.eye(6, dtype=np.float32), 3, BanditConfig(epsilon=0.1))
    learned = []

    class Spy:
        def __init__(self, vw):
            self.vw = vw

        def predict(self, lines):
            return self.vw.predict(lines)

        def learn(self, lines):
            learned.append(next(line for line in lines if line.startswith("0:")))
            self.vw.learn(lines)

    agent.vw = Spy(agent.vw)
    slates = agent.act({"user_id": np.arange(2), "step": np.zeros(2, dtype=np.int64)})
    released = np.array([[True, False, False], [False, True, True]])
    batch = dataclasses.replace(batch_of(released, slates), skipped=~released, click_flip=0.25)
    agent.update(batch)
    costs = [float(line.split(":")[1]) for line in learned]
    assert costs == (-click_targets(batch)).reshape(-1).tolist()
