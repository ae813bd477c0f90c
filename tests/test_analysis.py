"""Known answers for the analysis layer: adaptation curves, plateaus, times to plateau,
Kaplan-Meier, RMST and log-rank."""

import dataclasses
import math

import numpy as np
import pytest

from adaptrec.analysis import analyse_agent
from adaptrec.analysis.curves import (
    FLAT_GAIN,
    curve_figures,
    curve_statistics,
    segments,
    share_of_oracle,
)
from adaptrec.analysis.survival import (
    SurvivalData,
    kaplan_meier_figures,
    logrank_p,
    survival_data,
)
from adaptrec.analysis.text import headline_sentence
from adaptrec.core.config import default_run_config


def exponential(start, plateau, tau, horizon):
    t = np.arange(horizon)
    return plateau - (plateau - start) * np.exp(-t / tau)


def users_around(curve, n_users=40, spread=0.05, seed=0):
    """Users whose shares scatter around ``curve`` in +/- pairs, so the mean over users is
    exactly ``curve`` (up to rounding) while the bootstrap still sees a spread."""
    noise = np.random.default_rng(seed).uniform(-spread, spread, (n_users // 2, len(curve)))
    return np.concatenate([curve + noise, curve - noise])


def rng():
    return np.random.default_rng(1)


def test_exponential_approach_has_the_analytic_time_constant():
    """A curve start + (plateau - start)(1 - exp(-t/tau)) is 90% of the way at t >= tau ln 10
    and half way at t >= tau ln 2. Catches an off-by-one in the step count, a plateau taken
    over the wrong steps, or times measured from the plateau instead of the start."""
    tau, horizon = 10.0, 200
    shares = users_around(exponential(0.2, 0.8, tau, horizon))
    figures = curve_figures(shares, resamples=300, rng=rng())
    assert figures.plateau.estimate == pytest.approx(0.8, abs=1e-6)
    assert figures.start.estimate == pytest.approx(0.2, abs=1e-9)
    assert figures.times[0.9].estimate == math.ceil(tau * math.log(10))  # 24
    assert figures.times[0.5].estimate == math.ceil(tau * math.log(2))  # 7
    assert not figures.flat
    for interval in (figures.plateau, figures.times[0.9], figures.times[0.5]):
        assert interval.low <= interval.estimate <= interval.high
    # the interval reflects real spread: neither a point nor the whole horizon
    assert figures.times[0.9].high - figures.times[0.9].low < 10


def test_a_curve_that_never_moves_is_flat_with_time_zero():
    """Nothing to adapt: time 0 (stated as flat), not the first noisy crossing and not
    undefined."""
    shares = users_around(np.full(100, 0.5), spread=0.2)
    figures = curve_figures(shares, resamples=300, rng=rng())
    assert figures.flat
    assert figures.times[0.9].estimate == 0 and figures.times[0.5].estimate == 0
    assert figures.plateau.estimate == pytest.approx(0.5)
    assert FLAT_GAIN > 0


def test_an_overshoot_that_falls_back_counts_the_first_crossing_on_the_way_up():
    """Up to 0.9 by step 10, down to 0.6 by step 30, flat after: plateau 0.6, and 90% of the
    way from 0.2 (0.56) is first reached on the rise (0.2 + 0.07 t >= 0.56 -> t = 6), not when
    the curve settles. Catches "last crossing" or "distance to the maximum" definitions."""
    rise = 0.2 + 0.07 * np.arange(11)
    fall = np.linspace(0.9, 0.6, 21)[1:]
    curve = np.concatenate([rise, fall, np.full(70, 0.6)])
    _start, plateau, times = curve_statistics(curve[None, :])
    assert plateau[0] == pytest.approx(0.6)
    assert times[0.9][0] == 6
    assert times[0.5][0] == math.ceil((0.4 - 0.2) / 0.07)  # 0.2 + 0.5 * 0.4 = 0.4 -> t = 3


def test_a_falling_curve_times_its_fall():
    """An agent that gets worse (e.g. after fatigue sets in) has a negative gain; its time is
    when it has fallen 90% of the way, not 0 and not the end."""
    curve = exponential(0.9, 0.3, 5.0, 100)
    _, plateau, times = curve_statistics(curve[None, :])
    assert plateau[0] == pytest.approx(0.3, abs=1e-6)
    assert times[0.9][0] == math.ceil(5 * math.log(10))


def test_drift_in_the_middle_splits_first_visit_and_recovery_curves():
    """Half the users drift at step 60 of 120: the first-visit curve stops at the drift for
    everyone, the recovery curve aligns drifting users on their drift step. A bug that mixes
    post-drift steps into the first-visit plateau, or misaligns the recovery curve, moves the
    known answers (plateau 0.8 then 0.7; times ceil(8 ln 10) = 19 and ceil(4 ln 10) = 10)."""
    n_users, n_steps, drift_at = 40, 120, 60
    before = exponential(0.2, 0.8, 8.0, drift_at)
    after = exponential(0.3, 0.7, 4.0, n_steps - drift_at)
    stay = exponential(0.2, 0.8, 8.0, n_steps)
    share = np.empty((n_users, n_steps))
    drift = np.full(n_users, -1)
    share[: n_users // 2] = np.concatenate([before, after])
    drift[: n_users // 2] = drift_at
    share[n_users // 2 :] = stay
    parts = segments(share, drift)
    assert parts.first_visit.shape == (n_users, drift_at)
    assert parts.since_drift.shape == (n_users // 2, n_steps - drift_at)
    np.testing.assert_allclose(parts.since_drift[0], after)

    config = dataclasses.replace(
        default_run_config(n_users, n_steps), bootstrap_resamples=200, window=5
    )
    oracle = np.full((n_users, n_steps), 2.0)
    data = {
        "expected": share * oracle,
        "oracle": oracle,
        "clicks": np.round(share * oracle),
        "reward": share,
        "session_end": np.zeros((n_users, n_steps), bool),
        "drift_step": drift,
        "slate_size": 5,
    }
    figures = analyse_agent(data, config, 0).figures
    assert figures["plateau"]["estimate"] == pytest.approx(0.8, abs=0.01)
    assert figures["time_to_plateau"]["estimate"] == math.ceil(8 * math.log(10))
    assert figures["plateau_after_drift"]["estimate"] == pytest.approx(0.7, abs=1e-3)
    assert figures["recovery_to_plateau"]["estimate"] == math.ceil(4 * math.log(10))
    assert figures["plateau"]["horizon"] == drift_at
    survival = figures["survival"]["time_to_adapt"]["0.75"]
    assert survival["horizon"] == drift_at  # everyone is followed until the first drift
    sentence = headline_sentence("agent", figures, config)
    assert "censored" not in sentence and "0.80 of the oracle" in sentence


def test_no_drift_leaves_recovery_figures_empty_not_made_up():
    share = users_around(exponential(0.2, 0.8, 5.0, 50))
    parts = segments(share, np.full(len(share), -1))
    assert parts.since_drift.size == 0
    assert curve_figures(parts.since_drift, resamples=100, rng=rng()) is None


def test_share_of_oracle_counts_an_oracle_without_clicks_as_fully_served():
    expected = np.array([[0.5, 0.0]])
    oracle = np.array([[1.0, 0.0]])
    np.testing.assert_array_equal(share_of_oracle(expected, oracle), [[0.5, 1.0]])


def test_kaplan_meier_median_reached_share_and_rmst_by_hand():
    """Events at 2 and 4, censored at 3 and 6, horizon 6:
    S(t) = 1 on [0,2), 3/4 on [2,4), 3/8 on [4,6]; reached by 6 = 1 - 3/8 = 0.625;
    median = 4 (first t with S <= 1/2); RMST = 2*1 + 2*3/4 + 2*3/8 = 4.25."""
    data = SurvivalData(np.array([2.0, 3.0, 4.0, 6.0]), np.array([True, False, True, False]), 6)
    figures = kaplan_meier_figures(data)
    assert figures["reached_by_horizon"]["estimate"] == pytest.approx(0.625)
    assert figures["km_median"]["estimate"] == pytest.approx(4.0)
    assert figures["rmst"]["estimate"] == pytest.approx(4.25)
    # Var = sum A_j^2 d_j / (n_j (n_j - d_j)): A(2) = 2*3/4 + 2*3/8 = 2.25 (n=4, d=1),
    # A(4) = 2*3/8 = 0.75 (n=2, d=1) -> 2.25^2/12 + 0.75^2/2 = 0.703125. Catches using the
    # spread of the restricted time over users (lifelines' return_variance) as the error of
    # its mean.
    half = 1.959964 * math.sqrt(0.703125)
    assert figures["rmst"]["low"] == pytest.approx(4.25 - half)
    assert figures["rmst"]["high"] == pytest.approx(min(6, 4.25 + half))
    assert figures["events"] == 2 and figures["n_users"] == 4


def test_kaplan_meier_median_is_null_when_fewer_than_half_get_there():
    """3 of 10 users adapt: the median does not exist (JSON null), the RMST still does."""
    times = np.array([5.0, 7.0, 9.0] + [np.inf] * 7)
    data = survival_data(times, np.full(10, 20))
    figures = kaplan_meier_figures(data)
    assert figures["km_median"]["estimate"] is None
    assert figures["reached_by_horizon"]["estimate"] == pytest.approx(0.3)
    # RMST = 5 + 2*0.9 + 2*0.8 + 11*0.7
    assert figures["rmst"]["estimate"] == pytest.approx(5 + 1.8 + 1.6 + 7.7)


def test_logrank_separates_different_groups_and_not_identical_ones():
    rng_ = np.random.default_rng(3)
    a = rng_.exponential(10, 200)
    same = survival_data(a, np.full(200, 1e9))
    assert logrank_p(same, same) == pytest.approx(1.0)
    slow = survival_data(rng_.exponential(40, 200), np.full(200, 1e9))
    assert logrank_p(same, slow) < 1e-6
    b = survival_data(rng_.exponential(10, 200), np.full(200, 1e9))
    assert logrank_p(same, b) > 0.01  # two draws of the same law: not a tiny p
