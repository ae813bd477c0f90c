"""The adaptation report: every agent on every scenario, several seeds, side by side.

``adaptrec compare`` runs each (scenario, seed) as an ordinary run folder
``OUT/scenario=<name>/seed=<s>/`` (resumable, as ``adaptrec run``), then pools each scenario's
seeds and writes ``compare_summary.json``, ``compare.md`` and one ``compare-<scenario>.png`` per
scenario. Every figure is recomputed from the runs' Parquet logs, so running the same command
again only rebuilds the report.

compare_summary.json keys: ``schema_version`` (1); ``seeds``; ``scenarios.<name>`` with
``config`` (the scenario's run config for the first seed), ``window``, ``threshold``,
``ceiling`` (the CTR the threshold is a fraction of), ``units`` (pooled (seed, user) pairs),
``not_run`` (agent -> why), and ``agents.<agent>``: the figures of
:func:`adaptrec.report.agent_summary`, computed over the pooled units (95% percentile bootstrap
over (seed, user) units); and ``headline`` for news-switch (Vowpal Wabbit's recovery, the best
adaptrec agent's and the seed agent's, and their ratios).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adaptrec.core.config import RunConfig
from adaptrec.envs.scenarios import NEWS_CEILING, SCENARIOS, scenario_config
from adaptrec.report import _fmt, _order, agent_summary, atomic_write_text, load_run

COMPARE_VERSION = 1
COMPARE_AGENTS = (
    "llm-cosine",
    "llm-cosine-hashing",
    "llm-cosine-random",
    "egreedy",
    "thompson",
    "linucb",
    "lin-ts",
    "vw",
    "popularity",
    "random",
    "oracle",
)
SMOKE_SIZES = {"news-switch": (2, 2_000), "default": (24, 60)}


def _vw_available() -> bool:
    try:
        import vowpalwabbit  # noqa: F401
    except ImportError:
        return False
    return True


def scenario_runs(
    scenarios: Sequence[str],
    agents: Sequence[str],
    seeds: Sequence[int],
    *,
    smoke: bool = False,
    n_users: int | None = None,
    n_steps: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[dict[str, list[RunConfig]], dict[str, dict[str, str]]]:
    """The run configs of each scenario (one per seed) and, per scenario, agents left out and
    why (Vowpal Wabbit on a catalog too large for it, or without the extra installed)."""
    from adaptrec.agents.vw import INSTALL_HINT, MAX_ITEMS

    runs: dict[str, list[RunConfig]] = {}
    left_out: dict[str, dict[str, str]] = {}
    for name in scenarios:
        users, steps = n_users, n_steps
        if smoke:
            users, steps = SMOKE_SIZES["news-switch" if name == "news-switch" else "default"]
        base = scenario_config(name, users, steps, **(overrides or {}))
        chosen, skipped = [], {}
        for agent in agents:
            if agent == "vw" and base.data != "news-switch" and base.catalog.n_items > MAX_ITEMS:
                skipped[agent] = f"catalog of {base.catalog.n_items} items > {MAX_ITEMS}"
            elif agent == "vw" and not _vw_available():
                skipped[agent] = INSTALL_HINT
            else:
                chosen.append(agent)
        base = dataclasses.replace(base, agents=tuple(chosen))
        if smoke:
            base = dataclasses.replace(base, bootstrap_resamples=200)
        runs[name] = [dataclasses.replace(base, seed=seed) for seed in seeds]
        left_out[name] = skipped
    return runs, left_out


def run_dir(out: Path, scenario: str, seed: int) -> Path:
    return out / f"scenario={scenario}" / f"seed={seed}"


def run_comparison(
    runs: dict[str, list[RunConfig]],
    left_out: dict[str, dict[str, str]],
    out_dir: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    say: Callable[[str], None] | None = None,
    shard_runner=None,
) -> dict[str, Any]:
    """Run (or continue) every scenario x seed, then write the comparison report."""
    from adaptrec.runner import run_experiment

    say = say or (lambda message: None)
    out = Path(out_dir)
    for scenario, configs in runs.items():
        for config in configs:
            folder = run_dir(out, scenario, config.seed)
            say(f"{scenario}, seed {config.seed}: {', '.join(config.agents)}")
            run_experiment(config, folder, cache_dir=cache_dir, shard_runner=shard_runner)
    return build_comparison(out, runs, left_out)


def _display_order(agent: str) -> int:
    return COMPARE_AGENTS.index(agent) if agent in COMPARE_AGENTS else len(COMPARE_AGENTS)


def _pool(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Concatenate per-seed arrays of one agent along the unit (user) axis."""
    pooled: dict[str, Any] = {"slate_size": parts[0]["slate_size"]}
    for key in ("expected", "oracle", "clicks", "reward", "session_end", "drift_step", "users"):
        pooled[key] = np.concatenate([part[key] for part in parts])
    return pooled


def scenario_summary(
    out: Path, scenario: str, configs: list[RunConfig], not_run: dict[str, str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """One scenario's pooled figures (and the pooled arrays for the plot), from Parquet."""
    per_agent: dict[str, list[dict[str, Any]]] = {}
    config = configs[0]
    for seed_config in configs:
        file_config, arrays, _ = load_run(run_dir(out, scenario, seed_config.seed))
        if file_config != seed_config:
            raise ValueError(
                f"{run_dir(out, scenario, seed_config.seed)} holds a different run config; "
                "use another --out"
            )
        for agent, data in arrays.items():
            per_agent.setdefault(agent, []).append(data)
    pooled = {agent: _pool(parts) for agent, parts in per_agent.items()}
    ceiling = NEWS_CEILING if config.data == "news-switch" else 1.0
    summary = {
        "config": config.to_dict(),
        "window": config.window,
        "threshold": config.threshold,
        "ceiling": ceiling,
        "units": len(next(iter(pooled.values()))["users"]) if pooled else 0,
        "not_run": not_run,
        "agents": {
            agent: agent_summary(pooled[agent], config, _order(agent))
            for agent in sorted(pooled, key=_display_order)
        },
    }
    return summary, pooled


def _headline(news: dict[str, Any]) -> dict[str, Any] | None:
    agents = news["agents"]
    if "vw" not in agents:
        return None

    def recovery(name: str) -> float | None:
        return agents[name]["recovery"]["estimate"]

    vw = recovery("vw")
    candidates = {
        name: recovery(name)
        for name in agents
        if name not in ("vw", "oracle") and recovery(name) is not None
    }
    best = min(candidates, key=lambda name: candidates[name]) if candidates else None
    seed = recovery("llm-cosine") if "llm-cosine" in agents else None
    return {
        "vw_recovery": vw,
        "best_agent": best,
        "best_recovery": candidates.get(best) if best else None,
        "best_over_vw": candidates[best] / vw if best and vw else None,
        "seed_agent_recovery": seed,
        "seed_over_vw": seed / vw if seed is not None and vw else None,
    }


def build_comparison(
    out_dir: str | os.PathLike[str],
    runs: dict[str, list[RunConfig]],
    left_out: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """compare_summary.json, compare.md and the plots, from the runs' Parquet logs alone."""
    out = Path(out_dir)
    summary: dict[str, Any] = {
        "schema_version": COMPARE_VERSION,
        "seeds": sorted({c.seed for configs in runs.values() for c in configs}),
        "scenarios": {},
    }
    for scenario, configs in runs.items():
        figures, pooled = scenario_summary(out, scenario, configs, left_out.get(scenario, {}))
        summary["scenarios"][scenario] = figures
        plot_scenario(pooled, configs[0], scenario, out / f"compare-{scenario}.png")
    if "news-switch" in summary["scenarios"]:
        summary["headline"] = {"news-switch": _headline(summary["scenarios"]["news-switch"])}
    atomic_write_text(out / "compare_summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "compare.md", compare_markdown(summary))
    return summary


def plot_scenario(
    pooled: dict[str, dict[str, Any]], config: RunConfig, scenario: str, path: Path
) -> None:
    """Trailing-window CTR against step per agent, 95% band over units, drift marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adaptrec.core.metrics import per_step_mean

    fig, axis = plt.subplots(figsize=(9, 5))
    window = config.window
    kernel = np.ones(window) / window
    colours = plt.get_cmap("tab20").colors  # more agents than the default cycle's 10 colours
    for agent in sorted(pooled, key=_display_order):
        data = pooled[agent]
        ctr = data["clicks"] / data["slate_size"]
        trailing = np.array([np.convolve(row, kernel, mode="valid") for row in ctr])
        steps = np.arange(window - 1, ctr.shape[1])
        mean, low, high = per_step_mean(trailing)
        style = "--" if agent in ("oracle", "random") else "-"
        index = _display_order(agent)
        colour = colours[(2 * index) % 20 + index // 10]
        (line,) = axis.plot(steps, mean, style, color=colour, label=agent, linewidth=1.1)
        axis.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    if config.users.drift != "none":
        axis.axvline(config.users.drift_step, color="black", linewidth=1, label="drift")
    if "oracle" in pooled:  # the bar is a share of the best slate's expected clicks
        best = pooled["oracle"]
        rate = best["expected"] / best["slate_size"]
        bar = config.threshold * np.array([np.convolve(r, kernel, mode="valid") for r in rate])
        axis.plot(
            np.arange(window - 1, rate.shape[1]),
            bar.mean(axis=0),
            ":",
            color="grey",
            linewidth=0.9,
            label=f"{config.threshold:.0%} of oracle",
        )
    axis.set_xlabel("step")
    axis.set_ylabel(f"CTR, trailing {window} steps")
    axis.set_title(f"{scenario}: mean over {len(next(iter(pooled.values()))['users'])} units")
    axis.legend(fontsize=7, ncol=3, loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


_SCENARIO_TEXT = {
    "cold-start": "no drift: personalisation from the first visit",
    "abrupt-drift": "half the users switch to a new taste at the drift step",
    "gradual-drift": "half the users move to a new taste linearly from the drift step",
    "fatigue-heavy": "strong, slowly recovering fatigue with repeated items",
    "news-switch": "Vowpal Wabbit's tutorial world: Tom and Anna, morning and afternoon, "
    "7 topics, deterministic clicks, preferences switched once; each unit is one replicate "
    "of that world with its own agent; every agent explores with epsilon 0.2 and the bandits "
    "forget at 0.97 per visit",
}


def compare_markdown(summary: dict[str, Any]) -> str:
    """compare.md: the question, how it is measured, one table and plot per scenario."""
    lines = [
        "# How fast does personalisation adapt?",
        "",
        "Every agent meets the same simulated users (the same seeds, common random numbers) in "
        f"each scenario; seeds {', '.join(map(str, summary['seeds']))} are pooled. Figures are "
        "point estimates with 95% percentile-bootstrap intervals over the pooled (seed, user) "
        "units.",
        "",
        "How to read the tables:",
        "",
        "- **CTR**: clicks per item shown. **regret**: expected clicks of the best possible "
        "slate minus the shown slate's, summed over the run, per unit.",
        "- **time-to-adapt**: median steps from the first visit until the trailing-window "
        "mean of the shown slates' expected clicks first reaches the threshold share of the "
        "best possible slate's (the window is the smallest possible value). **recovery**: the "
        "same, counted from each drifting unit's drift step. Units that never get there are "
        "censored; the percentage says how many did, and a median is 'censored' when fewer "
        "than half did.",
        "- **CTR before / after**: drifting units' CTR in the window before and after the drift.",
        "",
    ]
    for scenario, s in summary["scenarios"].items():
        cfg = s["config"]
        threshold = s["threshold"] / s["ceiling"]
        lines += [
            f"## {scenario}",
            "",
            f"{_SCENARIO_TEXT.get(scenario, scenario)}. {cfg['n_steps']:,} steps, "
            f"{s['units']} units, slates of {cfg['env']['slate_size']}, "
            f"window {s['window']} steps, threshold {threshold:.0%} of "
            + (
                f"the epsilon-0.2 ceiling (CTR {s['ceiling']:.3f})"
                if s["ceiling"] != 1.0
                else "the best possible slate"
            )
            + (
                f", drift at step {cfg['users']['drift_step']}."
                if cfg["users"]["drift"] != "none"
                else "."
            ),
            "",
            "| agent | CTR | regret | time-to-adapt | adapted | recovery | recovered | "
            "CTR before | CTR after |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for agent, a in s["agents"].items():
            drifted = a["recovery"]["n_users"] > 0
            lines.append(
                f"| {agent} | {_fmt(a['ctr'])} | {_fmt(a['regret'], 1)} | "
                f"{_fmt(a['time_to_adapt'], 0)} | {a['time_to_adapt']['adapted_fraction']:.0%} | "
                + (
                    f"{_fmt(a['recovery'], 0)} | {a['recovery']['recovered_fraction']:.0%} | "
                    f"{_fmt(a['ctr_before_drift'])} | {_fmt(a['ctr_after_drift'])} |"
                    if drifted
                    else "n/a | n/a | n/a | n/a |"
                )
            )
        for agent, why in s["not_run"].items():
            lines.append(f"| {agent} | not run: {why} | | | | | | | |")
        lines += ["", f"![{scenario}](compare-{scenario}.png)", ""]
    head = (summary.get("headline") or {}).get("news-switch")
    if head:
        lines += ["## Headline: recovery after the news switch", ""]
        if head["vw_recovery"] is None:
            lines.append("Vowpal Wabbit did not recover within the run (censored).")
        else:
            lines.append(
                f"Vowpal Wabbit recovers in a median of {head['vw_recovery']:.0f} steps. "
                + (
                    f"The fastest adaptrec agent, {head['best_agent']}, takes "
                    f"{head['best_recovery']:.0f} ({head['best_over_vw']:.2f} of VW's); "
                    if head["best_agent"]
                    else "No adaptrec agent recovered; "
                )
                + (
                    f"the seed agent (llm-cosine) takes {head['seed_agent_recovery']:.0f} "
                    f"({head['seed_over_vw']:.2f} of VW's)."
                    if head["seed_agent_recovery"] is not None
                    else "the seed agent (llm-cosine) did not recover (censored)."
                )
            )
        lines.append("")
    lines += [
        "Every number here is recomputed from the runs' `steps/*.parquet` files; running the "
        "same `adaptrec compare` command again rebuilds this report without simulating.",
        "",
    ]
    return "\n".join(lines)


def parse_list(name: str, text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """A comma-separated CLI list, each entry checked against ``allowed``."""
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items:
        raise ValueError(f"{name} must list at least one of {', '.join(allowed)}; got {text!r}")
    for item in items:
        if item not in allowed:
            raise ValueError(f"{name} must be from {', '.join(allowed)}; got {item!r}")
    return items


__all__ = [
    "COMPARE_AGENTS",
    "SCENARIOS",
    "build_comparison",
    "parse_list",
    "run_comparison",
    "scenario_runs",
]
