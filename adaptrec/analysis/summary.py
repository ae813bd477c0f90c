"""Every figure of an agent, computed once from its per-(user, step) arrays.

``adaptrec run``/``report`` (one run), ``adaptrec compare`` (seeds pooled per scenario) and
``adaptrec sweep`` (seeds pooled per point) all call :func:`agent_figures`, so a figure has one
definition. The keys are documented in :mod:`adaptrec.report` (summary.json) and the README.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from adaptrec.analysis.curves import CurveFigures, curve_figures, segments, share_of_oracle
from adaptrec.analysis.metrics import (
    bootstrap_interval,
    cumulative_regret,
    recovery_time,
    time_to_adapt,
)
from adaptrec.analysis.new_items import new_item_figures
from adaptrec.analysis.survival import (
    THRESHOLDS,
    SurvivalData,
    kaplan_meier_figures,
    logrank_p,
    survival_data,
)
from adaptrec.core.config import DISPLAY_ORDER, RunConfig
from adaptrec.core.rng import Component, generator

SEED_AGENT = "llm-cosine"
"""The agent every other agent's survival curves are tested against (log-rank)."""

ARRAY_KEYS = ("expected", "oracle", "clicks", "reward", "session_end", "drift_step", "users")

NO_FIGURE: dict[str, Any] = {"estimate": None, "low": None, "high": None}

METRICS = (
    "ctr",
    "share_of_oracle",
    "regret",
    "plateau",
    "time_to_plateau",
    "time_to_plateau_50",
    "plateau_after_drift",
    "recovery_to_plateau",
    "recovery_to_plateau_50",
    "time_to_adapt",
    "time_to_adapt_realised",
    "recovery",
    "recovery_realised",
    "ctr_before_drift",
    "ctr_after_drift",
)
"""Keys of an agent's figures that are intervals ``{estimate, low, high}`` (sweeps rank by
them)."""

ADAPTATION_FIGURES = (
    "share_of_oracle",
    "plateau",
    "time_to_plateau",
    "plateau_after_drift",
    "recovery_to_plateau",
    "ctr",
)
"""The figures an experiment that varies one setting reports per variant: how much, how
fast from the cold start, how much and how fast after the drift, and the CTR."""


def agent_order(name: str) -> int:
    """Position of an agent in tables and plots: the order of ``DISPLAY_ORDER``, others last."""
    return DISPLAY_ORDER.index(name) if name in DISPLAY_ORDER else len(DISPLAY_ORDER)


def pool_units(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One agent's arrays of several runs (seeds), concatenated along the unit (user) axis."""
    pooled: dict[str, Any] = {"slate_size": parts[0]["slate_size"]}
    for key in ARRAY_KEYS:
        if key in parts[0]:
            pooled[key] = np.concatenate([part[key] for part in parts])
    if "new_items" in parts[0]:  # (seed, item) units, each seed's cohort in id order
        pooled["new_items"] = {
            key: np.concatenate([part["new_items"][key] for part in parts])
            for key in parts[0]["new_items"]
        }
    return pooled


def thresholds_of(config: RunConfig) -> tuple[float, ...]:
    """The survival thresholds: :data:`THRESHOLDS` and the run's headline ``threshold``."""
    return tuple(sorted({*THRESHOLDS, float(config.threshold)}))


def threshold_key(threshold: float) -> str:
    return f"{threshold:g}"


@dataclass(frozen=True)
class AgentAnalysis:
    """One agent's figures (``figures``: the summary.json entry), its curves (for plots) and
    its survival data per (``"time_to_adapt"`` | ``"recovery"``, threshold)."""

    figures: dict[str, Any]
    first_visit: CurveFigures | None
    since_drift: CurveFigures | None
    survival: dict[tuple[str, float], SurvivalData]


def _curve_entries(curve: CurveFigures | None, plateau: str, time: str, start: str) -> dict:
    if curve is None:
        empty = {**NO_FIGURE, "n_users": 0}
        return {plateau: empty, time: empty, f"{time}_50": empty, start: empty}
    extra = {"n_users": curve.n_users, "horizon": curve.horizon, "flat": curve.flat}
    return {
        start: curve.start.to_dict(),
        plateau: {**curve.plateau.to_dict(), **extra},
        time: {**curve.times[0.9].to_dict(), **extra},
        f"{time}_50": {**curve.times[0.5].to_dict(), **extra},
    }


def _reach(steps: np.ndarray, config: RunConfig, rng, fraction_key: str) -> dict[str, Any]:
    """Median steps with its interval, the share of users that got there, and their count."""
    interval = bootstrap_interval(steps, "median", resamples=config.bootstrap_resamples, rng=rng)
    reached = float(np.isfinite(steps).mean()) if steps.size else None
    return {**interval.to_dict(), fraction_key: reached, "n_users": int(steps.size)}


def analyse_agent(
    data: dict[str, Any],
    config: RunConfig,
    agent_index: int,
    oracle_items: dict[str, np.ndarray] | None = None,
) -> AgentAnalysis:
    """Every figure of one agent from its arrays (see :func:`adaptrec.logs.read_agent_arrays`);
    ``oracle_items``: the oracle's new-item arrays, for the share of its exposure."""
    window, threshold = config.window, config.threshold
    expected, oracle, clicks = data["expected"], data["oracle"], data["clicks"]
    k, drift = data["slate_size"], np.asarray(data["drift_step"])
    n_steps = expected.shape[1]
    streams = iter(range(100))  # append new streams at the end: earlier figures stay put

    def rng():
        return generator(config.seed, Component.REPORT, agent_index, next(streams))

    def interval(values: np.ndarray) -> dict[str, float | None]:
        return bootstrap_interval(values, resamples=config.bootstrap_resamples, rng=rng()).to_dict()

    out: dict[str, Any] = {
        "ctr": interval(clicks.mean(axis=1) / k),
        "regret": interval(cumulative_regret(expected, oracle)),
        "share_of_oracle": interval(expected.sum(axis=1) / oracle.sum(axis=1)),
    }
    for suffix, achieved in (("", expected), ("_realised", clicks)):
        adapt = time_to_adapt(
            achieved, oracle, window=window, threshold=threshold, drift_step=drift
        )
        out[f"time_to_adapt{suffix}"] = _reach(adapt, config, rng(), "adapted_fraction")
        recover = recovery_time(achieved, oracle, drift, window=window, threshold=threshold)
        out[f"recovery{suffix}"] = _reach(recover, config, rng(), "recovered_fraction")
    drifting = (drift >= window) & (drift + window <= n_steps)
    # Each drifting user's clicks in the window before and after its drift, from cumulative
    # sums (clicks are whole numbers, so every sum is exact: the bits of a slice's mean).
    cumulative = np.concatenate([np.zeros((len(clicks), 1)), np.cumsum(clicks, axis=1)], axis=1)
    at = drift[drifting][:, None] + np.array([-window, 0, window])[None, :]
    edges = np.take_along_axis(cumulative[drifting], at, axis=1)
    before = (edges[:, 1] - edges[:, 0]) / window / k
    after = (edges[:, 2] - edges[:, 1]) / window / k
    out["ctr_before_drift"] = interval(before)
    out["ctr_after_drift"] = interval(after)
    sessions = data["session_end"].sum(axis=1) + 1  # the last session is still open
    out["mean_session_length"] = float((n_steps / sessions).mean())

    parts = segments(share_of_oracle(expected, oracle), drift)
    resamples = config.bootstrap_resamples
    first = curve_figures(parts.first_visit, resamples=resamples, rng=rng())
    since = curve_figures(parts.since_drift, resamples=resamples, rng=rng())
    out.update(_curve_entries(first, "plateau", "time_to_plateau", "start_share"))
    out.update(
        _curve_entries(since, "plateau_after_drift", "recovery_to_plateau", "start_after_drift")
    )

    survival: dict[tuple[str, float], SurvivalData] = {}
    adapt_end = np.where((drift >= 0) & (drift < n_steps), drift, n_steps)
    moved = (drift >= 0) & (drift < n_steps)
    for x in thresholds_of(config):
        adapt = time_to_adapt(expected, oracle, window=window, threshold=x, drift_step=drift)
        survival["time_to_adapt", x] = survival_data(adapt, adapt_end)
        recover = recovery_time(
            expected[moved], oracle[moved], drift[moved], window=window, threshold=x
        )
        survival["recovery", x] = survival_data(recover, n_steps - drift[moved])
    out["survival"] = {
        kind: {
            threshold_key(x): kaplan_meier_figures(survival[kind, x]) for x in thresholds_of(config)
        }
        for kind in ("time_to_adapt", "recovery")
    }
    if "new_items" in data:
        out["new_items"] = new_item_figures(data["new_items"], oracle_items, config, rng)
    return AgentAnalysis(out, first, since, survival)


def agent_figures(data: dict[str, Any], config: RunConfig, agent_index: int) -> dict[str, Any]:
    """The summary.json entry of one agent (no log-rank: that needs the other agents)."""
    return analyse_agent(data, config, agent_index).figures


def analyse_agents(
    arrays: dict[str, dict[str, Any]], config: RunConfig
) -> dict[str, AgentAnalysis]:
    """Every agent's analysis in display order, with log-rank p-values against the seed agent
    (``survival.<kind>.<threshold>.logrank_p_vs_seed``) and a headline sentence."""
    from adaptrec.analysis.text import headline_sentence

    names = sorted(arrays, key=agent_order)
    oracle_items = arrays["oracle"].get("new_items") if "oracle" in arrays else None
    analyses = {
        name: analyse_agent(arrays[name], config, agent_order(name), oracle_items) for name in names
    }
    seed = analyses.get(SEED_AGENT)
    for name, analysis in analyses.items():
        if seed is not None and name != SEED_AGENT:
            for (kind, x), data in analysis.survival.items():
                entry = analysis.figures["survival"][kind][threshold_key(x)]
                entry["logrank_p_vs_seed"] = logrank_p(seed.survival[kind, x], data)
        analysis.figures["headline"] = headline_sentence(name, analysis.figures, config)
    return analyses


def load_run(
    run_dir: str | os.PathLike[str], known: dict[str, dict[str, Any]] | None = None
) -> tuple[RunConfig, dict[str, dict[str, Any]], dict[str, Any] | None]:
    """The run's config, each agent's per-(user, step) arrays and the data provenance (``None``
    for a synthetic catalog), read from Parquet (the files' metadata always; the rows only for
    agents not in ``known``, whose arrays are given)."""
    from adaptrec.logs import read_agent_arrays, read_metadata, step_files

    arrays: dict[str, dict[str, Any]] = {}
    config: RunConfig | None = None
    data: dict[str, Any] | None = None
    for path in step_files(run_dir):
        meta = read_metadata(path)
        file_config = RunConfig.from_dict(meta["config"])
        if config is not None and file_config != config:
            raise ValueError(f"{path} was written by a different run config than its neighbours")
        config, data = file_config, meta["data"]
        if known is not None and meta["agent"] in known:
            arrays[meta["agent"]] = known[meta["agent"]]
        else:
            arrays[meta["agent"]] = read_agent_arrays(path, file_config)
    assert config is not None
    return config, dict(sorted(arrays.items(), key=lambda item: agent_order(item[0]))), data
