"""Time to reach a share of the oracle as survival data: Kaplan-Meier, RMST and log-rank.

A user's *time to adapt* at threshold ``x`` (see :mod:`adaptrec.analysis.metrics`) is an event
time when the user gets there and a right-censored time (the end of the user's search range:
the run's end, or the user's drift) when not. Medians of such data are undefined when fewer
than half the users get there, so the report gives the Kaplan-Meier estimates instead
(lifelines):

* ``reached_by_horizon``: the KM share of users who reached ``x`` by the *horizon* (the
  shortest search range, so every user is followed that long), with its 95% interval;
* ``km_median``: the step by which half the users reached ``x``, with its 95% interval
  (``null`` where the KM curve never gets to one half);
* ``rmst``: the restricted mean time to reach ``x``, i.e. the area under the KM "not yet"
  curve up to the horizon (a user who never gets there counts the whole horizon), with a 95%
  normal interval from its variance. Always defined.

A log-rank test compares two agents' curves. The agents meet the same users (common random
numbers), which makes their times positively correlated; the test's independence assumption
then makes its p-values conservative.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from adaptrec.analysis.metrics import Interval

THRESHOLDS = (0.5, 0.75, 0.9)
"""Default thresholds (shares of the oracle) of the survival figures."""


@dataclass(frozen=True)
class SurvivalData:
    """``durations``: ``(n,)`` float64 steps to the event, or to censoring where ``observed``
    (``(n,)`` bool) is False; ``horizon``: steps every user is followed."""

    durations: np.ndarray
    observed: np.ndarray
    horizon: int


def survival_data(times: np.ndarray, censored_at: np.ndarray) -> SurvivalData:
    """From times with ``inf`` for censored users and each user's censoring time, both ``(n,)``."""
    times = np.asarray(times, dtype=np.float64)
    censored_at = np.asarray(censored_at, dtype=np.float64)
    observed = np.isfinite(times)
    durations = np.where(observed, times, censored_at)
    horizon = int(censored_at.min()) if censored_at.size else 0
    return SurvivalData(durations, observed, horizon)


def _fitter(data: SurvivalData):
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter().fit(data.durations, data.observed)


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else np.inf


def kaplan_meier_figures(data: SurvivalData) -> dict[str, object]:
    """The KM figures of the module docstring, as JSON-ready values (``None`` = undefined)."""
    from lifelines.utils import median_survival_times, restricted_mean_survival_time

    n = int(data.durations.size)
    if n == 0 or data.horizon <= 0:
        return {"n_users": n, "horizon": data.horizon, "events": 0}
    fitter = _fitter(data)
    horizon = float(data.horizon)
    reached = float(fitter.cumulative_density_at_times(horizon).iloc[0])
    band = fitter.confidence_interval_cumulative_density_
    row = band[band.index <= horizon].iloc[-1]
    reached_interval = Interval(reached, float(row.iloc[0]), float(row.iloc[1]))
    median = _finite(fitter.median_survival_time_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bounds = median_survival_times(fitter.confidence_interval_).iloc[0]
    median_interval = Interval(median, _finite(bounds.iloc[0]), _finite(bounds.iloc[1]))
    rmst = float(restricted_mean_survival_time(fitter, t=horizon))
    half = 1.959964 * float(np.sqrt(rmst_variance(fitter, horizon)))
    rmst_interval = Interval(rmst, max(0.0, rmst - half), min(horizon, rmst + half))
    return {
        "n_users": n,
        "horizon": data.horizon,
        "events": int(data.observed.sum()),
        "reached_by_horizon": reached_interval.to_dict(),
        "km_median": median_interval.to_dict(),
        "rmst": rmst_interval.to_dict(),
    }


def rmst_variance(fitter, horizon: float) -> float:
    """Variance of the KM restricted-mean estimate up to ``horizon``.

    The standard Greenwood-type formula, ``sum_j A_j^2 d_j / (n_j (n_j - d_j))`` over event
    times ``t_j <= horizon`` with ``d_j`` events among ``n_j`` at risk and ``A_j`` the area under
    the KM curve from ``t_j`` to the horizon (terms with ``n_j = d_j`` are left out), on
    lifelines' event table. (lifelines' ``restricted_mean_survival_time(return_variance=True)``
    returns the variance of the restricted time itself, a spread over users, not the
    uncertainty of its mean.)
    """
    table = fitter.event_table
    times = table.index.to_numpy(dtype=np.float64)
    events = table["observed"].to_numpy(dtype=np.float64)
    at_risk = table["at_risk"].to_numpy(dtype=np.float64)
    keep = (events > 0) & (times <= horizon) & (at_risk > events)
    if not keep.any():
        return 0.0
    survival = fitter.survival_function_at_times(times).to_numpy()  # S just after each time
    # area from each time to the horizon under the step function S
    edges = np.minimum(np.append(times, horizon), horizon)
    pieces = survival * np.diff(edges)
    area = np.cumsum(pieces[::-1])[::-1]
    terms = area[keep] ** 2 * events[keep] / (at_risk[keep] * (at_risk[keep] - events[keep]))
    return float(terms.sum())


def reached_curve(data: SurvivalData, steps: np.ndarray) -> np.ndarray:
    """KM share of users who reached the threshold by each of ``steps`` ``(S,)`` -> ``(S,)``."""
    if data.durations.size == 0:
        return np.full(len(steps), np.nan)
    return _fitter(data).cumulative_density_at_times(np.asarray(steps, float)).to_numpy()


def logrank_p(a: SurvivalData, b: SurvivalData) -> float | None:
    """Two-sided log-rank p-value of "same time-to-event curve"; ``None`` if either is empty
    or neither group has an event."""
    from lifelines.statistics import logrank_test

    if a.durations.size == 0 or b.durations.size == 0:
        return None
    if not (a.observed.any() or b.observed.any()):
        return None
    result = logrank_test(
        a.durations, b.durations, event_observed_A=a.observed, event_observed_B=b.observed
    )
    return float(result.p_value)
