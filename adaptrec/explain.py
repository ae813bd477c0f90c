"""Why an item was shown: a slate's score parts and the history behind it, from a run's logs.

A run with ``explain = true`` (``--set explain=true``) logs, for every item the llm-cosine
agents show, the parts of its score (:data:`adaptrec.logs.EXPLANATION_FIELDS`).
``adaptrec explain RUN_DIR --agent A --user U --step T`` prints the slate user ``U`` saw at
step ``T`` with those parts, and the user's recent history that moved the user vector: every
examined item enters the agent's ridge regression, a click pulling the user vector towards the
item and a skip pushing it away. report.md gets a short "why" section of the same for a few
users at the last step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from adaptrec.core.rng import Component, generator
from adaptrec.logs import read_metadata, step_files, steps_path

HISTORY_STEPS = 10
"""Steps of history ``adaptrec explain`` shows before the explained one."""


@dataclass(frozen=True)
class Explanation:
    """One slate explained: ``slate`` (a row per slot, best first) and ``history`` (a row per
    examined item of the steps before), each a list of column dicts as in the log."""

    agent: str
    user: int
    step: int
    slate: list[dict[str, Any]]
    history: list[dict[str, Any]]


def explained_agents(run_dir: str | os.PathLike[str]) -> list[str]:
    """The agents of a run whose logs hold score parts (non-null), told by the first row
    group alone (an agent explains every slate or none): a huge log is not read through."""
    out = []
    for path in step_files(run_dir):
        file = pq.ParquetFile(path)
        if "score" in file.schema_arrow.names and file.metadata.num_row_groups:
            column = file.read_row_group(0, columns=["score"]).column("score")
            if column.null_count < len(column):
                out.append(read_metadata(path)["agent"])
    return out


def explain(
    run_dir: str | os.PathLike[str], agent: str, user: int, step: int, history: int = HISTORY_STEPS
) -> Explanation:
    """The slate ``user`` saw at ``step`` under ``agent``, with its parts, and the items the
    user examined in the ``history`` steps before; one-line errors for what is not there."""
    path = steps_path(run_dir, agent)
    if not path.is_file():
        known = ", ".join(p.stem for p in step_files(run_dir)) or "none"
        raise ValueError(
            f"--agent must be an agent of the run in {str(run_dir)!r} ({known}), got {agent!r}"
        )
    if "score" not in pq.read_schema(path).names:
        raise ValueError(
            f"the run in {str(run_dir)!r} has no explanations: rerun it with --set explain=true"
        )
    first = max(0, step - history)
    rows = pq.read_table(
        path, filters=[("user", "=", user), ("step", ">=", first), ("step", "<=", step)]
    ).to_pylist()
    slate = sorted((r for r in rows if r["step"] == step), key=lambda r: r["slot"])
    if not slate:
        config = read_metadata(path)["config"]
        raise ValueError(
            f"--user {user} --step {step}: no such slate (users 0..{config['n_users'] - 1}, "
            f"steps 0..{config['n_steps'] - 1})"
        )
    if slate[0]["score"] is None and slate[0]["rank_reranked"] is None:
        raise ValueError(f"agent {agent!r} does not explain its slates (only llm-cosine agents do)")
    past = [r for r in rows if r["step"] < step and (r["clicked"] or r["skipped"])]
    past.sort(key=lambda r: (-r["step"], r["slot"]))
    return Explanation(agent, user, step, slate, past)


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def slate_table(explanation: Explanation, texts: list[str] | None = None) -> list[str]:
    """The slate as a Markdown table: each slot's item, whether it was clicked, and its parts."""
    header = (
        "| slot | item | clicked | score | = cosine | x P(click) | - recent | item term "
        "| rank first stage | rank re-ranked | explored | propensity |"
    )
    lines = [header, _rule(header)]
    for r in explanation.slate:
        item = f"{r['item']}" + (f" {_short(texts[r['item']])}" if texts else "")
        lines.append(
            f"| {r['slot']} | {item} | {'yes' if r['clicked'] else 'no'} | "
            f"{_number(r['score'], 4)} | {_number(r['score_cosine'])} | "
            f"{_number(r['score_click_probability'])} | {_number(r['score_recent_penalty'], 1)} | "
            f"{_signed(r['score_item_term'])} | {_rank(r['rank_first_stage'])} | "
            f"{_rank(r['rank_reranked'])} | {'yes' if r['explored'] else 'no'} | "
            f"{_number(r['propensity'], 4)} |"
        )
    return lines


def _rule(header: str) -> str:
    return "|" + "---|" * (header.count("|") - 1)


def _rank(value: int | None) -> str:
    return "n/a" if value is None or value < 0 else str(value)


def _signed(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:+.3f}"


def _short(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return f'"{text if len(text) <= width else text[: width - 3] + "..."}"'


def history_lines(explanation: Explanation, texts: list[str] | None = None) -> list[str]:
    """What moved the user vector: the examined items of the steps before, newest first."""
    if not explanation.history:
        return ["No item examined in the steps before: u is the population's prior."]
    lines = []
    for r in explanation.history:
        what = "clicked" if r["clicked"] else "skipped"
        item = f"{r['item']}" + (f" {_short(texts[r['item']], 60)}" if texts else "")
        lines.append(f"- step {r['step']}: {what} {item}")
    return lines


def item_texts(run_dir: str | os.PathLike[str], agent: str) -> list[str] | None:
    """The catalog's item texts of a synthetic run (rebuilt from its config, cheaply), else
    ``None``: real data sets are not reloaded to explain a slate."""
    from adaptrec.core.catalog import make_catalog
    from adaptrec.core.config import RunConfig

    config = RunConfig.from_dict(read_metadata(steps_path(run_dir, agent))["config"])
    if config.source.kind != "synthetic":
        return None
    return list(make_catalog(config.catalog, config.seed).texts)


def explanation_text(explanation: Explanation, texts: list[str] | None = None) -> str:
    """``adaptrec explain``'s output."""
    e = explanation
    lines = [
        f"{e.agent}, user {e.user}, step {e.step}: the slate, best slot first "
        "(score = cosine x P(click) - recent; the item term is P's logit offset)",
        "",
        *slate_table(e, texts),
        "",
        f"What moved u: the items user {e.user} examined in the {HISTORY_STEPS} steps before "
        "(a click pulls u towards the item, a skip pushes it away):",
        *history_lines(e, texts),
    ]
    return "\n".join(lines)


def why_lines(run_dir: str | os.PathLike[str], config, users: int = 2) -> list[str]:
    """report.md's "why" section: for each explaining agent, the last slate of ``users`` users
    drawn with the run's seed; empty when no agent explains itself."""
    agents = explained_agents(run_dir)
    if not agents:
        return []
    rng = generator(config.seed, Component.REPORT, 31)
    chosen = sorted(rng.choice(config.n_users, size=min(users, config.n_users), replace=False))
    last = config.n_steps - 1
    lines = [
        "## Why these items",
        "",
        f"The last slate (step {last}) of users {', '.join(map(str, chosen))}, with the parts "
        "of each item's score; `adaptrec explain DIR --agent A --user U --step T` shows any "
        "slate and the history that moved the user vector.",
        "",
    ]
    for agent in agents:
        for user in chosen:
            lines += [f"**{agent}, user {user}**", ""]
            lines += slate_table(explain(run_dir, agent, int(user), last, history=0))
            lines.append("")
    return lines
