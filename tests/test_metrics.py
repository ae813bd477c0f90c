import numpy as np
import pytest

from adaptrec.analysis import metrics
from adaptrec.analysis.curves import curve_figures
from adaptrec.analysis.metrics import (
    bootstrap_interval,
    cumulative_regret,
    per_step_mean,
    recovery_time,
    steps_to_reach,
    time_to_adapt,
    trailing_mean,
)


def test_trailing_mean_of_a_known_sequence():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(trailing_mean(x, 2), [[1.5, 2.5, 3.5]])
    np.testing.assert_allclose(trailing_mean(x, 4), [[2.5]])


def test_time_to_adapt_counts_steps_until_the_window_reaches_the_threshold():
    oracle = np.ones((3, 8))
    achieved = np.array(
        [
            [0, 0, 0, 1, 1, 1, 1, 1],  # window 2 first >= 0.9 over steps 4-5 (1-based) -> 5
            [1, 1, 1, 1, 1, 1, 1, 1],  # adapted in the first window -> 2 (= window)
            [0.8] * 8,  # never reaches 0.9 -> censored
        ],
        dtype=float,
    )
    assert time_to_adapt(achieved, oracle, window=2).tolist() == [5, 2, np.inf]


def test_time_to_adapt_uses_the_oracle_of_the_same_window():
    achieved = np.array([[0.45, 0.45, 0.45]])
    oracle = np.array([[1.0, 0.5, 0.5]])
    assert time_to_adapt(achieved, oracle, window=2).tolist() == [3]


def test_time_to_adapt_is_censored_at_the_users_drift():
    achieved = np.array([[0, 0, 0, 1, 1, 1, 1.0]] * 2)
    drift = np.array([4, -1])
    assert time_to_adapt(achieved, np.ones((2, 7)), window=2, drift_step=drift).tolist() == [
        np.inf,
        5,
    ]


def test_recovery_is_counted_from_the_drift_over_drifting_users_only():
    achieved = np.array(
        [
            [1, 1, 1, 0, 0, 1, 1, 1],  # drift at 3; windows from 3: (0,0),(0,1),(1,1) at 3..6 -> 4
            [1, 1, 1, 1, 1, 1, 1, 1],  # no drift: dropped
            [1, 1, 0, 0, 0, 0, 0, 0],  # drift at 2, never recovers
        ],
        dtype=float,
    )
    result = recovery_time(achieved, np.ones((3, 8)), np.array([3, -1, 2]), window=2)
    assert result.tolist() == [4, np.inf]


def test_steps_to_reach_only_counts_windows_inside_the_range():
    achieved = np.array([[1.0, 1.0, 0.0, 1.0, 1.0]])
    assert steps_to_reach(achieved, np.ones((1, 5)), window=2, threshold=0.9, start=1).tolist() == [
        4
    ]
    assert steps_to_reach(
        achieved, np.ones((1, 5)), window=2, threshold=0.9, start=1, end=4
    ).tolist() == [np.inf]


def test_regret_sums_the_gap_to_the_oracle():
    expected = np.array([[0.5, 1.0], [0.0, 0.0]])
    oracle = np.array([[1.0, 1.0], [2.0, 1.0]])
    assert cumulative_regret(expected, oracle).tolist() == [0.5, 3.0]


def test_bootstrap_interval_of_constant_data_has_zero_width():
    interval = bootstrap_interval(np.full(50, 3.0))
    assert (interval.estimate, interval.low, interval.high) == (3.0, 3.0, 3.0)


def test_bootstrap_interval_of_a_mean_matches_the_normal_theory():
    values = np.random.default_rng(0).normal(10.0, 2.0, size=2000)
    interval = bootstrap_interval(values, resamples=4000, rng=1)
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert interval.estimate == pytest.approx(values.mean())
    assert interval.low == pytest.approx(values.mean() - half, abs=0.02)
    assert interval.high == pytest.approx(values.mean() + half, abs=0.02)


def test_bootstrap_median_with_censored_values_and_json_nulls():
    interval = bootstrap_interval(np.array([5.0, np.inf, np.inf, np.inf, 7.0]), "median")
    assert interval.estimate == np.inf
    assert interval.to_dict()["estimate"] is None
    assert bootstrap_interval(np.array([])).to_dict() == {
        "estimate": None,
        "low": None,
        "high": None,
    }


def test_per_step_band_contains_the_mean_and_shrinks_with_more_users():
    rng = np.random.default_rng(0)
    small, large = rng.random((20, 5)), rng.random((2000, 5))
    mean, low, high = per_step_mean(small)
    assert ((low <= mean) & (mean <= high)).all()
    assert (per_step_mean(large)[2] - per_step_mean(large)[1]).max() < (high - low).min()


@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_bootstrap_in_batches_gives_the_figures_of_one_draw(monkeypatch, statistic):
    # A million users cannot hold 2,000 resamples at once; the batched draw must not move the
    # figures (a batch that restarted or skipped the stream would).
    values = np.random.default_rng(3).exponential(size=101)
    whole = bootstrap_interval(values, statistic, resamples=300, rng=7)
    monkeypatch.setattr(metrics, "RESAMPLE_CELLS", 101 * 7)  # batches of 7, the last of 6
    assert metrics.resample_batch(101, 300) == 7
    assert bootstrap_interval(values, statistic, resamples=300, rng=7) == whole


def test_curve_bootstrap_in_batches_gives_the_figures_of_one_draw(monkeypatch):
    shares = np.random.default_rng(4).uniform(size=(53, 12)).cumsum(axis=1) / 12
    whole = curve_figures(shares, resamples=200, rng=np.random.default_rng(9))
    monkeypatch.setattr(metrics, "RESAMPLE_CELLS", 53 * 9)
    batched = curve_figures(shares, resamples=200, rng=np.random.default_rng(9))
    for name in ("start", "plateau"):
        np.testing.assert_allclose(
            list(getattr(batched, name).to_dict().values()),
            list(getattr(whole, name).to_dict().values()),
            rtol=1e-12,
        )
    assert batched.times == whole.times


@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_large_run_bootstraps_of_few_distinct_values_resample_their_histogram(statistic):
    # Catches: the median read at the wrong position (even n: two middle values), a
    # histogram drawn with the wrong frequencies, censored (inf) values lost.
    from adaptrec.analysis.metrics import _large_bootstrap

    rng = np.random.default_rng(5)
    values = np.round(rng.exponential(10, 400), 0)
    values[:30] = np.inf  # censored
    distinct, frequency = np.unique(values, return_counts=True)
    counts = np.random.default_rng(9).multinomial(400, frequency / 400, size=50)
    function = np.mean if statistic == "mean" else np.median
    by_hand = [function(np.repeat(distinct, row)) for row in counts]
    low, high = _large_bootstrap(values, statistic, 50, np.random.default_rng(9))
    want = np.percentile(by_hand, [2.5, 97.5], method="inverted_cdf")
    np.testing.assert_allclose([low, high], want)


def test_a_large_runs_median_with_most_users_censored_is_inf_not_nan_and_quiet():
    # Catches: percentiles interpolated between two censored medians (inf - inf = nan, with a
    # RuntimeWarning the million-user run printed), a high bound that loses the censoring.
    import warnings

    values = np.full(30_000, np.inf)
    values[:14_900] = np.arange(14_900) % 40  # 49.7% recovered: the median sits at the edge
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        interval = metrics.bootstrap_interval(values, "median", resamples=400, rng=2)
    assert interval.estimate == np.inf
    assert interval.high == np.inf
    assert np.isfinite(interval.low)  # some resamples have half their users recovered


def test_a_large_runs_mean_of_continuous_values_resamples_buckets_of_users():
    # Catches: buckets of unequal weight, sums and sizes out of step, an interval that does
    # not cover the mean's spread.
    from adaptrec.analysis.metrics import BUCKETS, bucket_resampled_means, bucket_sums, buckets

    values = np.random.default_rng(3).normal(2.0, 1.0, 150_000)
    groups = buckets(len(values))
    assert groups.max() == BUCKETS - 1 and np.bincount(groups).min() == 15
    np.testing.assert_allclose(bucket_sums(values).sum(), values.sum())
    means = bucket_resampled_means(values, np.random.default_rng(1), 2000)
    assert abs(means.mean() - values.mean()) < 1e-3
    assert means.std() == pytest.approx(values.std() / np.sqrt(len(values)), rel=0.1)
    interval = metrics.bootstrap_interval(values, "mean", resamples=2000, rng=1)
    assert interval.low < values.mean() < interval.high


def test_bucket_resamples_drawn_a_few_at_a_time_are_the_draws_of_one(monkeypatch):
    # Catches: a chunk that restarts or skips the random stream, a last short chunk that
    # reads the previous chunk's counts, offsets that mix two resamples' buckets.
    values = np.random.default_rng(6).exponential(size=(30_001, 3))
    g = metrics.BUCKETS
    index = np.random.default_rng(2).integers(0, g, size=(10, g))
    counts = np.stack([np.bincount(row, minlength=g) for row in index]).astype(np.float64)
    by_hand = (counts @ metrics.bucket_sums(values)) / (
        counts @ np.bincount(metrics.buckets(len(values)))
    )[:, None]
    monkeypatch.setattr(metrics, "BUCKET_RESAMPLES_AT_ONCE", 4)  # chunks of 4, 4 and 2
    chunked = metrics.bucket_resampled_means(values, np.random.default_rng(2), 10)
    np.testing.assert_allclose(chunked, by_hand, rtol=1e-12)
