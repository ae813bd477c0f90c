"""Sweeps: a grid or random search over config fields, several seeds per point, on Ray Tune.

A sweep file (TOML) names the fields to vary with dotted paths into :class:`RunConfig`::

    name = "exploration-lr"
    agent = "llm-cosine"            # whose figures rank the points
    metric = "time_to_plateau"      # a figure of summary.json (adaptrec.analysis.METRICS)
    mode = "min"                    # or "max"
    seeds = [0, 1]
    search = "grid"                 # or "random", with samples = N (and random_seed)
    [base]                          # fixed overrides of the default run config
    n_users = 200
    [grid]
    "llm_cosine.epsilon" = [0.0, 0.05, 0.2]
    [smoke]                         # overrides used with --smoke
    n_users = 20

Every trial config is built and validated before any trial starts. A trial is an ordinary
run folder ``OUT/trial=<id>/`` written by :func:`adaptrec.runner.run_experiment`, so a trial
that was interrupted continues where it stopped, a finished trial is never run again, and no
row is written twice. Tune retries a trial whose worker dies.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adaptrec.agents.registry import check_known
from adaptrec.analysis.summary import METRICS
from adaptrec.core.config import (
    RunConfig,
    default_run_config,
    merge_trees,
    resolve,
    set_path,
)
from adaptrec.core.validation import check_choice

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_KEYS = (
    "name",
    "agent",
    "metric",
    "mode",
    "seeds",
    "search",
    "samples",
    "random_seed",
    "base",
    "grid",
    "smoke",
)


@dataclass(frozen=True, eq=False)  # identity: it holds a dict (the point's values)
class Trial:
    """One (point, seed) of a sweep: its id, its point's index and values, and its config."""

    id: str
    point: int
    values: dict[str, Any]
    seed: int
    config: RunConfig


@dataclass(frozen=True, eq=False)
class Sweep:
    name: str
    agent: str
    metric: str
    mode: str
    fields: tuple[str, ...]
    trials: tuple[Trial, ...]


def load_sweep(path: str | os.PathLike[str], smoke: bool = False) -> Sweep:
    """Read and validate a sweep file; every trial's config is built (and checked) here."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"sweep file must be a TOML file, got {str(path)!r} (not found)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"sweep file {str(path)!r} is not valid TOML: {err}") from err
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ValueError(f"unknown sweep key {unknown[0]!r}; allowed: {', '.join(_KEYS)}")
    name = str(data.get("name", path.stem))
    agent = check_known(data.get("agent", "llm-cosine"), "agent")
    metric = check_choice("metric", data.get("metric", "share_of_oracle"), METRICS)
    mode = check_choice("mode", data.get("mode", "max"), ("max", "min"))
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    grid = data.get("grid", {})
    if not isinstance(grid, dict) or not grid:
        raise ValueError("grid must be a table of 'dotted.field' = [values], got none")
    for field, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid field {field!r} must list its values, got {values!r}")
    fields = tuple(grid)
    search = check_choice("search", data.get("search", "grid"), ("grid", "random"))
    if search == "grid":
        combos = list(itertools.product(*(grid[f] for f in fields)))
    else:
        samples = data.get("samples", 8)
        if not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        rng = np.random.default_rng(data.get("random_seed", 0))
        combos = [
            tuple(grid[f][rng.integers(len(grid[f]))] for f in fields) for _ in range(samples)
        ]
    base = default_run_config().to_dict()
    merge_trees(base, data.get("base", {}))
    if smoke:
        merge_trees(base, data.get("smoke", {}))
    trials = []
    for index, combo in enumerate(combos):
        values = dict(zip(fields, combo, strict=True))
        for seed in seeds:
            tree = json.loads(json.dumps(base))
            for field, value in values.items():
                set_path(tree, field, value)
            tree["seed"] = seed
            config = _config(tree, values)
            trials.append(Trial(f"p{index:03d}-s{seed}", index, values, seed, config))
    return Sweep(name, agent, metric, mode, fields, tuple(trials))


def _config(tree: dict, values: dict) -> RunConfig:
    # A drift step beyond the run (e.g. a smoke size) follows the run, as the default does.
    try:
        return resolve(tree, explicit=values)
    except (ValueError, TypeError) as err:
        where = ", ".join(f"{k}={v!r}" for k, v in values.items())
        raise type(err)(f"{err} (in the sweep point {where})") from err


def trial_dir(out_dir: Path, trial: Trial) -> Path:
    return Path(out_dir) / f"trial={trial.id}"


def finished(trial: Trial, out_dir: Path) -> bool:
    """The trial's run folder holds a complete summary of this exact config."""
    folder = trial_dir(out_dir, trial)
    try:
        done = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return RunConfig.from_dict(done["config"]) == trial.config


def tune_metrics(summary: dict[str, Any], agent: str) -> dict[str, float]:
    """One agent's figures as flat numbers for Tune: ``ctr``, ``regret``, ... (estimates), and
    ``time_to_adapt`` / ``recovery`` medians (NaN when censored) with their reached fractions."""
    figures = summary["agents"][agent]
    out = {}
    for name in METRICS:
        estimate = figures[name]["estimate"]
        out[name] = float("nan") if estimate is None else float(estimate)
    out["adapted_fraction"] = float(figures["time_to_adapt"]["adapted_fraction"])
    recovered = figures["recovery"]["recovered_fraction"]
    out["recovered_fraction"] = float("nan") if recovered is None else float(recovered)
    return out


def run_sweep(
    sweep: Sweep,
    out_dir: str | os.PathLike[str],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    say=print,
) -> dict[str, Any]:
    """Run the sweep's unfinished trials on Ray Tune, then rank the points (see module doc)."""
    from adaptrec.parallel import tune_grid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pending = [t for t in sweep.trials if not finished(t, out)]
    if len(pending) < len(sweep.trials):
        say(
            f"continuing: {len(sweep.trials) - len(pending)} of {len(sweep.trials)} trials "
            "already finished"
        )
    if pending:
        configs = {t.id: t.config.to_json() for t in pending}
        metrics = functools.partial(tune_metrics, agent=sweep.agent)
        arrived = tune_grid(
            configs, out, sweep.name, metrics, sweep.metric, address=address, num_cpus=num_cpus
        )
        say(f"Tune: {arrived} trial(s) reported {sweep.metric}")
    return summarise(sweep, out)


def summarise(sweep: Sweep, out_dir: Path) -> dict[str, Any]:
    """Rank the sweep's points by the metric, pooling users over seeds, with 95% CIs; write
    sweep_summary.json, sweep.md and sweep.png into ``out_dir``."""
    from adaptrec.analysis import agent_figures, pool_units
    from adaptrec.core.files import atomic_write_text
    from adaptrec.logs import read_agent_arrays, steps_path

    rows = []
    for point in sorted({t.point for t in sweep.trials}):
        trials = [t for t in sweep.trials if t.point == point]
        arrays = [read_agent_arrays(steps_path(trial_dir(out_dir, t), sweep.agent)) for t in trials]
        pooled = pool_units(arrays)
        figures = agent_figures(pooled, trials[0].config, point)[sweep.metric]
        rows.append(
            {
                "point": point,
                **trials[0].values,
                "seeds": [t.seed for t in trials],
                "n_users": len(pooled["expected"]),
                sweep.metric: figures,
            }
        )
    sign = -1 if sweep.mode == "max" else 1

    def key(row):
        estimate = row[sweep.metric]["estimate"]
        return (estimate is None, sign * (estimate if estimate is not None else 0.0))

    rows.sort(key=key)
    summary = {
        "name": sweep.name,
        "agent": sweep.agent,
        "metric": sweep.metric,
        "mode": sweep.mode,
        "fields": list(sweep.fields),
        "points": rows,
    }
    atomic_write_text(out_dir / "sweep_summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out_dir / "sweep.md", sweep_markdown(summary))
    _plot(summary, out_dir / "sweep.png")
    return summary


def sweep_markdown(summary: dict) -> str:
    from adaptrec.analysis.text import fmt

    fields, metric = summary["fields"], summary["metric"]
    digits = 0 if "time" in metric or "recovery" in metric else 3  # steps vs shares
    head = ["rank", *fields, f"{metric} ({summary['agent']})", "users"]
    lines = [
        f"# sweep {summary['name']}",
        "",
        f"Points ranked by {metric} ({summary['mode']}); 95% bootstrap intervals over "
        "users pooled across seeds.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for rank, row in enumerate(summary["points"], 1):
        cells = [
            str(rank),
            *(str(row[f]) for f in fields),
            fmt(row[metric], digits),
            str(row["n_users"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", "![metric against the swept field](sweep.png)", ""])


def _plot(summary: dict, path: Path) -> None:
    from adaptrec.analysis.plots import pyplot, save_figure

    plt = pyplot()

    fields, metric = summary["fields"], summary["metric"]
    x_field, groups = fields[0], fields[1:]
    fig, axis = plt.subplots(figsize=(7, 4.5))
    series: dict[tuple, list] = {}
    for row in summary["points"]:
        series.setdefault(tuple(row[f] for f in groups), []).append(row)
    for label, rows in sorted(series.items(), key=lambda item: str(item[0])):
        rows = [r for r in rows if r[metric]["estimate"] is not None]
        rows.sort(key=lambda r: r[x_field])
        if not rows:
            continue
        x = [r[x_field] for r in rows]
        y = np.array([r[metric]["estimate"] for r in rows])
        low = y - np.array([r[metric]["low"] for r in rows])
        high = np.array([r[metric]["high"] for r in rows]) - y
        name = ", ".join(f"{f}={v}" for f, v in zip(groups, label, strict=True)) or metric
        axis.errorbar(x, y, yerr=[low, high], marker="o", capsize=3, label=name)
    axis.set_xlabel(x_field)
    axis.set_ylabel(f"{metric} ({summary['agent']})")
    axis.set_title(f"sweep {summary['name']}: 95% intervals")
    axis.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
