"""A run's summary.json, report.md and plots, computed from the Parquet logs alone.

``adaptrec run`` and ``adaptrec report DIR`` both call :func:`build_report`, so every figure a
run prints can be rebuilt from its ``steps/*.parquet`` files. The figures themselves are
defined in :mod:`adaptrec.analysis`.

summary.json keys (``null`` stands for a value that does not exist, e.g. a KM median that is
never reached):

* ``schema_version`` - 2; ``config`` - the run's config; ``data`` - ``null`` for a synthetic
  catalog, else the real data and the calibration's held-out quality (``source``, ``format``,
  ``path``, ``content_sha256``, ``ratings``, ``users``, ``movies``, ``movies_with_tags``,
  ``link``, ``test_ratings``, ``rmse``, ``train_rmse``, ``auc`` (mean per-user AUC of liked
  over disliked held-out movies), ``auc_users``, ``auc_pooled``); ``window`` - the trailing
  window in steps; ``threshold`` - the headline share of the oracle that counts as adapted;
  ``thresholds`` - every threshold of the survival figures; ``confidence_level`` - 0.95;
  ``bootstrap_resamples``.
* ``agents.<name>`` - one entry per agent, each an interval ``{estimate, low, high}`` (95%
  percentile bootstrap over users) unless said otherwise:

  - ``headline`` (a sentence: how high, how fast, how many users get there);
  - adaptation curve (see :mod:`adaptrec.analysis.curves`): ``start_share`` (share of the
    oracle at the first step), ``plateau`` (mean share over the last fifth of the pre-drift
    steps), ``time_to_plateau`` and ``time_to_plateau_50`` (steps until 90% / 50% of the way
    from start to plateau); each of the last three also carries ``n_users``, ``horizon``
    (curve length in steps) and ``flat`` (the curve moves less than 0.02: time 0);
  - recovery curve, over drifting users from their drift: ``start_after_drift``,
    ``plateau_after_drift``, ``recovery_to_plateau``, ``recovery_to_plateau_50`` (``null``
    estimates and ``n_users`` 0 without drift);
  - ``survival.time_to_adapt.<x>`` and ``survival.recovery.<x>`` for each threshold ``x``:
    Kaplan-Meier figures (see :mod:`adaptrec.analysis.survival`): ``n_users``, ``horizon``,
    ``events``, ``reached_by_horizon``, ``km_median``, ``rmst`` (intervals from lifelines),
    and ``logrank_p_vs_seed`` (log-rank p-value against llm-cosine; absent for llm-cosine);
  - ``ctr`` (mean over users of clicks / items shown); ``regret`` (mean cumulative expected
    regret per user); ``share_of_oracle`` (mean over users of the whole run's expected clicks
    as a fraction of the oracle's);
  - ``time_to_adapt`` and ``time_to_adapt_realised`` (bootstrap median steps at the headline
    threshold, ``null`` when fewer than half get there, with ``adapted_fraction`` and
    ``n_users``; see :mod:`adaptrec.analysis.metrics`); ``recovery`` and
    ``recovery_realised`` (the same from the drift, with ``recovered_fraction``);
  - ``ctr_before_drift`` and ``ctr_after_drift`` (drifting users' CTR in the ``window``
    steps before and after the drift); ``mean_session_length`` (steps per session, a number).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from adaptrec.analysis import analyse_agents, load_run
from adaptrec.analysis.plots import plot_adaptation, plot_ctr, plot_survival
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
from adaptrec.core.config import RunConfig
from adaptrec.core.files import atomic_write_text
from adaptrec.timing import NO_CLOCK

SUMMARY_VERSION = 2


def summary_of(
    config: RunConfig, arrays: dict[str, dict[str, Any]], data: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, AgentAnalysis]]:
    """``(summary, analyses)``: the summary.json dict and each agent's analysis (for plots)."""
    analyses = analyse_agents(arrays, config)
    summary = {
        "schema_version": SUMMARY_VERSION,
        "config": config.to_dict(),
        "data": data,
        "window": config.window,
        "threshold": config.threshold,
        "thresholds": list(thresholds_of(config)),
        "confidence_level": 0.95,
        "bootstrap_resamples": config.bootstrap_resamples,
        "agents": {name: analysis.figures for name, analysis in analyses.items()},
    }
    if config.privacy.epsilon is not None:
        from adaptrec.privacy import accounting  # (imports the agents: only when needed)

        summary["privacy"] = accounting(
            config.privacy.epsilon, config.env.slate_size, config.n_steps
        )
    return summary, analyses


def compute_summary(
    run_dir: str | os.PathLike[str], known: dict[str, dict[str, Any]] | None = None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, AgentAnalysis]]:
    """``(summary, arrays, analyses)`` of a run folder, from its Parquet logs alone, or, for
    the agents in ``known``, from the per-user arrays their shards computed (the same
    numbers the logs give)."""
    config, arrays, data = load_run(run_dir, known)
    summary, analyses = summary_of(config, arrays, data)
    return summary, arrays, analyses


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


def coat_lines(data: dict[str, Any]) -> list[str]:
    """The report's account of Coat users: the fit and how it ranks the random ratings."""
    rows = [
        f"| {name} | {fig['auc']:.3f} ({fig['auc_users']} people) | {fig['auc_pooled']:.3f} | "
        f"{fig['predicted_liked_rate']:.3f} (real {fig['liked_rate']:.3f}) | {fig['link']} |"
        for name, fig in data["held_out"].items()
    ]
    return [
        "## Calibrated users (Coat)",
        "",
        f"Data: `{data['path']}` ({data['users']} people x {data['coats']} coats; "
        f"{data['train_ratings']:,} self-selected ratings fitted, {data['test_ratings']:,} "
        f"ratings of random coats held out; sha256 {data['content_sha256'][:12]}...). The run "
        f"uses the {data['weighting']} fit.",
        "",
        "| fit | AUC, liked (>= 4) over not, on the random ratings (mean per person) | pooled "
        "| mean predicted P(liked) | link |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def markdown(summary: dict[str, Any]) -> str:
    """report.md: what was run, a headline sentence per agent, the adaptation curves, the
    tables, how to read them, and the Kaplan-Meier and CTR plots."""
    cfg = summary["config"]
    users, env = cfg["users"], cfg["env"]
    window, threshold = summary["window"], summary["threshold"]
    drift = (
        f"{users['drift']} drift of {users['drift_fraction']:.0%} of users at step "
        f"{users['drift_step']}"
        if users["drift"] != "none"
        else "no drift"
    )
    if users["drift"] == "recurring":
        drift += f" (tastes alternating every {max(1, users['cycle_period'] // 2)} steps)"
    if users.get("trend_topic", -1) >= 0:
        drift += (
            f"; topic {users['trend_topic']} trends for everyone from step "
            f"{users['trend_start']} (+{users['trend_boost']:g} for {users['trend_duration']} "
            f"steps, fading over {users['trend_fade']})"
        )
    arrivals = cfg.get("arrivals") or {}
    if arrivals.get("rate", 0) > 0:
        life = f"live {arrivals['lifetime']} steps" if arrivals["lifetime"] else "never expire"
        drift += f"; {arrivals['rate']:g} new items arrive per step and {life}"
    data = summary.get("data")
    if data is None:
        items = f"{cfg['catalog']['n_items']} synthetic items"
    elif data["source"] == "movielens":
        items = (
            f"the {data['movies']:,} movies of MovieLens ({data['format']}), each user "
            "calibrated from one real person's ratings"
        )
    elif data["source"] == "coat":
        items = (
            f"the {data['coats']} coats of Coat, each user calibrated from one real person's "
            f"self-selected ratings ({data['weighting']} weighting)"
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
    privacy = summary.get("privacy")
    if privacy is not None:
        lines += [
            "Agents learned under local differential privacy (randomised response on every "
            f"shown slot's click, flip probability {privacy['flip_probability']:.3f}): "
            f"epsilon = {privacy['epsilon_per_click']:g} per click, "
            f"{privacy['epsilon_per_user_step']:g} per user and step, "
            f"{privacy['epsilon_per_user_run']:g} per user over the run. No skips, dwell or "
            "feedback history reached them; every figure below is of the users' true clicks.",
            "",
        ]
    key = f"{threshold:g}"
    lines += [
        *(f"- {s['headline']}" for s in summary["agents"].values()),
        "",
        "![adaptation curves](adaptation.png)",
        "",
    ]
    if data is not None and data["source"] == "movielens":
        lines += calibration_lines(data, cfg["calibration"])
    if data is not None and data["source"] == "coat":
        lines += coat_lines(data)
    lines += [
        DEFINITIONS,
        "",
        *markdown_table(TABLE_COLUMNS, table_rows(summary)),
        "",
        f"*adapted (KM)* / *recovered (KM)*: the Kaplan-Meier share of users (of drifting "
        f"users) whose trailing {window}-step mean of expected clicks reached {key} of the "
        "oracle's within the horizon (steps every user is followed). CTR: clicks per item "
        f"shown. Bootstrap intervals use {summary['bootstrap_resamples']} resamples.",
        "",
        f"### Reaching a share of the oracle (trailing {window}-step window), Kaplan-Meier",
        "",
        "Time to adapt, from the first visit (censored at the drift or the run's end):",
        "",
        *markdown_table(SURVIVAL_COLUMNS, survival_rows(summary, "time_to_adapt")),
        "",
    ]
    drifted = [s["survival"]["recovery"][key].get("events") for s in summary["agents"].values()]
    if any(events is not None for events in drifted):
        lines += [
            "Recovery, from each drifting user's drift (censored at the run's end):",
            "",
            *markdown_table(SURVIVAL_COLUMNS, survival_rows(summary, "recovery")),
            "",
        ]
    lines += [
        "RMST: restricted mean steps to get there within the horizon (a user who never does "
        "counts the whole horizon); 95% normal intervals from its Greenwood-type variance on "
        "lifelines' Kaplan-Meier fit. KM median: "
        "'not reached' when fewer than half the users get there. Log-rank p: the agent's "
        "curve against llm-cosine's (the agents meet the same users, so p is conservative).",
        "",
        "![Kaplan-Meier: share of users who reached the threshold](survival.png)",
        "",
        "| agent | share of oracle (whole run) | regret / user | median time-to-adapt "
        "(expected / realised clicks) | median recovery (expected / realised) | "
        "CTR before drift | CTR after drift | mean session length |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary["agents"].items():
        drifted = s["recovery"]["n_users"] > 0
        recovery = (
            f"{fmt(s['recovery'], 0, 'not reached')} / "
            f"{fmt(s['recovery_realised'], 0, 'not reached')}"
            if drifted
            else "n/a"
        )
        lines.append(
            f"| {name} | {fmt(s['share_of_oracle'])} | {fmt(s['regret'], 1)} | "
            f"{fmt(s['time_to_adapt'], 0, 'not reached')} / "
            f"{fmt(s['time_to_adapt_realised'], 0, 'not reached')} | {recovery} | "
            f"{fmt(s['ctr_before_drift'])} | {fmt(s['ctr_after_drift'])} | "
            f"{s['mean_session_length']:.1f} |"
        )
    lines += [
        "",
        f"Median times are over users at the headline threshold ({key}); 'not reached' when "
        "fewer than half get there (the Kaplan-Meier figures above say how many do). "
        "Realised-click variants compare a user's actual clicks with the oracle's expected "
        f"clicks, so they are noisier. CTR before/after drift: drifting users, {window} steps "
        "each side of the drift.",
        "",
        "![CTR against step](ctr.png)",
        "",
        "CTR per step (mean over users, 95% normal-approximation band) and the shown slate's "
        "expected clicks as a share of the oracle's; the dashed line marks the drift.",
        "",
        *new_item_lines(summary["agents"]),
        "Every number here is recomputed from `steps/*.parquet` by `adaptrec report DIR`.",
        "",
    ]
    return "\n".join(lines)


def build_report(
    run_dir: str | os.PathLike[str],
    known: dict[str, dict[str, Any]] | None = None,
    clock=NO_CLOCK,
) -> dict[str, Any]:
    """Recompute every figure from ``run_dir/steps/*.parquet`` (or, for the agents in
    ``known``, from the arrays their shards computed where they ran: ``adaptrec run`` passes
    them, so no row is read back); write summary.json, report.md, adaptation.png,
    survival.png and ctr.png into ``run_dir``; return the summary. Either way the same bytes
    (tested)."""
    run_dir = Path(run_dir)
    with clock("analysis"):
        summary, arrays, analyses = compute_summary(run_dir, known)
    with clock("report"):
        config = RunConfig.from_dict(summary["config"])
        title = f"{config.n_users} users"
        plot_adaptation(analyses, config, run_dir / "adaptation.png", title)
        plot_survival(analyses, config, run_dir / "survival.png")
        plot_ctr(arrays, config, run_dir / "ctr.png")
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        why: list[str] = []
        if config.explain:
            from adaptrec.explain import why_lines

            why = ["", *why_lines(run_dir, config)]
        atomic_write_text(run_dir / "report.md", markdown(summary) + "\n".join(why))
    return summary
