"""Figures as words and table cells: one formatter for the CLI, report.md, compare.md and sweeps."""

from __future__ import annotations

from typing import Any

from adaptrec.analysis.curves import FLAT_GAIN
from adaptrec.core.config import RunConfig

DEFINITIONS = (
    "**How high and how fast.** An agent's *adaptation curve* is the shown slate's expected "
    "clicks as a share of the oracle's (the best slate for the user's hidden taste and "
    "fatigue), averaged over users, against steps since the user's first visit (up to the "
    "drift); the *recovery curve* is the same for drifting users against steps since their "
    "drift. *Plateau*: the mean of a curve's last fifth. *Time to plateau*: the first step at "
    "which the curve has gone 90% (or 50%) of the way from its first step's value to its "
    "plateau (0 = already there); *recovery to plateau* is the same on the recovery curve. A "
    f"curve that moves less than {FLAT_GAIN} from start to plateau is *flat* (time 0). "
    "Intervals: 95% percentile bootstrap, resampling users (pooled (seed, user) units in "
    "`compare`). *Reaching a share x of the oracle*: a user's trailing-window mean of expected "
    "clicks first gets to x times the oracle's; users who never do are censored at their drift "
    "or the run's end, so these times are Kaplan-Meier survival estimates: the share of users "
    "who got there within the horizon (the shortest follow-up), the KM median where one "
    "exists, and the restricted mean time (RMST: the mean over users of the time to get there, "
    "counting a user who never does as the whole horizon)."
)


def fmt(entry: dict[str, Any] | None, digits: int = 3, missing: str = "n/a") -> str:
    """``estimate [low, high]``; ``missing`` for a figure that does not exist."""
    if not entry or entry.get("estimate") is None:
        return missing

    def one(x: float | None) -> str:
        return "inf" if x is None else f"{x:.{digits}f}"

    return f"{one(entry['estimate'])} [{one(entry['low'])}, {one(entry['high'])}]"


def fraction(entry: dict[str, Any] | None) -> str:
    """A share as a percentage with its interval, e.g. ``21% [17%, 25%]``."""
    if not entry or entry.get("estimate") is None:
        return "n/a"
    return f"{entry['estimate']:.0%} [{entry['low']:.0%}, {entry['high']:.0%}]"


def share_text(x: float) -> str:
    """A share of the oracle as at most two decimals: 0.9 -> "0.9", 0.745714 -> "0.75"."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _steps(entry: dict[str, Any]) -> str:
    unit = "step" if round(entry["estimate"]) == 1 else "steps"
    return f"{entry['estimate']:.0f} {unit} [{entry['low']:.0f}, {entry['high']:.0f}]"


def _share(entry: dict[str, Any]) -> str:
    return f"{entry['estimate']:.2f} of the oracle [{entry['low']:.2f}, {entry['high']:.2f}]"


def headline_sentence(name: str, figures: dict[str, Any], config: RunConfig) -> str:
    """One sentence that answers "how high, how fast" for one agent, never a bare "censored"."""
    plateau, time = figures["plateau"], figures["time_to_plateau"]
    parts = [f"{name} settles at {_share(plateau)}"]
    if plateau.get("flat"):
        parts.append(
            f" and its curve is flat (it moves less than {FLAT_GAIN} of the oracle from its "
            f"first step, {figures['start_share']['estimate']:.2f}), so it has no time to plateau"
        )
    else:
        parts.append(
            f" (from {figures['start_share']['estimate']:.2f} at the first visit), gets 90% of "
            f"the way there in {_steps(time)} (half way in "
            f"{_steps(figures['time_to_plateau_50'])})"
        )
    after = figures["plateau_after_drift"]
    if after.get("estimate") is not None:
        recovery = figures["recovery_to_plateau"]
        if after.get("flat"):
            parts.append(f"; after the drift it stays flat at {_share(after)}")
        else:
            parts.append(
                f"; after the drift it restarts at {figures['start_after_drift']['estimate']:.2f},"
                f" settles at {_share(after)} and gets 90% of the way there in {_steps(recovery)}"
            )
    key = f"{config.threshold:g}"
    adapt = figures["survival"]["time_to_adapt"][key]
    if adapt.get("events") is not None and adapt.get("reached_by_horizon"):
        reached = adapt["reached_by_horizon"]["estimate"]
        parts.append(
            f"; {reached:.0%} of users reach {share_text(config.threshold)} of the oracle within "
            f"{adapt['horizon']} steps (Kaplan-Meier)"
        )
        median = adapt["km_median"]["estimate"]
        if median is not None:
            parts.append(f", half of them by step {median:.0f}")
    recovery = figures["survival"]["recovery"][key]
    if recovery.get("reached_by_horizon"):
        parts.append(
            f", and {recovery['reached_by_horizon']['estimate']:.0%} of drifting users reach it "
            f"again within {recovery['horizon']} steps of the drift"
        )
    return "".join(parts) + "."


TABLE_COLUMNS = (
    "agent",
    "CTR",
    "plateau",
    "time to plateau",
    "plateau after drift",
    "recovery to plateau",
    "adapted (KM)",
    "recovered (KM)",
)
"""Columns of the main table (CLI and report.md); the KM columns are at the run's threshold."""


def _km_reached(entry: dict[str, Any]) -> str:
    reached = entry.get("reached_by_horizon")
    if not reached or reached.get("estimate") is None:
        return "n/a"
    return f"{reached['estimate']:.0%} by {entry['horizon']}"


def table_rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row of formatted figures per agent, in :data:`TABLE_COLUMNS` order."""
    key = f"{summary['threshold']:g}"
    rows = []
    for name, s in summary["agents"].items():
        rows.append(
            (
                name,
                fmt(s["ctr"]),
                fmt(s["plateau"], 2),
                fmt(s["time_to_plateau"], 0),
                fmt(s["plateau_after_drift"], 2),
                fmt(s["recovery_to_plateau"], 0),
                _km_reached(s["survival"]["time_to_adapt"][key]),
                _km_reached(s["survival"]["recovery"][key]),
            )
        )
    return rows


SURVIVAL_COLUMNS = (
    "agent",
    "share x of oracle",
    "reached by horizon",
    "KM median",
    "RMST",
    "log-rank p vs llm-cosine",
)


def survival_rows(summary: dict[str, Any], kind: str) -> list[tuple[str, ...]]:
    """Kaplan-Meier figures of ``kind`` (``time_to_adapt`` or ``recovery``) per agent and
    threshold, in :data:`SURVIVAL_COLUMNS` order."""
    rows = []
    for name, s in summary["agents"].items():
        for key, entry in s["survival"][kind].items():
            if not entry.get("reached_by_horizon"):
                continue
            p = entry.get("logrank_p_vs_seed")
            rows.append(
                (
                    name,
                    share_text(float(key)),
                    f"{fraction(entry['reached_by_horizon'])} by {entry['horizon']}",
                    fmt(entry["km_median"], 0, missing="not reached"),
                    fmt(entry["rmst"], 1),
                    "-" if p is None else f"{p:.2g}",
                )
            )
    return rows


def markdown_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


NEW_ITEM_COLUMNS = (
    "agent",
    "steps to first impression",
    "steps to first click",
    "clicked within follow-up (KM)",
    "KM median to first click",
    "exposure / oracle's (median item)",
    "exposure / oracle's (pooled)",
)


def new_item_rows(agents: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per agent with new-item figures (:mod:`adaptrec.analysis.new_items`)."""
    rows = []
    for name, figures in agents.items():
        items = figures.get("new_items")
        if not items:
            continue
        click_km = items["first_click"]["kaplan_meier"]
        pooled = items.get("exposure_share_pooled")
        rows.append(
            (
                name,
                fmt(items["first_shown"], 0, f"> {items['follow_up']}"),
                fmt(items["first_click"], 0, f"> {items['follow_up']}"),
                fraction(click_km.get("reached_by_horizon")),
                fmt(click_km.get("km_median"), 0, "not reached"),
                fmt(items["exposure_share"], 2),
                "n/a" if pooled is None else f"{pooled:.2f}",
            )
        )
    return rows


def new_item_lines(agents: dict[str, Any]) -> list[str]:
    """The report's "New items" section (empty for a fixed catalog)."""
    from adaptrec.analysis.new_items import new_item_sentence

    rows = new_item_rows(agents)
    if not rows:
        return []
    first = next(f["new_items"] for f in agents.values() if f.get("new_items"))
    return [
        "## New items",
        "",
        *(
            f"- {new_item_sentence(n, f['new_items'])}"
            for n, f in agents.items()
            if f.get("new_items")
        ),
        "",
        *markdown_table(NEW_ITEM_COLUMNS, rows),
        "",
        f"Over the {first['n_items']} items that arrived during the run early enough to be "
        f"followed for {first['follow_up']} steps: medians over items with 95% bootstrap "
        "intervals ('> H' when fewer than half got there within the follow-up H), the "
        "Kaplan-Meier share of items clicked within it and the KM median, and each item's "
        "impressions over its impressions under the oracle (items the oracle showed).",
        "",
    ]
