"""The plots of a run, a comparison scenario and a sweep; each written atomically as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from adaptrec.analysis.metrics import per_step_mean, trailing_mean
from adaptrec.analysis.summary import AgentAnalysis, agent_order, threshold_key
from adaptrec.analysis.survival import reached_curve
from adaptrec.core.config import RunConfig
from adaptrec.core.files import atomic_output


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed); imported on first
    use, so the analysis layer loads without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Save through a temporary file and a rename, then close the figure."""
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        pyplot().close(fig)


def colour(agent: str):
    """A stable colour per agent (tab20: more agents than the default cycle's 10 colours)."""
    index = agent_order(agent)
    return pyplot().get_cmap("tab20").colors[(2 * index) % 20 + (index // 10) % 2]


def _style(agent: str) -> str:
    return "--" if agent in ("oracle", "random") else "-"


LONG_CURVE = 400
"""Curves longer than this (news-switch: 5,000 steps of 20 units with 0/1 clicks) are drawn as
means over log-spaced bins on a symmetric-log step axis: per-step means of a few units are
noise at that length, and the adaptation happens in the first few percent of the steps."""


def _display_bins(horizon: int) -> np.ndarray:
    """Start steps of the bins a curve of ``horizon`` steps is drawn with, int64, ascending,
    first 0; every step its own bin for short curves."""
    if horizon <= LONG_CURVE:
        return np.arange(horizon)
    tail = np.geomspace(20, horizon, 120).astype(np.int64)
    return np.unique(np.concatenate([np.arange(20), tail[tail < horizon]]))


def plot_adaptation(
    analyses: dict[str, AgentAnalysis], config: RunConfig, path: Path, title: str
) -> None:
    """Mean share of the oracle against steps since the first visit and since the drift, with
    95% bands over users; a dot marks each agent's time to plateau (90%), a thin line its
    plateau."""
    plt = pyplot()
    drifting = any(a.since_drift is not None for a in analyses.values())
    long_curves = any(
        c is not None and c.horizon > LONG_CURVE
        for a in analyses.values()
        for c in (a.first_visit, a.since_drift)
    )
    fig, axes = plt.subplots(1, 2 if drifting else 1, figsize=(12 if drifting else 8, 4.8))
    axes = np.atleast_1d(axes)
    panels = [("first_visit", "steps since the user's first visit", "time_to_plateau")]
    if drifting:
        panels.append(("since_drift", "steps since the user's drift", "recovery_to_plateau"))
    for axis, (attribute, label, time_key) in zip(axes, panels, strict=True):
        for name, analysis in analyses.items():
            curve = getattr(analysis, attribute)
            if curve is None:
                continue
            steps = _display_bins(curve.horizon)
            width = np.diff(np.append(steps, curve.horizon))

            def binned(values: np.ndarray, steps=steps, width=width) -> np.ndarray:
                return np.add.reduceat(values, steps) / width

            mean = binned(curve.mean)
            c = colour(name)
            axis.plot(steps, mean, _style(name), color=c, linewidth=1.2, label=name)
            if not long_curves:
                # (A bin's mean of per-step bounds is not an interval of the bin's mean, so
                # long curves go without bands; their intervals are in the tables.)
                axis.fill_between(steps, curve.low, curve.high, color=c, alpha=0.2, linewidth=0)
            axis.hlines(
                curve.plateau.estimate,
                0.8 * curve.horizon,
                curve.horizon - 1,
                color=c,
                linewidth=0.8,
                alpha=0.8,
            )
            t = int(analysis.figures[time_key]["estimate"])
            axis.plot([t], [mean[np.searchsorted(steps, t, "right") - 1]], "o", color=c, ms=4)
        if long_curves:
            axis.set_xscale("symlog", linthresh=20)
            label += " (log scale beyond 20; means over log-spaced bins)"
        axis.set_xlabel(label)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("expected clicks / oracle's (mean over users)")
    if drifting:
        axes[1].set_title("recovery after the drift")
    axes[0].set_title("from the first visit")
    axes[-1].legend(fontsize=7, loc="lower right", ncol=2)
    bands = "" if long_curves else ", 95% bands"
    fig.suptitle(f"{title}: adaptation curves{bands}; dot = 90% of the way to the plateau")
    fig.tight_layout()
    save_figure(fig, path)


def plot_survival(analyses: dict[str, AgentAnalysis], config: RunConfig, path: Path) -> None:
    """Kaplan-Meier share of users who reached each threshold share of the oracle, against
    steps, for time to adapt and (with drift) recovery: colour = agent, line style =
    threshold (solid = the run's headline threshold)."""
    from matplotlib.lines import Line2D

    plt = pyplot()
    thresholds = sorted({x for a in analyses.values() for (_, x) in a.survival}, reverse=True)
    headline = float(config.threshold)
    others = iter(["--", ":", "-."] * len(thresholds))
    styles = {x: "-" if x == headline else next(others) for x in thresholds}
    kinds = [("time_to_adapt", "steps since the first visit")]
    if any(a.survival["recovery", headline].durations.size for a in analyses.values()):
        kinds.append(("recovery", "steps since the drift"))
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.8))
    axes = np.atleast_1d(axes)
    for axis, (kind, label) in zip(axes, kinds, strict=True):
        horizon = 0
        for name, analysis in analyses.items():
            for x in thresholds:
                data = analysis.survival[kind, x]
                if data.durations.size == 0:
                    continue
                horizon = data.horizon
                steps = np.arange(0, int(data.durations.max()) + 1)
                axis.step(
                    steps, reached_curve(data, steps), styles[x], where="post",
                    color=colour(name), linewidth=1.4 if x == headline else 0.9,
                )  # fmt: skip
        axis.axvline(horizon, color="grey", linewidth=0.6, linestyle=":")
        axis.set_xlabel(label)
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.set_title("time to adapt" if kind == "time_to_adapt" else "recovery after the drift")
    axes[0].set_ylabel("share of users who reached x of the oracle (Kaplan-Meier)")
    handles = [Line2D([], [], color=colour(name), label=name) for name in analyses]
    handles += [
        Line2D([], [], color="black", linestyle=styles[x], label=f"x = {threshold_key(x)}")
        for x in thresholds
    ]
    axes[-1].legend(handles=handles, fontsize=7, loc="upper left", ncol=2)
    fig.suptitle(
        f"Kaplan-Meier; dotted vertical line: the horizon (trailing {config.window} steps)"
    )
    fig.tight_layout()
    save_figure(fig, path)


def plot_ctr(arrays: dict[str, dict[str, Any]], config: RunConfig, path: Path) -> None:
    """CTR against step (with 95% bands) and expected/oracle per agent; drift marked."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for name, data in arrays.items():
        steps = np.arange(data["clicks"].shape[1])
        mean, low, high = per_step_mean(data["clicks"] / data["slate_size"])
        (line,) = top.plot(steps, mean, label=name, linewidth=1.2)
        top.fill_between(steps, low, high, color=line.get_color(), alpha=0.25, linewidth=0)
        ratio = data["expected"].mean(axis=0) / data["oracle"].mean(axis=0)
        bottom.plot(steps, ratio, label=name, color=line.get_color(), linewidth=1.2)
    bottom.axhline(config.threshold, color="grey", linewidth=0.8, linestyle=":")
    if config.users.drift != "none":
        for axis in (top, bottom):
            axis.axvline(
                config.users.drift_step,
                color="black",
                linestyle="--",
                linewidth=1,
                label="drift" if axis is top else None,
            )
            if config.users.drift == "gradual":
                axis.axvspan(
                    config.users.drift_step,
                    config.users.drift_step + config.users.drift_duration,
                    color="grey",
                    alpha=0.1,
                )
    top.set_ylabel("CTR (clicks per item shown)")
    bottom.set_ylabel("expected clicks / oracle's")
    bottom.set_xlabel("step")
    top.legend(loc="best", fontsize=8)
    top.set_title(f"{config.n_users} users; 95% bands over users")
    fig.tight_layout()
    save_figure(fig, path)


def plot_trailing_ctr(
    pooled: dict[str, dict[str, Any]], config: RunConfig, title: str, path: Path
) -> None:
    """Trailing-window CTR against step per agent, 95% band over units, drift marked, and the
    threshold share of the oracle's expected CTR."""
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(9, 5))
    window = config.window
    for agent in sorted(pooled, key=agent_order):
        data = pooled[agent]
        trailing = trailing_mean(data["clicks"] / data["slate_size"], window)
        steps = np.arange(window - 1, data["clicks"].shape[1])
        mean, low, high = per_step_mean(trailing)
        c = colour(agent)
        axis.plot(steps, mean, _style(agent), color=c, label=agent, linewidth=1.1)
        axis.fill_between(steps, low, high, color=c, alpha=0.2, linewidth=0)
    if config.users.drift != "none":
        axis.axvline(config.users.drift_step, color="black", linewidth=1, label="drift")
    if "oracle" in pooled:  # the bar is a share of the best slate's expected clicks
        best = pooled["oracle"]
        bar = config.threshold * trailing_mean(best["expected"] / best["slate_size"], window)
        axis.plot(
            np.arange(window - 1, best["expected"].shape[1]),
            bar.mean(axis=0),
            ":",
            color="grey",
            linewidth=0.9,
            label=f"{config.threshold:.0%} of oracle",
        )
    axis.set_xlabel("step")
    axis.set_ylabel(f"CTR, trailing {window} steps")
    axis.set_title(title)
    axis.legend(fontsize=7, ncol=3, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)
