"""Change detection and the non-stationary anchors, each against its published rule worked by
hand: the Bernoulli GLR test (Besson et al.), D-LinUCB (Russac et al.), SW-LinUCB (Cheung et
al.), the GLR restart, and the two detectors of llm-cosine's ridge user model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adaptrec.agents.base import StepBatch, UserKeys
from adaptrec.agents.change import BernoulliGLR
from adaptrec.agents.llm_cosine.user_model import RidgeUserModel
from adaptrec.agents.nonstationary import DiscountedLinUCB, GLRLinUCB, SlidingWindowLinUCB
from adaptrec.core.config import BanditConfig


def _kl(p: float, q: float) -> float:
    p, q = min(max(p, 1e-12), 1 - 1e-12), min(max(q, 1e-12), 1 - 1e-12)
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def _glr_by_hand(steps: list[tuple[int, int]]) -> float:
    """max over step splits of n1 kl(mu1, mu) + n2 kl(mu2, mu), falls only."""
    n, c = sum(e for e, _ in steps), sum(k for _, k in steps)
    best = 0.0
    for split in range(1, len(steps)):
        n1 = sum(e for e, _ in steps[:split])
        c1 = sum(k for _, k in steps[:split])
        n2, c2 = n - n1, c - c1
        if n1 and n2 and c2 / n2 < c1 / n1:
            best = max(best, n1 * _kl(c1 / n1, c / n) + n2 * _kl(c2 / n2, c / n))
    return best


def test_bernoulli_glr_statistic_threshold_and_restart_follow_the_published_test():
    # Catches: a two-sided test (alarms while a learner improves), a wrong threshold
    # log(3 n^1.5 / delta), splits inside a step, history kept after an alarm, users mixed up.
    detector = BernoulliGLR(delta=0.05, window=50)
    rng = np.random.default_rng(0)
    history: list[tuple[int, int]] = []
    fell_at = None
    for step in range(60):
        examined = int(rng.integers(1, 4))
        rate = 0.8 if step < 20 else 0.05
        clicks = int((rng.random(examined) < rate).sum())
        # user 7 steps alongside with a rising click rate: never alarmed.
        rising = int((rng.random(3) < min(0.9, 0.05 * step)).sum())
        alarms, stats = detector.update(
            np.array([3, 7]), np.array([examined, 3]), np.array([clicks, rising])
        )
        history.append((examined, clicks))
        expected = _glr_by_hand(history)
        assert stats[0] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        n = sum(e for e, _ in history)
        assert alarms[0] == (expected > math.log(3 * n**1.5 / 0.05))
        assert not alarms[1]
        if alarms[0]:
            fell_at = fell_at if fell_at is not None else step
            history = []
    assert fell_at is not None and 20 <= fell_at <= 26
    assert detector.alarms_[3] >= 1 and detector.alarms_[7] == 0


def _features_agent(kind, **config):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(8, 6)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    settings = {"dim": 3, "ridge": 0.7, "alpha": 0.4, "epsilon": 0.0, **config}
    return kind(vectors, 2, BanditConfig(**settings), seed=0, agent_index=5)


def _batch(ids, slates, clicked, skipped):
    slates = np.array(slates)
    return StepBatch(
        user_ids=np.array(ids),
        step=np.zeros(len(ids), dtype=np.int64),
        slates=slates,
        clicked=np.array(clicked),
        skipped=np.array(skipped),
        dwell=np.zeros(slates.shape, dtype=np.float32),
        reward=np.zeros(len(ids)),
    )


STEPS = [
    ([[0, 3], [5, 1]], [[True, False], [False, False]], [[False, True], [True, False]]),
    ([[2, 4], [6, 0]], [[False, False], [True, True]], [[True, False], [False, False]]),
    ([[0, 7], [3, 2]], [[False, True], [False, False]], [[False, False], [False, False]]),
]


def test_d_linucb_discounts_v_v_tilde_and_b_and_scores_with_v_inverse_v_tilde_v_inverse():
    # Catches: V~ discounted by gamma instead of gamma^2, the (1 - gamma) lambda I term left
    # out, unexamined slots learned, the bonus of x' V^-1 x (LinUCB's) instead of D-LinUCB's.
    agent = _features_agent(DiscountedLinUCB, discount=0.8)
    x, d, gamma, lam = agent.features, agent.dim, 0.8, 0.7
    v = np.stack([lam * np.eye(d)] * 2)
    vt, b = v.copy(), np.zeros((2, d))
    for slates, clicked, skipped in STEPS:
        agent.update(_batch([0, 1], slates, clicked, skipped))
        for user in range(2):
            v[user] = gamma * v[user] + (1 - gamma) * lam * np.eye(d)
            vt[user] = gamma**2 * vt[user] + (1 - gamma**2) * lam * np.eye(d)
            b[user] = gamma * b[user]
            for slot in range(2):
                if clicked[user][slot] or skipped[user][slot]:
                    row = x[slates[user][slot]]
                    v[user] += np.outer(row, row)
                    vt[user] += np.outer(row, row)
                    b[user] += clicked[user][slot] * row
    np.testing.assert_allclose(agent.v_[:2], v, rtol=1e-12)
    np.testing.assert_allclose(agent.v_tilde_[:2], vt, rtol=1e-12)
    np.testing.assert_allclose(agent.b_[:2], b, rtol=1e-12)
    for user in range(2):
        inv = np.linalg.inv(v[user])
        width = inv @ vt[user] @ inv
        want = x @ (inv @ b[user]) + 0.4 * np.sqrt(np.einsum("nd,de,ne->n", x, width, x))
        np.testing.assert_allclose(agent.scores(np.array([user]))[0], want, rtol=1e-9)


def test_sw_linucb_forgets_exactly_the_steps_outside_its_window():
    # Catches: the oldest step never subtracted, the wrong step subtracted, a window of
    # examinations instead of steps.
    agent = _features_agent(SlidingWindowLinUCB, window=2)
    x, lam = agent.features, 0.7
    for slates, clicked, skipped in STEPS:
        agent.update(_batch([0, 1], slates, clicked, skipped))
    for user in range(2):
        v, b = lam * np.eye(agent.dim), np.zeros(agent.dim)
        for slates, clicked, skipped in STEPS[1:]:  # the last two steps only
            for slot in range(2):
                if clicked[user][slot] or skipped[user][slot]:
                    row = x[slates[user][slot]]
                    v += np.outer(row, row)
                    b += clicked[user][slot] * row
        np.testing.assert_allclose(agent.v_[user], v, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(agent.b_[user], b, rtol=1e-9, atol=1e-12)
        inv = np.linalg.inv(v)
        want = x @ (inv @ b) + 0.4 * np.sqrt(np.einsum("nd,de,ne->n", x, inv, x))
        np.testing.assert_allclose(agent.scores(np.array([user]))[0], want, rtol=1e-9)


def test_glr_linucb_restarts_a_user_whose_clicks_fall_and_only_that_user():
    # Catches: no restart, a restart that forgets the alarming step, other users reset.
    agent = _features_agent(GLRLinUCB, glr_delta=0.05)
    x, lam = agent.features, 0.7
    restarted_at = None
    for step in range(40):
        clicks_user0 = step < 20  # user 0 stops clicking item 0 at step 20; user 1 never changes
        batch = _batch([0, 1], [[0, 1], [2, 3]], [[clicks_user0, False], [True, False]],
                       [[not clicks_user0, True], [False, True]])  # fmt: skip
        metrics = agent.update(batch)
        if metrics["restarts"] and restarted_at is None:
            restarted_at = step
            row0, row1 = x[0], x[1]
            a = lam * np.eye(agent.dim) + np.outer(row0, row0) + np.outer(row1, row1)
            np.testing.assert_allclose(agent.a_[0], a, rtol=1e-12)
            np.testing.assert_allclose(agent.b_[0], np.zeros(agent.dim), atol=1e-15)
    assert restarted_at is not None and 20 <= restarted_at <= 30
    assert agent.detector.alarms_[1] == 0
    assert agent.a_[1][0, 0] > 30  # user 1 kept all 40 steps


def _items(seed: int = 0, n: int = 40, d: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("detector", ["two-speed", "glr"])
def test_a_detected_change_replaces_the_slow_posterior_by_the_fast_one(detector):
    # Catches: the fast posterior forgetting at the slow rate, a detector that never fires on
    # a clear change or fires in a stationary stretch, a restart to the prior instead of the
    # fast posterior, other users touched.
    items = _items(5)
    model = RidgeUserModel(
        items, 5, 2.0, 0.99, UserKeys(0, 0), detector=detector, change_threshold=4.0,
        fast_forgetting=0.7, glr_delta=0.05,
    )  # fmt: skip
    x, dim = model.features, model.features.shape[1]
    slate, examined = np.array([[3, 4], [3, 4]]), np.ones((2, 2), bool)
    fast = np.stack([2.0 * np.eye(dim)] * 2)
    fast_b = np.zeros((2, dim))
    fired = None
    for step in range(80):
        changed = step >= 40  # user 0 stops clicking (item 3, clicked until now)
        clicks = np.array([[not changed, False], [True, False]])
        before_fast = (fast[0].copy(), fast_b[0].copy())
        model.update(np.arange(2), slate, clicks, examined)
        fast = 0.7 * fast + 0.3 * 2.0 * np.eye(dim)
        fast_b *= 0.7
        for user in range(2):
            for slot in range(2):
                fast[user] += np.outer(x[slate[user, slot]], x[slate[user, slot]])
                fast_b[user] += clicks[user, slot] * x[slate[user, slot]]
        np.testing.assert_allclose(model.fast_a_[:2], fast, rtol=1e-10)
        np.testing.assert_allclose(model.fast_b_[:2], fast_b, rtol=1e-10, atol=1e-12)
        if fired is None and model.restarts_[0]:
            fired = step
            # slow := fast as it was before this step, then this step added at the slow rate
            a = 0.99 * before_fast[0] + 0.01 * 2.0 * np.eye(dim)
            a += np.outer(x[3], x[3]) + np.outer(x[4], x[4])
            np.testing.assert_allclose(model.a_[0], a, rtol=1e-10)
    assert fired is not None and 40 <= fired <= 50
    assert model.restarts_[1] == 0
