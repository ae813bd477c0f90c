"""Adaptation curves, and how high and how fast an agent gets: plateau and time to plateau.

The **share of the oracle** of a user at a step is the shown slate's expected clicks divided by
the oracle slate's (both exact: the simulator knows every click probability). An agent's
**adaptation curve** is the mean share over users against steps since the user's first visit
(every user, up to the first drift), and its **recovery curve** the mean share over drifting
users against steps since their drift (up to the last step every drifting user has).

On a curve ``c(0), ..., c(H-1)``:

* *start* is ``c(0)``; *plateau* is the mean of the curve's last fifth (at least one step);
* *time to plateau at f* (f = 0.9 and 0.5) is the first ``t`` (steps after the first one, so
  0 means "already there") at which the curve has gone a fraction ``f`` of the way from its
  start to its plateau: ``c(t) >= start + f (plateau - start)`` for a rising curve, ``<=`` for
  a falling one. It always exists, because some step of the last fifth is at least its mean.
* a curve whose plateau is within :data:`FLAT_GAIN` of its start is *flat*: there is nothing
  to adapt, and its time to plateau is 0.

Intervals are 95% percentile-bootstrap intervals over users (or over pooled (seed, user)
units): each resample reweights the users with multinomial counts and recomputes the curve,
its plateau and its times, so the interval of a time reflects both the noise of the curve and
the spread of users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adaptrec.analysis.metrics import (
    LARGE_RUN_UNITS,
    Interval,
    bucket_resampled_means,
    resample_batch,
)

FLAT_GAIN = 0.02
"""A curve that moves less than this (in share of the oracle) from start to plateau is flat."""

FRACTIONS = (0.9, 0.5)
"""The fractions of the way from start to plateau whose times are reported."""


def share_of_oracle(expected: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """``expected / oracle`` per (user, step): two ``(U, T)`` float arrays -> ``(U, T)`` float64.

    A step whose oracle expects no click at all counts as fully served (share 1): no slate
    could have done better.
    """
    expected = np.asarray(expected, dtype=np.float64)
    oracle = np.asarray(oracle, dtype=np.float64)
    share = np.ones_like(expected)
    np.divide(expected, oracle, out=share, where=oracle > 0)
    return share


@dataclass(frozen=True)
class Segments:
    """Per-user shares aligned for the two curves.

    ``first_visit``: ``(U, H1)`` float64, every user's share at steps ``0..H1-1``, where ``H1``
    is the earliest drift step (or ``T`` without drift). ``since_drift``: ``(D, H2)`` float64,
    the ``D`` drifting users' shares at steps ``drift .. drift+H2-1``, where ``H2`` is the
    number of steps every drifting user has after its drift; ``(0, 0)`` without drift.
    """

    first_visit: np.ndarray
    since_drift: np.ndarray


def segments(share: np.ndarray, drift_step: np.ndarray) -> Segments:
    """Cut ``share`` ``(U, T)`` into the first-visit and since-drift blocks (``drift_step``:
    ``(U,)`` int, -1 for a user whose taste does not change)."""
    n_steps = share.shape[1]
    drift_step = np.asarray(drift_step, dtype=np.int64)
    drifting = (drift_step >= 0) & (drift_step < n_steps)
    if not drifting.any():
        return Segments(share, np.zeros((0, 0)))
    starts = drift_step[drifting]
    first = share[:, : max(1, int(starts.min()))]
    horizon = n_steps - int(starts.max())
    columns = starts[:, None] + np.arange(horizon)[None, :]
    since = np.take_along_axis(share[drifting], columns, axis=1)
    return Segments(first, since)


@dataclass(frozen=True)
class CurveFigures:
    """One curve's figures (each with its 95% interval) and the curve itself.

    ``mean``/``low``/``high``: ``(H,)`` float64, the mean share per step and a 95%
    normal-approximation band over users (for plots). ``times`` maps each fraction of
    :data:`FRACTIONS` to the time to plateau.
    """

    start: Interval
    plateau: Interval
    times: dict[float, Interval]
    flat: bool
    n_users: int
    horizon: int
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def curve_statistics(
    curves: np.ndarray, fractions: tuple[float, ...] = FRACTIONS
) -> tuple[np.ndarray, np.ndarray, dict[float, np.ndarray]]:
    """Start, plateau and times to plateau of each row of ``curves`` ``(B, H)`` float64.

    Returns ``(start (B,), plateau (B,), {f: time (B,) int64})``; see the module docstring.
    """
    curves = np.atleast_2d(np.asarray(curves, dtype=np.float64))
    horizon = curves.shape[1]
    tail = max(1, horizon // 5)
    start = curves[:, 0]
    plateau = curves[:, horizon - tail :].mean(axis=1)
    gain = plateau - start
    times = {}
    for fraction in fractions:
        level = (start + fraction * gain)[:, None]
        # A float mean of a tail can sit one rounding step above each of its values; the
        # tolerance keeps "some step reaches the mean" true in floating point.
        slack = 1e-12 * np.maximum(1.0, np.abs(level))
        reached = np.where(gain[:, None] >= 0, curves >= level - slack, curves <= level + slack)
        first = np.argmax(reached, axis=1)
        times[fraction] = np.where(np.abs(gain) < FLAT_GAIN, 0, first).astype(np.int64)
    return start, plateau, times


def _percentile_interval(estimate: float, resampled: np.ndarray) -> Interval:
    low, high = np.percentile(resampled, [2.5, 97.5], method="inverted_cdf")
    return Interval(float(estimate), float(low), float(high))


def curve_figures(
    shares: np.ndarray,
    *,
    resamples: int,
    rng: np.random.Generator,
    fractions: tuple[float, ...] = FRACTIONS,
) -> CurveFigures | None:
    """Figures of the mean curve of ``shares`` ``(U, H)`` float64, bootstrapped over users.

    Returns ``None`` when there is no user or no step (e.g. the recovery curve of a run without
    drift).
    """
    shares = np.asarray(shares, dtype=np.float64)
    n_users, horizon = shares.shape
    if n_users == 0 or horizon == 0:
        return None
    mean = shares.mean(axis=0)
    start, plateau, times = curve_statistics(mean[None, :], fractions)
    # Resample users: multinomial counts per resample -> weighted mean curves (B, H), in
    # batches of resamples (the same draws as one call) so a million users fit in memory.
    if n_users > LARGE_RUN_UNITS:  # resamples of buckets of users (see metrics)
        boot_curves = bucket_resampled_means(shares, rng, resamples) * n_users
    else:
        batch = resample_batch(n_users, resamples)
        p = np.full(n_users, 1.0 / n_users)
        boot_curves = np.concatenate(
            [
                rng.multinomial(n_users, p, size=min(batch, resamples - done)) @ shares
                for done in range(0, resamples, batch)
            ]
        )
    boot_start, boot_plateau, boot_times = curve_statistics(boot_curves / n_users, fractions)
    if n_users > 1:
        half = 1.959964 * shares.std(axis=0, ddof=1) / np.sqrt(n_users)
    else:
        half = np.zeros(horizon)
    return CurveFigures(
        start=_percentile_interval(start[0], boot_start),
        plateau=_percentile_interval(plateau[0], boot_plateau),
        times={f: _percentile_interval(times[f][0], boot_times[f]) for f in fractions},
        flat=bool(abs(plateau[0] - start[0]) < FLAT_GAIN),
        n_users=n_users,
        horizon=horizon,
        mean=mean,
        low=mean - half,
        high=mean + half,
    )
