"""Metrics -> summary.json, report.md and a CTR plot, computed from the Parquet logs alone.

``adaptrec run`` and ``adaptrec report DIR`` both call :func:`build_report`, so every figure a
run prints can be rebuilt from its ``steps/*.parquet`` files.

summary.json keys (``null`` stands for a value that does not exist, e.g. a censored median):

* ``schema_version`` - 1; ``config`` - the run's config; ``data`` - ``null`` for a synthetic
  catalog, else the real data and the calibration's held-out quality (``source``, ``format``,
  ``path``, ``content_sha256``, ``ratings``, ``users``, ``movies``, ``movies_with_tags``,
  ``link``, ``test_ratings``, ``rmse``, ``train_rmse``, ``auc`` (mean per-user AUC of liked
  over disliked held-out movies), ``auc_users``, ``auc_pooled``); ``window`` - the trailing
  window in steps; ``threshold`` - the fraction of the oracle that counts as adapted;
  ``confidence_level`` - 0.95; ``bootstrap_resamples``.
* ``agents.<name>`` - one entry per agent, each an interval ``{estimate, low, high}`` (95%
  percentile bootstrap over users) unless said otherwise:
  ``ctr`` (mean over users of clicks / items shown); ``regret`` (mean cumulative expected
  regret per user: oracle minus shown expected clicks, summed over steps);
  ``share_of_oracle`` (mean over users of the shown slates' expected clicks as a fraction of
  the oracle's, over the whole run);
  ``time_to_adapt`` and ``time_to_adapt_realised`` (median steps from the cold start, with
  ``adapted_fraction`` and ``n_users``; see :mod:`adaptrec.core.metrics`); ``recovery`` and
  ``recovery_realised`` (median steps from a drift back to the threshold, over drifting users,
  with ``recovered_fraction`` and ``n_users``); ``ctr_before_drift`` and ``ctr_after_drift``
  (drifting users' CTR in the ``window`` steps before and after the drift); and
  ``mean_session_length`` (steps per session, a number).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from adaptrec.core.config import AGENT_NAMES, RunConfig
from adaptrec.core.metrics import (
    bootstrap_interval,
    cumulative_regret,
    per_step_mean,
    recovery_time,
    time_to_adapt,
)
from adaptrec.core.rng import Component, generator
from adaptrec.logs import read_agent_arrays, read_metadata, step_files

SUMMARY_VERSION = 1


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _order(name: str) -> int:
    return AGENT_NAMES.index(name) if name in AGENT_NAMES else len(AGENT_NAMES)


def load_run(
    run_dir: str | os.PathLike[str],
) -> tuple[RunConfig, dict[str, dict[str, Any]], dict[str, Any] | None]:
    """The run's config, each agent's per-(user, step) arrays and the data provenance (``None``
    for a synthetic catalog), read from Parquet only."""
    arrays: dict[str, dict[str, Any]] = {}
    config: RunConfig | None = None
    data: dict[str, Any] | None = None
    for path in step_files(run_dir):
        meta = read_metadata(path)
        file_config = RunConfig.from_dict(meta["config"])
        if config is not None and file_config != config:
            raise ValueError(f"{path} was written by a different run config than its neighbours")
        config, data = file_config, meta["data"]
        arrays[meta["agent"]] = read_agent_arrays(path)
    assert config is not None
    return config, dict(sorted(arrays.items(), key=lambda item: _order(item[0]))), data


def _adaptation(steps: np.ndarray, config: RunConfig, rng, fraction_key: str) -> dict[str, Any]:
    """Median steps with its interval, the share of users that got there, and their count."""
    interval = bootstrap_interval(steps, "median", resamples=config.bootstrap_resamples, rng=rng)
    reached = float(np.isfinite(steps).mean()) if steps.size else None
    return {**interval.to_dict(), fraction_key: reached, "n_users": int(steps.size)}


def agent_summary(data: dict[str, Any], config: RunConfig, agent_index: int) -> dict[str, Any]:
    """Every figure of one agent (see the module docstring for the keys)."""
    window, threshold = config.window, config.threshold
    expected, oracle, clicks = data["expected"], data["oracle"], data["clicks"]
    k, drift = data["slate_size"], data["drift_step"]
    streams = iter(range(100))

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
        out[f"time_to_adapt{suffix}"] = _adaptation(adapt, config, rng(), "adapted_fraction")
        recover = recovery_time(achieved, oracle, drift, window=window, threshold=threshold)
        out[f"recovery{suffix}"] = _adaptation(recover, config, rng(), "recovered_fraction")
    drifting = (drift >= window) & (drift + window <= expected.shape[1])
    rows = np.nonzero(drifting)[0]
    before = np.array([clicks[r, drift[r] - window : drift[r]].mean() / k for r in rows])
    after = np.array([clicks[r, drift[r] : drift[r] + window].mean() / k for r in rows])
    out["ctr_before_drift"] = interval(before)
    out["ctr_after_drift"] = interval(after)
    sessions = data["session_end"].sum(axis=1) + 1  # the last session is still open
    out["mean_session_length"] = float((expected.shape[1] / sessions).mean())
    return out


def compute_summary(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(summary, arrays)``: the summary.json dict and the per-agent arrays behind it."""
    config, arrays, data = load_run(run_dir)
    summary = {
        "schema_version": SUMMARY_VERSION,
        "config": config.to_dict(),
        "data": data,
        "window": config.window,
        "threshold": config.threshold,
        "confidence_level": 0.95,
        "bootstrap_resamples": config.bootstrap_resamples,
        "agents": {
            name: agent_summary(data, config, _order(name)) for name, data in arrays.items()
        },
    }
    return summary, arrays


def _fmt(entry: dict[str, Any], digits: int = 3) -> str:
    def one(x: float | None) -> str:
        return "censored" if x is None else f"{x:.{digits}f}"

    if entry.get("estimate") is None and entry.get("low") is None:
        return "n/a" if entry.get("n_users", 1) == 0 else "censored"
    return f"{one(entry['estimate'])} [{one(entry['low'])}, {one(entry['high'])}]"


TABLE_COLUMNS = (
    "agent",
    "CTR",
    "share of oracle",
    "regret / user",
    "time-to-adapt",
    "adapted",
    "recovery",
    "recovered",
)


def table_rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row of formatted figures per agent, in :data:`TABLE_COLUMNS` order."""
    rows = []
    for name, s in summary["agents"].items():
        tta, rec = s["time_to_adapt"], s["recovery"]
        rows.append(
            (
                name,
                _fmt(s["ctr"]),
                _fmt(s["share_of_oracle"]),
                _fmt(s["regret"], 1),
                _fmt(tta, 0),
                f"{tta['adapted_fraction']:.0%}",
                _fmt(rec, 0) if rec["n_users"] else "n/a",
                f"{rec['recovered_fraction']:.0%}" if rec["n_users"] else "n/a",
            )
        )
    return rows


def calibration_lines(data: dict[str, Any], calibration: dict[str, Any]) -> list[str]:
    """The report's account of calibrated users: the data, the fit and its held-out quality."""
    return [
        "## Calibrated users",
        "",
        f"Data: `{data['path']}` ({data['format']}; {data['ratings']:,} ratings by "
        f"{data['users']:,} people of {data['movies']:,} movies; {data['movies_with_tags']:,} "
        f"movies with tags; sha256 {data['content_sha256'][:12]}...). Ratings model: biased "
        f"matrix factorisation, {calibration['factors']} factors, ALS, fitted on "
        f"{1 - calibration['test_fraction']:.0%} of the ratings. Click link: {data['link']}. "
        "Drift moves a user towards another real person.",
        "",
        "| held-out check | value |",
        "|---|---|",
        f"| RMSE of predicted stars ({data['test_ratings']:,} held-out ratings) | "
        f"{data['rmse']:.3f} (train {data['train_rmse']:.3f}) |",
        f"| AUC, liked (>= 4 stars) above disliked (<= 2), mean over {data['auc_users']} users | "
        f"{data['auc']:.3f} |",
        f"| AUC, same, all pairs pooled | {data['auc_pooled']:.3f} |",
        "",
    ]


def markdown(summary: dict[str, Any]) -> str:
    """report.md: what was run, the table, how to read it, and the plot."""
    cfg = summary["config"]
    users, env = cfg["users"], cfg["env"]
    window, threshold = summary["window"], summary["threshold"]
    drift = (
        f"{users['drift']} drift of {users['drift_fraction']:.0%} of users at step "
        f"{users['drift_step']}"
        if users["drift"] != "none"
        else "no drift"
    )
    data = summary.get("data")
    if data is None:
        items = f"{cfg['catalog']['n_items']} synthetic items"
    elif data["source"] == "movielens":
        items = (
            f"the {data['movies']:,} movies of MovieLens ({data['format']}), each user "
            "calibrated from one real person's ratings"
        )
    else:
        items = f"the {data['source']} world ({data['description']}); each 'user' is one replicate"

    lines = [
        "# adaptrec run report",
        "",
        f"{cfg['n_users']} simulated users x {cfg['n_steps']} steps, slates of "
        f"{env['slate_size']} from {items}, {drift}; "
        f"item text encoder `{cfg['encoder']}`; seed {cfg['seed']}.",
        "",
    ]
    if data is not None and data["source"] == "movielens":
        lines += calibration_lines(data, cfg["calibration"])
    lines += [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "---|" * len(TABLE_COLUMNS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(summary)]
    lines += [
        "",
        "Each figure is a point estimate with a 95% percentile-bootstrap interval over users "
        f"({summary['bootstrap_resamples']} resamples).",
        "",
        "- **CTR**: clicks per item shown, averaged over users.",
        "- **share of oracle**: the shown slates' expected clicks as a fraction of the "
        "oracle's, over the whole run, averaged over users.",
        "- **regret / user**: expected clicks of the oracle's slate minus those of the shown "
        "slate, summed over all steps (exact: the simulator knows both).",
        f"- **time-to-adapt**: median number of steps until a user's trailing {window}-step "
        f"mean of the shown slates' expected clicks first reaches {threshold:.0%} of the "
        "oracle's over the same steps (smallest possible value: the window). Users who never "
        "reach it before the end, or before their drift, are censored; *adapted* is the share "
        "who did. A median is 'censored' when fewer than half adapted.",
        "- **recovery**: the same, counted from each drifting user's drift step, over drifting "
        "users only.",
        "",
        "| agent | time-to-adapt (realised clicks) | recovery (realised clicks) | "
        "CTR before drift | CTR after drift | mean session length |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in summary["agents"].items():
        lines.append(
            f"| {name} | {_fmt(s['time_to_adapt_realised'], 0)} | "
            f"{_fmt(s['recovery_realised'], 0) if s['recovery_realised']['n_users'] else 'n/a'}"
            f" | {_fmt(s['ctr_before_drift'])} | {_fmt(s['ctr_after_drift'])} | "
            f"{s['mean_session_length']:.1f} |"
        )
    lines += [
        "",
        "Realised-click variants compare a user's actual clicks with the oracle's expected "
        "clicks, so they are noisier. CTR before/after drift: drifting users, "
        f"{window} steps each side of the drift.",
        "",
        "![CTR against step](ctr.png)",
        "",
        "CTR per step (mean over users, 95% normal-approximation band) and the shown slate's "
        "expected clicks as a share of the oracle's; the dashed line marks the drift.",
        "",
        "Every number here is recomputed from `steps/*.parquet` by `adaptrec report DIR`.",
        "",
    ]
    return "\n".join(lines)


def plot(arrays: dict[str, dict[str, Any]], config: RunConfig, path: Path) -> None:
    """CTR against step (with 95% bands) and expected/oracle per agent; drift marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def build_report(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Recompute every figure from ``run_dir/steps/*.parquet``; write summary.json, report.md
    and ctr.png into ``run_dir``; return the summary."""
    run_dir = Path(run_dir)
    summary, arrays = compute_summary(run_dir)
    config = RunConfig.from_dict(summary["config"])
    plot(arrays, config, run_dir / "ctr.png")
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(run_dir / "report.md", markdown(summary))
    return summary
