"""The adaptation report: every agent on every scenario, several seeds, side by side.

``adaptrec compare`` runs each (scenario, seed) as an ordinary run folder
``OUT/scenario=<name>/seed=<s>/`` (resumable, as ``adaptrec run``), then pools each scenario's
seeds and writes ``compare_summary.json``, ``compare.md`` and one ``compare-<scenario>.png`` per
scenario. Every figure is recomputed from the runs' Parquet logs, so running the same command
again only rebuilds the report.

compare_summary.json keys: ``schema_version`` (1); ``seeds``; ``scenarios.<name>`` with
``config`` (the scenario's run config for the first seed), ``window``, ``threshold``,
``ceiling`` (the CTR the threshold is a fraction of), ``units`` (pooled (seed, user) pairs),
``not_run`` (agent -> why), and ``agents.<agent>``: the figures of a run's summary.json
(:mod:`adaptrec.analysis`: plateau, time to plateau, recovery to plateau, Kaplan-Meier figures,
a headline sentence, ...), computed over the pooled units (95% percentile bootstrap over
(seed, user) units); and ``headline`` for news-switch: Vowpal Wabbit's median recovery, the
fastest adaptrec agent's and the seed agent's, and their ratios (``vw_recovery``,
``best_agent``, ``best_recovery``, ``best_over_vw``, ``seed_agent_recovery``,
``seed_over_vw``), and the same for recovery to plateau under ``recovery_to_plateau``.
Plots: ``compare-<scenario>-adaptation.png`` (adaptation and recovery curves) and
``compare-<scenario>.png`` (trailing-window CTR).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adaptrec.analysis import analyse_agents, load_run, pool_units
from adaptrec.analysis.plots import plot_adaptation, plot_trailing_ctr
from adaptrec.analysis.summary import AgentAnalysis, thresholds_of
from adaptrec.analysis.text import (
    DEFINITIONS,
    SURVIVAL_COLUMNS,
    TABLE_COLUMNS,
    fmt,
    markdown_table,
    new_item_lines,
    survival_rows,
    table_rows,
)
from adaptrec.core.config import COMPARE_AGENTS, RunConfig
from adaptrec.core.files import atomic_write_text
from adaptrec.envs.scenarios import NEWS_CEILING, SCENARIOS, scenario_config

COMPARE_VERSION = 2
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
            if (
                agent == "vw"
                and base.source.kind != "news-switch"
                and base.catalog.n_items > MAX_ITEMS
            ):
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


def scenario_summary(
    out: Path, scenario: str, configs: list[RunConfig], not_run: dict[str, str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, AgentAnalysis]]:
    """One scenario's pooled figures, pooled arrays and analyses (for the plots), from
    Parquet."""
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
    pooled = {
        agent: pool_units(per_agent[agent]) for agent in sorted(per_agent, key=_display_order)
    }
    analyses = analyse_agents(pooled, config)
    ceiling = NEWS_CEILING if config.source.kind == "news-switch" else 1.0
    summary = {
        "config": config.to_dict(),
        "window": config.window,
        "threshold": config.threshold,
        "thresholds": list(thresholds_of(config)),
        "ceiling": ceiling,
        "units": len(next(iter(pooled.values()))["users"]) if pooled else 0,
        "not_run": not_run,
        "agents": {agent: analyses[agent].figures for agent in sorted(pooled, key=_display_order)},
    }
    return summary, pooled, analyses


def _recovers(figures: dict[str, Any], threshold: float) -> bool:
    """Whether at least half of an agent's drifting units get back to the headline threshold
    (Kaplan-Meier): only such an agent can be called fast; popularity reaches its low
    plateau in a step or two."""
    entry = figures["survival"]["recovery"].get(f"{threshold:g}", {})
    reached = entry.get("reached_by_horizon") or {}
    return (reached.get("estimate") or 0.0) >= 0.5


def _fastest(agents: dict[str, Any], key: str, threshold: float) -> dict[str, Any]:
    """VW's figure ``key``, the fastest other (non-oracle) agent's among those that recover
    (:func:`_recovers`), and the seed agent's."""

    def value(name: str) -> float | None:
        return agents[name][key]["estimate"]

    vw = value("vw")
    # A flat curve (e.g. random's) has "time 0" because it has nothing to recover: not fast.
    candidates = {
        name: value(name)
        for name in agents
        if name not in ("vw", "oracle", "random")
        and value(name) is not None
        and not agents[name][key].get("flat")
        and _recovers(agents[name], threshold)
    }
    best = min(candidates, key=lambda name: candidates[name]) if candidates else None
    seed = value("llm-cosine") if "llm-cosine" in agents else None
    return {
        "vw": vw,
        "best_agent": best,
        "best": candidates.get(best) if best else None,
        "best_over_vw": candidates[best] / vw if best and vw else None,
        "seed_agent": seed,
        "seed_over_vw": seed / vw if seed is not None and vw else None,
    }


def _headline(news: dict[str, Any]) -> dict[str, Any] | None:
    agents = news["agents"]
    if "vw" not in agents:
        return None
    median = _fastest(agents, "recovery", news["threshold"])
    return {
        "vw_recovery": median["vw"],
        "best_agent": median["best_agent"],
        "best_recovery": median["best"],
        "best_over_vw": median["best_over_vw"],
        "seed_agent_recovery": median["seed_agent"],
        "seed_over_vw": median["seed_over_vw"],
        "recovery_to_plateau": _fastest(agents, "recovery_to_plateau", news["threshold"]),
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
        figures, pooled, analyses = scenario_summary(
            out, scenario, configs, left_out.get(scenario, {})
        )
        summary["scenarios"][scenario] = figures
        title = f"{scenario}: {figures['units']} units"
        plot_adaptation(analyses, configs[0], out / f"compare-{scenario}-adaptation.png", title)
        plot_trailing_ctr(pooled, configs[0], title, out / f"compare-{scenario}.png")
    if "news-switch" in summary["scenarios"]:
        summary["headline"] = {"news-switch": _headline(summary["scenarios"]["news-switch"])}
    atomic_write_text(out / "compare_summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "compare.md", compare_markdown(summary))
    return summary


_SCENARIO_TEXT = {
    "cold-start": "no drift: personalisation from the first visit",
    "abrupt-drift": "half the users switch to a new taste at the drift step",
    "gradual-drift": "half the users move to a new taste linearly from the drift step",
    "fatigue-heavy": "strong, slowly recovering fatigue with repeated items",
    "news-switch": "Vowpal Wabbit's tutorial world: Tom and Anna, morning and afternoon, "
    "7 topics, deterministic clicks, preferences switched once; each unit is one replicate "
    "of that world with its own agent; every agent explores with epsilon 0.2 and the bandits "
    "forget at 0.97 per visit",
    "fresh-content": "the catalog turns over: new items arrive every step with their text and "
    "expire after a fixed lifetime; no taste drift",
    "recurring": "half the users' interests follow a cycle: from the drift step they switch "
    "between two tastes every half period (the drift step is the first switch)",
    "trend-shock": "one topic becomes much more attractive to everyone for a while, then fades "
    "(the drift step is the trend's start, for every user)",
}


def compare_markdown(summary: dict[str, Any]) -> str:
    """compare.md: the question, how it is measured, then per scenario a headline sentence per
    agent, the adaptation curves, the tables and the CTR plot."""
    lines = [
        "# How fast does personalisation adapt?",
        "",
        "Every agent meets the same simulated users (the same seeds, common random numbers) in "
        f"each scenario; seeds {', '.join(map(str, summary['seeds']))} are pooled. Figures are "
        "point estimates with 95% percentile-bootstrap intervals over the pooled (seed, user) "
        "units.",
        "",
        DEFINITIONS,
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
            f"window {s['window']} steps, headline threshold {threshold:.0%} of "
            + (
                f"the epsilon-0.2 ceiling (CTR {s['ceiling']:.3f})"
                if s["ceiling"] != 1.0
                else "the best possible slate"
            )
            + (
                f", drift at step {cfg['users']['drift_step']}."
                if cfg["users"]["drift"] != "none"
                else (
                    f", trend from step {cfg['users']['trend_start']}."
                    if cfg["users"].get("trend_topic", -1) >= 0
                    else "."
                )
            ),
            "",
            *(f"- {a['headline']}" for a in s["agents"].values()),
            "",
            f"![{scenario}: adaptation curves](compare-{scenario}-adaptation.png)",
            "",
            *markdown_table(TABLE_COLUMNS, table_rows(s)),
        ]
        for agent, why in s["not_run"].items():
            lines.append(f"| {agent} | not run: {why} |" + " |" * (len(TABLE_COLUMNS) - 2))
        lines += [
            "",
            "Kaplan-Meier, time to adapt:",
            "",
            *markdown_table(SURVIVAL_COLUMNS, survival_rows(s, "time_to_adapt")),
            "",
        ]
        recovery = survival_rows(s, "recovery")
        if recovery:
            lines += [
                "Kaplan-Meier, recovery after the drift:",
                "",
                *markdown_table(SURVIVAL_COLUMNS, recovery),
                "",
            ]
        lines += [
            "| agent | CTR | regret | median time-to-adapt | median recovery | CTR before drift "
            "| CTR after drift |",
            "|---|---|---|---|---|---|---|",
        ]
        for agent, a in s["agents"].items():
            drifted = a["recovery"]["n_users"] > 0
            lines.append(
                f"| {agent} | {fmt(a['ctr'])} | {fmt(a['regret'], 1)} | "
                f"{fmt(a['time_to_adapt'], 0, 'not reached')} | "
                + (
                    f"{fmt(a['recovery'], 0, 'not reached')} | "
                    f"{fmt(a['ctr_before_drift'])} | {fmt(a['ctr_after_drift'])} |"
                    if drifted
                    else "n/a | n/a | n/a |"
                )
            )
        lines += ["", f"![{scenario}: trailing CTR](compare-{scenario}.png)", ""]
        lines += [
            line.replace("## New items", "### New items") for line in new_item_lines(s["agents"])
        ]
    head = (summary.get("headline") or {}).get("news-switch")
    if head:
        lines += ["## Headline: recovery after the news switch", ""]
        if head["vw_recovery"] is None:
            lines.append("Vowpal Wabbit's median recovery is not reached within the run.")
        else:
            lines.append(
                f"Vowpal Wabbit recovers in a median of {head['vw_recovery']:.0f} steps. "
                + (
                    f"The fastest adaptrec agent, {head['best_agent']}, takes "
                    f"{head['best_recovery']:.0f} ({head['best_over_vw']:.2f} of VW's); "
                    if head["best_agent"]
                    else "No adaptrec agent's median recovery is reached; "
                )
                + (
                    f"the seed agent (llm-cosine) takes {head['seed_agent_recovery']:.0f} "
                    f"({head['seed_over_vw']:.2f} of VW's)."
                    if head["seed_agent_recovery"] is not None
                    else "the seed agent's (llm-cosine) median recovery is not reached."
                )
            )
        plateau = head["recovery_to_plateau"]
        if plateau["vw"] is not None and plateau["best_agent"]:
            seed = plateau["seed_agent"]
            lines += [
                "",
                f"Recovery to plateau (90% of the way back to each agent's own post-drift "
                f"level): Vowpal Wabbit {plateau['vw']:.0f} steps, the fastest adaptrec agent "
                f"that recovers (at least half its units get back to the headline bar) "
                f"({plateau['best_agent']}) {plateau['best']:.0f}"
                + (f", llm-cosine {seed:.0f}." if seed is not None else "."),
            ]
        lines.append("")
    lines += [
        "Every number here is recomputed from the runs' `steps/*.parquet` files; running the "
        "same `adaptrec compare` command again rebuilds this report without simulating.",
        "",
    ]
    return "\n".join(lines)


__all__ = [
    "COMPARE_AGENTS",
    "SCENARIOS",
    "build_comparison",
    "run_comparison",
    "scenario_runs",
]
