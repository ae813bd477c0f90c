"""Adaptation metrics computed from per-(user, step) arrays, with bootstrap intervals.

All inputs are ``(U, T)`` arrays over users and steps:

* ``expected`` - expected clicks of the slate that was shown (exact: the simulator knows the
  click probabilities);
* ``oracle`` - expected clicks of the best slate for that user at that step (myopic optimum:
  the k most attractive items in the order of decreasing examination probability);
* ``clicks`` - clicks that actually happened.

**Time-to-adapt** of a user is the number of steps ``t`` (counted from 1) until the first trailing
window of ``window`` steps ending at step ``t`` whose mean expected clicks reach
``threshold`` x the mean oracle expected clicks over the same window. The first window ends at
step ``window``, so ``window`` is the smallest possible value. A user that never gets there
before the end of the search range (the run's end, or the drift for a user whose taste
changes) is *censored* and reported as ``inf``. **Recovery** is the same, counted from the
user's drift step, with windows that lie entirely after the drift. The *realised* variants use
realised clicks in place of expected clicks, against the same oracle expectation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from adaptrec.core.validation import check_array, check_float, check_int


@dataclass(frozen=True)
class Interval:
    """A point estimate with a 95% interval (percentile bootstrap over users)."""

    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        # JSON has no inf/NaN: censored medians become null.
        return {k: (float(v) if np.isfinite(v) else None) for k, v in asdict(self).items()}


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Means of every window of ``window`` consecutive steps: ``(U, T)`` -> ``(U, T-window+1)``.

    Column ``j`` is the mean of steps ``j .. j+window-1`` (window ending at step ``j+window``).
    """
    x = np.asarray(x, dtype=np.float64)
    csum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    return (csum[:, window:] - csum[:, :-window]) / window


def steps_to_reach(
    achieved: np.ndarray,
    oracle: np.ndarray,
    *,
    window: int,
    threshold: float,
    start: np.ndarray | int = 0,
    end: np.ndarray | int | None = None,
) -> np.ndarray:
    """Steps from ``start`` until the trailing window first reaches ``threshold`` x oracle.

    Only windows that lie entirely in ``[start, end)`` count (per user; ``end`` defaults to T).
    Returns ``(U,)`` float64: a step count >= ``window``, or ``inf`` if never reached (censored).
    """
    check_array("achieved", achieved, shape=(None, None))
    check_array("oracle", oracle, shape=achieved.shape)
    check_int("window", window, low=1)
    check_float("threshold", threshold, low=0, low_open=True)
    n_users, n_steps = achieved.shape
    start = np.broadcast_to(np.asarray(start, dtype=np.int64), (n_users,))
    end = np.broadcast_to(np.asarray(n_steps if end is None else end, dtype=np.int64), (n_users,))
    if window > n_steps:
        return np.full(n_users, np.inf)
    reached = trailing_mean(achieved, window) >= threshold * trailing_mean(oracle, window)
    first_step = np.arange(n_steps - window + 1)[None, :]  # window j covers steps j..j+window-1
    valid = (first_step >= start[:, None]) & (first_step + window <= end[:, None])
    hit = reached & valid
    found = hit.any(axis=1)
    first = np.argmax(hit, axis=1)
    return np.where(found, first + window - start, np.inf).astype(np.float64)


def time_to_adapt(
    achieved: np.ndarray,
    oracle: np.ndarray,
    *,
    window: int,
    threshold: float = 0.9,
    drift_step: np.ndarray | None = None,
) -> np.ndarray:
    """Steps until adapted from a cold start, censored at a user's drift (``drift_step`` >= 0)."""
    end = None
    if drift_step is not None:
        end = np.where(drift_step >= 0, drift_step, achieved.shape[1])
    return steps_to_reach(achieved, oracle, window=window, threshold=threshold, end=end)


def recovery_time(
    achieved: np.ndarray,
    oracle: np.ndarray,
    drift_step: np.ndarray,
    *,
    window: int,
    threshold: float = 0.9,
) -> np.ndarray:
    """Steps from each drifting user's drift until re-adapted; users without drift are dropped.

    ``drift_step`` is ``(U,)`` int, -1 for users whose taste does not change. Returns one value
    per drifting user (``inf`` if censored), in user order.
    """
    drifting = np.asarray(drift_step) >= 0
    return steps_to_reach(
        achieved[drifting],
        oracle[drifting],
        window=window,
        threshold=threshold,
        start=np.asarray(drift_step)[drifting],
    )


def cumulative_regret(expected: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """Per-user sum over steps of (oracle - shown) expected clicks: ``(U,)`` float64."""
    return np.sum(np.asarray(oracle, np.float64) - np.asarray(expected, np.float64), axis=1)


RESAMPLE_CELLS = 1 << 24
"""Most resampled values a bootstrap holds at once (128 MB of float64 plus their indices)."""


def resample_batch(n_values: int, resamples: int) -> int:
    """Resamples drawn at a time so that at most :data:`RESAMPLE_CELLS` values are held: all of
    them for the usual run, fewer for a million users. Batches draw the same random numbers in
    the same order as one draw of all (numpy fills arrays in order), so the figures do not
    depend on the batch (tested)."""
    return int(min(resamples, max(1, RESAMPLE_CELLS // max(1, n_values))))


LARGE_RUN_UNITS = 20_000
"""Above this many users (units) a bootstrap over every user costs O(resamples x users):
minutes at a million users. Larger runs resample instead:

* a statistic of values with at most :data:`DISTINCT_VALUES` distinct values (times to reach
  a share, CTRs of short runs) from the values' histogram: resampling ``n`` users with
  replacement and counting each value is exactly a multinomial draw of ``n`` over the
  observed frequencies, so this is the same bootstrap, in O(resamples x distinct values);
* any other mean (and every curve) over :data:`BUCKETS` buckets of users, each resample
  drawing buckets with replacement (a block bootstrap with random equal blocks: the same
  mean, and for a mean the same variance up to a factor (G - 1) / G).

Runs up to this size, every README figure among them, keep the draws they always had."""

DISTINCT_VALUES = 10_000
BUCKETS = 10_000


def buckets(n: int) -> np.ndarray:
    """``(n,)`` int64: each unit's bucket, units dealt round-robin into :data:`BUCKETS`
    buckets (unit order is user id order, unrelated to outcomes)."""
    return np.arange(n) % min(BUCKETS, n)


def bucket_sums(values: np.ndarray) -> np.ndarray:
    """``(G, ...)`` sums of ``values`` ``(n, ...)`` per bucket (:func:`buckets`)."""
    groups = buckets(len(values))
    out = np.zeros((groups.max(initial=0) + 1, *values.shape[1:]))
    np.add.at(out, groups, values)
    return out


BUCKET_RESAMPLES_AT_ONCE = 64
"""Bucket resamples drawn at a time: ``64 x BUCKETS`` counts (5 MB) stay in cache, where
all 2,000 at once (three 160 MB arrays) cost a second of page faults per call."""


def bucket_resampled_means(
    values: np.ndarray, rng: np.random.Generator, resamples: int
) -> np.ndarray:
    """``(resamples, ...)`` means of ``values`` ``(n, ...)`` over bucket resamples.

    Resamples are drawn :data:`BUCKET_RESAMPLES_AT_ONCE` at a time; numpy fills arrays in
    order, so the draws are those of one ``(resamples, G)`` draw (tested)."""
    sums = bucket_sums(values)
    sizes = np.bincount(buckets(len(values))).astype(np.float64)
    g = len(sizes)
    flat = sums.reshape(g, -1)
    means = np.empty((resamples, flat.shape[1]))
    at_once = BUCKET_RESAMPLES_AT_ONCE
    offsets = (np.arange(at_once) * g)[:, None]  # row r's buckets counted in cells r*g...
    for start in range(0, resamples, at_once):
        n = min(at_once, resamples - start)
        # Draws of g buckets with replacement, counted (a multinomial, from uniform indices).
        index = rng.integers(0, g, size=(n, g)) + offsets[:n]
        counts = np.bincount(index.ravel(), minlength=n * g).reshape(n, g).astype(np.float64)
        means[start : start + n] = (counts @ flat) / (counts @ sizes)[:, None]
    return means.reshape(resamples, *values.shape[1:])


def _large_bootstrap(
    values: np.ndarray, statistic: str, resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of ``statistic`` over the resamples of a large run."""
    n = values.size
    distinct, frequency = np.unique(values, return_counts=True)
    if len(distinct) <= DISTINCT_VALUES:
        counts = rng.multinomial(n, frequency / n, size=resamples)
        if statistic == "mean":
            with np.errstate(invalid="ignore"):
                out = (counts * distinct).sum(axis=1) / n
        else:  # the two middle values of each resample (one for odd n)
            cumulative = np.cumsum(counts, axis=1)
            middle = [np.argmax(cumulative > p, axis=1) for p in ((n - 1) // 2, n // 2)]
            with np.errstate(invalid="ignore"):
                out = (distinct[middle[0]] + distinct[middle[1]]) / 2
    elif statistic == "mean":
        out = bucket_resampled_means(values, rng, resamples)
    else:
        raise ValueError(f"a median of {len(distinct)} distinct values needs a smaller run")
    # inverted_cdf picks resampled values instead of interpolating between them: a censored
    # (inf) median next to another must stay inf, and linear interpolation would give inf - inf.
    low, high = np.percentile(out, [2.5, 97.5], method="inverted_cdf")
    return float(low), float(high)


def bootstrap_interval(
    values: np.ndarray,
    statistic: str = "mean",
    *,
    resamples: int = 2000,
    rng: np.random.Generator | int = 0,
) -> Interval:
    """Statistic of ``values`` (1-D, over users) with a 95% percentile-bootstrap interval.

    ``statistic`` is ``'mean'`` or ``'median'``; a median may be ``inf`` when more than half
    the values are censored. Constant data gives a zero-width interval; no values give NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    function = {"mean": np.mean, "median": np.median}[statistic]
    if values.size == 0:
        return Interval(np.nan, np.nan, np.nan)
    estimate = float(function(values))
    if values.size == 1 or np.all(values == values[0]):
        return Interval(estimate, estimate, estimate)
    if values.size > LARGE_RUN_UNITS:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        low, high = _large_bootstrap(values, statistic, resamples, generator)
        return Interval(estimate, low, high)
    with np.errstate(invalid="ignore"):
        result = stats.bootstrap(
            (values,),
            function,
            n_resamples=resamples,
            method="percentile",
            vectorized=True,
            axis=-1,
            rng=rng,
            batch=resample_batch(values.size, resamples),
        )
    return Interval(
        estimate, float(result.confidence_interval.low), float(result.confidence_interval.high)
    )


def per_step_mean(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over users at each step with a normal-approximation 95% band: three ``(T,)`` arrays."""
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean(axis=0)
    if values.shape[0] < 2:
        return mean, mean.copy(), mean.copy()
    half = 1.959964 * values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    return mean, mean - half, mean + half
