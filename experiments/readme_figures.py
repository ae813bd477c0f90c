"""The README's tables of results, generated from committed summaries, never typed by hand.

    python experiments/readme_figures.py --check            # README tables == the summaries?
    python experiments/readme_figures.py --write            # rewrite the README's tables
    python experiments/readme_figures.py --update-from default=runs/X movielens=runs/Y \\
        compare=runs/compare --write                         # take new runs' summaries first
    python experiments/readme_figures.py --update-from benchmarks=a.json,b.json,c.json --write
    python experiments/readme_figures.py --update-from split=a.json,b.json,c.json \
        scale=d.json,e.json,f.json --write   # python -m benchmarks --split / --scale --json

The summaries live in ``tests/golden/readme/`` (compact JSON): ``default_run.json`` and
``movielens.json`` are ``summary.json`` of ``adaptrec run`` and
``adaptrec run --data movielens:../shared/data/ml-latest-small
--agents llm-cosine,llm-cosine-seed,linucb,lin-ts,popularity,random,oracle``;
``movielens_fresh.json`` of ``adaptrec run --scenario fresh-content --data
movielens:../shared/data/ml-latest-small --agents llm-cosine,llm-cosine-seed,linucb,d-linucb,
egreedy,thompson,popularity,random,oracle``; ``compare.json`` is ``compare_summary.json`` of
``adaptrec compare --workers 2``; ``validate.json`` is ``validate_summary.json`` of ``adaptrec
validate --data coat:../shared/data/coat``; ``detectors.json`` is ``python
experiments/change_detectors.py --json FILE`` (``--update-from detectors=FILE``);
``privacy.json`` is ``python experiments/privacy_curve.py --json FILE``
(``--update-from privacy=FILE``); ``text_profile.json`` is ``python
experiments/text_profile.py --json FILE`` (``--update-from text-profile=FILE``).
Each README table sits between ``<!-- figures:NAME -->`` and ``<!-- /figures -->``;
``tests/test_readme_figures.py`` fails when a table differs from what this script makes of the
committed summaries, so a stale table fails CI. Updating the figures is therefore: rerun the
job, ``--update-from ... --write``, commit.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adaptrec.analysis.text import TABLE_COLUMNS, fmt, markdown_table, table_rows

ROOT = Path(__file__).resolve().parents[1]
SUMMARIES = ROOT / "tests" / "golden" / "readme"
README = ROOT / "README.md"
SOURCES = {
    "default": "default_run.json",
    "movielens": "movielens.json",
    "movielens-fresh": "movielens_fresh.json",
    "compare": "compare.json",
    "detectors": "detectors.json",
    "validate": "validate.json",
    "privacy": "privacy.json",
    "text-profile": "text_profile.json",
}
BLOCK = re.compile(r"(<!-- figures:([a-z-]+) -->\n)(.*?)(<!-- /figures -->)", re.S)


def load(name: str) -> dict[str, Any]:
    return json.loads((SUMMARIES / SOURCES[name]).read_text())


def run_table(summary: dict[str, Any]) -> list[str]:
    return markdown_table(TABLE_COLUMNS, table_rows(summary))


def seed_headline(summary: dict[str, Any]) -> list[str]:
    """llm-cosine's headline sentence as a block quote, wrapped at 95 characters."""
    words, lines, line = summary["agents"]["llm-cosine"]["headline"].split(), [], ">"
    for word in words:
        if len(line) + 1 + len(word) > 95:
            lines.append(line)
            line = ">"
        line += " " + word
    return [*lines, line]


def _steps(entry: dict[str, Any]) -> str:
    return fmt(entry, 0, missing="n/a")


NEWS_AGENTS = (
    ("vw", "vw (Vowpal Wabbit)"),
    ("llm-cosine", "llm-cosine"),
    ("llm-cosine-seed", "llm-cosine-seed (literal seed)"),
    ("llm-cosine-hashing", "llm-cosine-hashing"),
    ("llm-cosine-random", "llm-cosine-random"),
    ("egreedy", "egreedy"),
    ("linucb", "linucb"),
    ("thompson", "thompson"),
    ("lin-ts", "lin-ts"),
    ("d-linucb", "d-linucb"),
    ("sw-linucb", "sw-linucb"),
    ("glr-linucb", "glr-linucb"),
)


def news_table(compare: dict[str, Any]) -> list[str]:
    agents = compare["scenarios"]["news-switch"]["agents"]
    rows = [
        (
            label,
            _steps(agents[name]["recovery"]),
            _steps(agents[name]["recovery_to_plateau"]),
            fmt(agents[name]["plateau_after_drift"], 2),
            f"{agents[name]['ctr']['estimate']:.3f}",
        )
        for name, label in NEWS_AGENTS
        if name in agents and "ctr" in agents[name]
    ]
    columns = (
        "news-switch",
        "recovery (median)",
        "recovery to plateau",
        "plateau after drift",
        "CTR",
    )
    return markdown_table(columns, rows)


SYNTHETIC_AGENTS = (
    "llm-cosine",
    "llm-cosine-seed",
    "llm-cosine-hashing",
    "llm-cosine-random",
    "linucb",
    "lin-ts",
    "d-linucb",
    "sw-linucb",
    "glr-linucb",
    "egreedy",
    "thompson",
    "popularity",
    "random",
    "oracle",
)


def synthetic_table(compare: dict[str, Any]) -> list[str]:
    scenarios = compare["scenarios"]
    cold, abrupt = scenarios["cold-start"], scenarios["abrupt-drift"]
    key = f"{cold['threshold']:g}"
    rows = []
    for name in SYNTHETIC_AGENTS:
        if name not in cold["agents"]:
            continue
        c, a = cold["agents"][name], abrupt["agents"][name]
        reached = c["survival"]["time_to_adapt"][key]["reached_by_horizon"]["estimate"]
        rows.append(
            (
                name,
                fmt(c["ctr"]),
                fmt(c["plateau"], 2),
                _steps(c["time_to_plateau"]) + (" (flat)" if c["plateau"].get("flat") else ""),
                f"{reached:.0%}",
                fmt(a["plateau_after_drift"], 2),
                _steps(a["recovery_to_plateau"])
                + (" (flat)" if a["plateau_after_drift"].get("flat") else ""),
                f"{a['ctr']['estimate']:.3f}",
                f"{scenarios['fatigue-heavy']['agents'][name]['ctr']['estimate']:.3f}",
            )
        )
    columns = (
        "agent",
        "cold-start CTR",
        "plateau",
        "time to plateau",
        f"KM {cold['threshold']:g}",
        "abrupt: plateau after drift",
        "recovery to plateau",
        "abrupt-drift CTR",
        "fatigue-heavy CTR",
    )
    return markdown_table(columns, rows)


def _flat(entry: dict[str, Any]) -> str:
    return " (flat)" if entry.get("flat") else ""


def changes_table(compare: dict[str, Any]) -> list[str]:
    """recurring and trend-shock: how high after the (first) change and how fast back."""
    scenarios = compare["scenarios"]
    recurring, trend = scenarios["recurring"], scenarios["trend-shock"]
    rows = []
    for name in SYNTHETIC_AGENTS:
        if name not in recurring["agents"]:
            continue
        r, t = recurring["agents"][name], trend["agents"][name]
        rows.append(
            (
                name,
                fmt(r["plateau_after_drift"], 2),
                _steps(r["recovery_to_plateau"]) + _flat(r["plateau_after_drift"]),
                f"{r['ctr']['estimate']:.3f}",
                fmt(t["start_after_drift"], 2),
                fmt(t["plateau_after_drift"], 2),
                _steps(t["recovery_to_plateau"]) + _flat(t["plateau_after_drift"]),
                f"{t['ctr']['estimate']:.3f}",
            )
        )
    columns = (
        "agent",
        "recurring: plateau after first switch",
        "recovery to plateau",
        "recurring CTR",
        "trend-shock: share at the trend's start",
        "plateau after it",
        "recovery to plateau",
        "trend-shock CTR",
    )
    return markdown_table(columns, rows)


def fresh_rows(agents: dict[str, Any], names) -> list[tuple[str, ...]]:
    rows = []
    for name in names:
        if name not in agents or "new_items" not in agents[name]:
            continue
        a, items = agents[name], agents[name]["new_items"]
        reached = items["first_click"]["kaplan_meier"].get("reached_by_horizon") or {}
        rows.append(
            (
                name,
                fmt(a["ctr"]),
                fmt(a["share_of_oracle"], 2),
                fmt(items["first_shown"], 0, f"> {items['follow_up']}"),
                fmt(items["first_click"], 0, f"> {items['follow_up']}"),
                "n/a" if reached.get("estimate") is None else f"{reached['estimate']:.0%}",
                fmt(items["exposure_share"], 2),
            )
        )
    return rows


FRESH_COLUMNS = (
    "agent",
    "CTR",
    "share of oracle",
    "steps to first impression",
    "steps to first click",
    "new items clicked (KM)",
    "exposure / oracle's",
)


def fresh_table(compare: dict[str, Any]) -> list[str]:
    agents = compare["scenarios"]["fresh-content"]["agents"]
    return markdown_table(FRESH_COLUMNS, fresh_rows(agents, SYNTHETIC_AGENTS))


def movielens_fresh_table(summary: dict[str, Any]) -> list[str]:
    return markdown_table(FRESH_COLUMNS, fresh_rows(summary["agents"], summary["agents"]))


def detectors_table(record: dict[str, Any]) -> list[str]:
    """llm-cosine's change detectors side by side (experiments/change_detectors.py)."""
    rows = []
    for label, entry in record["variants"].items():
        f = entry["figures"]
        km = f["survival"]["recovery"]["0.9"].get("reached_by_horizon") or {}
        delay = entry["median_delay"]
        detected = entry["detected"]
        rows.append(
            (
                label,
                fmt(f["share_of_oracle"]),
                fmt(f["plateau"], 2),
                _steps(f["time_to_plateau"]),
                fmt(f["plateau_after_drift"], 2),
                _steps(f["recovery_to_plateau"]),
                "n/a" if km.get("estimate") is None else f"{km['estimate']:.0%}",
                f"{entry['false_alarms_per_user']:.2f}",
                "n/a" if detected is None else f"{detected:.0%}",
                "n/a" if delay is None else f"{delay:.0f}",
            )
        )
    columns = (
        "llm-cosine variant",
        "share of oracle",
        "plateau",
        "time to plateau",
        "plateau after drift",
        "recovery to plateau",
        "recovered (KM 0.9)",
        "false alarms / user",
        "drifts detected",
        "median delay",
    )
    return markdown_table(columns, rows)


def privacy_table(record: dict[str, Any]) -> list[str]:
    """What local differential privacy costs (experiments/privacy_curve.py): per agent and
    epsilon, the run's figures and the share of the non-private plateau kept."""
    points = record["points"]
    open_plateau = {name: points[0]["agents"][name]["plateau"] for name in points[0]["agents"]}
    rows = []
    for name in open_plateau:
        for point in points:
            f, epsilon = point["agents"][name], point["epsilon"]
            kept = f["plateau"]["estimate"] / open_plateau[name]["estimate"]
            ledger = point["accounting"]
            rows.append(
                (
                    name,
                    "none (∞)" if epsilon is None else f"{epsilon:g}",
                    "∞" if ledger is None else f"{ledger['epsilon_per_user_step']:g}",
                    fmt(f["share_of_oracle"]),
                    fmt(f["plateau"], 2),
                    f"{kept:.2f}",
                    _steps(f["time_to_plateau"]),
                    fmt(f["plateau_after_drift"], 2),
                    _steps(f["recovery_to_plateau"]),
                )
            )
    columns = (
        "agent",
        "epsilon per click",
        "per user-step",
        "share of oracle",
        "plateau",
        "plateau kept",
        "time to plateau",
        "plateau after drift",
        "recovery to plateau",
    )
    return markdown_table(columns, rows)


def text_profile_table(record: dict[str, Any]) -> list[str]:
    """llm-cosine with a text profile of weight w (experiments/text_profile.py), per world."""
    rows = []
    for world, entry in record["worlds"].items():
        for variant in entry["variants"]:
            f, weight = variant["figures"], variant["weight"]
            embedded = variant["texts_embedded"]
            rows.append(
                (
                    world,
                    "0 (today's ridge u)" if weight == 0 else f"{weight:g}",
                    fmt(f["share_of_oracle"]),
                    fmt(f["plateau"], 2),
                    _steps(f["time_to_plateau"]),
                    fmt(f["plateau_after_drift"], 2),
                    _steps(f["recovery_to_plateau"]),
                    fmt(f["ctr"]),
                    "" if embedded is None else f"{embedded:,}",
                )
            )
    columns = (
        "world",
        "profile weight w",
        "share of oracle",
        "plateau",
        "time to plateau",
        "plateau after drift",
        "recovery to plateau",
        "CTR",
        "texts embedded",
    )
    return markdown_table(columns, rows)


def validate_table(summary: dict[str, Any]) -> list[str]:
    """adaptrec validate: each agent's real and simulated share of the oracle, and the gap."""
    rows = []
    for agent, entry in summary["agents"].items():
        gap = fmt(entry["gap"], 2) + (
            " (beyond intervals)" if entry["gap_beyond_intervals"] else ""
        )
        rows.append(
            (
                agent,
                fmt(entry["real"]["share_of_oracle"], 2),
                fmt(entry["simulated"]["share_of_oracle"], 2),
                gap,
                f"{entry['real']['ctr']:.3f}",
                f"{entry['simulated']['ctr']:.3f}",
            )
        )
    columns = (
        "agent",
        "real: share of oracle",
        "simulated: share of oracle",
        "real - simulated",
        "real CTR",
        "simulated CTR",
    )
    tau = summary["kendall_tau"]
    return [
        *markdown_table(columns, rows),
        "",
        f"Kendall tau of the {len(summary['tau_agents'])} agents' orderings (oracle left out): "
        f"{fmt(tau, 2)}; {summary['people']} people, {summary['steps']} slates of "
        f"{summary['slate_size']} each.",
    ]


BENCHMARKS = SUMMARIES / "benchmarks"
"""``run-1.json``, ``run-2.json``, ...: ``python -m benchmarks --json FILE`` of the runs the
README quotes."""

BENCHMARK_ROWS = (
    # label, workload, metric, format of one run's value, unit after the values, target
    ("roofline: float32 GEMM (numpy)", None, "numpy", "{:.0f}", " GFLOP/s", ""),
    (
        "1. env alone, random slates, B=4,096, N=10,000, k=10",
        "1 env alone (B=4096)",
        "user-steps/s",
        "{:.2f} M",
        " user-steps/s",
        ">= 2,000,000",
    ),
    (
        "2. literal seed agent act + update, B=1,024, N=10,000, d=384",
        "2 seed agent act+update (B=1024)",
        "share of roofline",
        "{:.0%}",
        " of the roofline",
        ">= 50%",
    ),
    (
        "2. llm-cosine act + update, same batch (cosine in its ridge space)",
        "2 agent act+update (B=1024)",
        "vs seed agent",
        "{:.2f}x",
        " the seed agent's user-steps/s",
        ">= 1x",
    ),
    (
        "3. full loop (env + agent + Parquet), B=1,024",
        "3 full loop (B=1024)",
        "user-steps/s",
        "{:,.0f}",
        " user-steps/s",
        ">= 70% of 2",
    ),
    (
        "4. one user: observe, act, env step, update",
        "4 one user act+update",
        "p99 latency",
        "{:.2f}",
        " ms p99",
        "<= 5 ms",
    ),
    (
        "5. one gym.make env, N=1,000, slate 10 (quiet)",
        "5 single gym env (N=1000)",
        "steps/s",
        "{:,.0f}",
        " steps/s",
        ">= 30,000",
    ),
    (
        "5. the same, one busy-loop process beside it",
        "5 single gym env (N=1000)",
        "steps/s, 1 busy core",
        "{:,.0f}",
        " steps/s",
        ">= 40% of quiet",
    ),
    (
        "6. simulator state per user, N=10,000 (beyond the shared catalog)",
        "6 memory per user (N=10000)",
        "state bytes",
        "{:,.0f}",
        " bytes",
        "<= 4,096 (issue 16)",
    ),
    *(
        (
            f"6. the same after {steps} steps of random slates (k=10, new items every step)",
            "6 memory per user (N=10000)",
            f"after {steps} random steps",
            "{:,.0f}",
            " bytes",
            "",
        )
        for steps in (100, 300)
    ),
    *(
        (
            f"7. env at RecSim NG's size {size} (users x docs), slate 2, 100 steps",
            f"7 env, RecSim NG size {size}",
            "user-steps/s",
            "{:.2f} M",
            " user-steps/s",
            f">= 10x RecSim NG ({peer})",
        )
        for size, peer in (
            ("100 x 100", "244k"),
            ("1000 x 100", "294k"),
            ("10000 x 100", "345k"),
            ("1000 x 1000", "79k"),
        )
    ),
    (
        "8. workload 1 with one busy-loop process beside it",
        "8 env alone (B=4096), loaded",
        "quiet / loaded",
        "{:.2f}x",
        " slower than quiet",
        "<= 2.5x",
    ),
    (
        "8. workload 4 with one busy-loop process beside it",
        "8 one user, loaded",
        "p99 latency",
        "{:.1f}",
        " ms p99",
        "<= 10 ms",
    ),
    (
        "8. the same, under a run's threads (1 torch, 1 numba)",
        "8 one user, loaded, run's threads",
        "p99 latency",
        "{:.2f}",
        " ms p99",
        "<= 10 ms",
    ),
)


def benchmark_table() -> list[str]:
    """The performance table: each workload's figure in every committed benchmark run."""
    runs = [json.loads(p.read_text()) for p in sorted(BENCHMARKS.glob("run-*.json"))]
    if not runs:
        raise ValueError(f"no benchmark runs in {BENCHMARKS}")

    def value(run: dict[str, Any], workload: str | None, metric: str) -> float:
        if workload is None:
            return float(run["peak_gflops"][metric])
        for figure in run["figures"]:
            if figure["workload"] == workload and figure["metric"] == metric:
                millions = workload.startswith(("1 ", "7 "))
                scale = 1e-6 if metric == "user-steps/s" and millions else 1.0
                return scale * float(figure["value"])
        raise ValueError(f"benchmark run lacks {workload!r} / {metric!r}")

    rows = [
        (label, " / ".join(fmt_.format(value(r, w, m)) for r in runs) + unit, target)
        for label, w, m, fmt_, unit, target in BENCHMARK_ROWS
    ]
    columns = ("workload", " / ".join(f"run {i + 1}" for i in range(len(runs))), "target")
    return markdown_table(columns, rows)


SPLIT = SUMMARIES / "split"
"""``run-1.json``, ...: ``python -m benchmarks --split 10000,100000,1000000 --json FILE``."""
SCALE = SUMMARIES / "scale"
"""``run-1.json``, ...: ``python -m benchmarks --scale 1000000 --json FILE``."""


def _runs(folder: Path, key: str) -> list[dict[str, Any]]:
    runs = [json.loads(p.read_text())[key] for p in sorted(folder.glob("run-*.json"))]
    if not runs:
        raise ValueError(f"no benchmark runs in {folder}")
    return runs


def _spread(values: list[float]) -> str:
    low, high = f"{min(values):.1f}", f"{max(values):.1f}"
    return low if low == high else f"{low}-{high}"


def split_table() -> list[str]:
    """Workload 11: each run's wall time by stage, per run size, and over the simulator and
    agent alone (issue 30)."""
    runs = _runs(SPLIT, "split")
    stages = ("world", "simulate", "agent", "log", "analysis", "report")
    rows = []
    for users in runs[0]:
        cells = [run[users] for run in runs]
        ratio = " / ".join(f"{c['wall_over_alone']:.2f}" for c in cells)
        rows.append(
            (
                f"{int(users):,}",
                " / ".join(f"{c['wall']:.1f}" for c in cells) + " s",
                *(_spread([c[stage] for c in cells]) for stage in stages),
                _spread([c["alone"] for c in cells]),
                f"**{ratio}**" if int(users) == 100_000 else ratio,
            )
        )
    columns = ("users", "wall", *stages, "simulator + agent alone", "wall / alone")
    loads = "; ".join(
        ", ".join(f"{run[users]['load_before']:.2f}" for users in run) for run in runs
    )
    return [
        *markdown_table(columns, rows),
        "",
        f"Load average as each size started, read after the benchmark's untimed warm-up run"
        f" (each invocation was started at a load below 0.5), by run: {loads}.",
    ]


def scale_table() -> list[str]:
    """Workload 9: the million-user command end to end and its report (issue 30)."""
    runs = _runs(SCALE, "scale")
    users = {run["users"] for run in runs}
    if len(users) != 1:
        raise ValueError(f"scale runs of different sizes: {sorted(users)}")
    label = f"{users.pop():,} users x {runs[0]['items']:,} items x 10 steps"
    rows = [
        (
            f"`adaptrec run`, {label}",
            " / ".join(f"{run['seconds']:.1f}" for run in runs) + " s",
            "<= 120 s",
        ),
        (
            "its peak resident memory",
            " / ".join(f"{run['peak_rss_gib']:.2f}" for run in runs) + " GiB",
            "<= 2 GiB",
        ),
        (
            "`adaptrec report` of its folder",
            " / ".join(f"{run['report_seconds']:.1f}" for run in runs) + " s",
            "<= 30 s",
        ),
        (
            "load average as the benchmark started the run (its own start-up included)",
            " / ".join(f"{run['load_before']:.2f}" for run in runs),
            "",
        ),
    ]
    return markdown_table(("figure", "run 1 / run 2 / run 3", "target"), rows)


TABLES: dict[str, Callable[[], list[str]]] = {
    "default-run": lambda: run_table(load("default")),
    "default-run-headline": lambda: seed_headline(load("default")),
    "movielens": lambda: run_table(load("movielens")),
    "compare-news": lambda: news_table(load("compare")),
    "compare-synthetic": lambda: synthetic_table(load("compare")),
    "compare-changes": lambda: changes_table(load("compare")),
    "compare-fresh": lambda: fresh_table(load("compare")),
    "movielens-fresh": lambda: movielens_fresh_table(load("movielens-fresh")),
    "detectors": lambda: detectors_table(load("detectors")),
    "validate": lambda: validate_table(load("validate")),
    "privacy": lambda: privacy_table(load("privacy")),
    "text-profile": lambda: text_profile_table(load("text-profile")),
    "benchmarks": benchmark_table,
    "split": split_table,
    "scale": scale_table,
}
"""Every generated block of the README, by its marker name."""


def render(text: str) -> str:
    """``text`` (the README) with every marked block replaced by its generated table."""
    unknown = [name for _, name, _, _ in BLOCK.findall(text) if name not in TABLES]
    if unknown:
        raise ValueError(f"README block {unknown[0]!r} has no generator; known: {list(TABLES)}")
    return BLOCK.sub(
        lambda m: m.group(1) + "\n".join(TABLES[m.group(2)]()) + "\n" + m.group(4), text
    )


def update_from(pairs: list[str]) -> None:
    """Copy ``name=RUN_DIR`` summaries (``summary.json`` or ``compare_summary.json``) into
    :data:`SUMMARIES` as compact JSON; ``benchmarks=A.json,B.json,C.json`` (and ``split=``,
    ``scale=``) replaces those benchmark runs with these ``python -m benchmarks --json``
    files."""
    runs = {"benchmarks": BENCHMARKS, "split": SPLIT, "scale": SCALE}
    for pair in pairs:
        name, _, folder = pair.partition("=")
        if name in runs:
            runs[name].mkdir(parents=True, exist_ok=True)
            for old in runs[name].glob("run-*.json"):
                old.unlink()
            for i, file in enumerate(folder.split(","), start=1):
                (runs[name] / f"run-{i}.json").write_text(Path(file).read_text())
            continue
        if name not in SOURCES or not folder:
            raise ValueError(f"--update-from takes NAME=RUN_DIR with NAME in {list(SOURCES)}")
        if name in ("detectors", "privacy", "text-profile"):  # experiments/*.py --json FILE
            summary = json.loads(Path(folder).read_text())
        else:
            file = {"compare": "compare_summary.json", "validate": "validate_summary.json"}
            summary = json.loads((Path(folder) / file.get(name, "summary.json")).read_text())
        SUMMARIES.mkdir(parents=True, exist_ok=True)
        text = json.dumps(summary, separators=(",", ":")) + "\n"  # agents keep their order
        (SUMMARIES / SOURCES[name]).write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--update-from", nargs="+", default=[], metavar="NAME=RUN_DIR")
    parser.add_argument("--write", action="store_true", help="rewrite README.md's tables")
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is stale")
    args = parser.parse_args(argv)
    update_from(args.update_from)
    text = README.read_text()
    new = render(text)
    if args.write and new != text:
        README.write_text(new)
        print("README.md: tables rewritten from", SUMMARIES)
    if args.check and new != text:
        print(
            "README.md tables differ from tests/golden/readme/: run with --write", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
