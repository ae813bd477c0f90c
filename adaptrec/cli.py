"""``adaptrec run | report``: the command line.

Common mistakes (bad option values, a wrong folder, a config file with an unknown field) print
one line, ``adaptrec: error: ...``, and exit with status 2; Ctrl-C exits with 130 and says how
to continue.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from adaptrec.core.config import (
    AGENT_NAMES,
    RunConfig,
    default_run_config,
    field_docs,
    parse_assignment,
    resolve,
    set_path,
)

FLAG_FIELDS = {
    "users": "n_users",
    "steps": "n_steps",
    "agents": "agents",
    "data": "data",
    "encoder": "encoder",
    "seed": "seed",
    "threads": "torch_threads",
    "shard_size": "shard_size",
    "window": "window",
    "threshold": "threshold",
    "drift": "users.drift",
    "drift_step": "users.drift_step",
}
"""``adaptrec run``'s named options and the config field each one sets; every other field is
reachable with ``--set section.field=value``."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise SystemExit(_fail(message))


def _fail(message: str) -> int:
    print(f"adaptrec: error: {message}", file=sys.stderr)
    return 2


def _fields_epilog() -> str:
    lines = ["config fields (--set NAME=VALUE; default in brackets):"]
    for name, default, doc in field_docs():
        lines.append(f"  {name} [{default}]" + (f"\n      {doc}" if doc else ""))
    return "\n".join(lines)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("adaptrec")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="adaptrec", description="How quickly does a recommender personalise?")
    parser.add_argument("--version", action="version", version=f"adaptrec {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser(
        "run",
        help="simulate users under each agent; write logs and a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_fields_epilog(),
    )
    run.add_argument("--config", type=Path, help="JSON run config (see --show-config)")
    run.add_argument(
        "--scenario",
        help="start from a named scenario: cold-start, abrupt-drift (the default), "
        "gradual-drift, fatigue-heavy or news-switch",
    )
    run.add_argument("--users", type=int, help=f"simulated users (default {RunConfig.n_users})")
    run.add_argument("--steps", type=int, help=f"steps per user (default {RunConfig.n_steps})")
    run.add_argument(
        "--agents",
        help=f"comma-separated: built in ({','.join(AGENT_NAMES)}) or installed plugins "
        "(entry-point group adaptrec.agents)",
    )
    run.add_argument(
        "--data",
        help="synthetic (default), movielens:PATH - real movies, users calibrated from the "
        "MovieLens ratings in directory PATH (ml-latest(-small), ml-100k or ml-1m) - or "
        "coat:PATH - real coats, users calibrated from Coat's self-selected ratings",
    )
    run.add_argument("--encoder", help="minilm (default), hashing, or a model directory")
    run.add_argument("--seed", type=int, help="root seed (default 0)")
    run.add_argument(
        "--drift", choices=("none", "abrupt", "gradual", "recurring"), help="preference drift"
    )
    run.add_argument("--drift-step", type=int, help="step of the drift (default: halfway)")
    run.add_argument("--window", type=int, help="trailing window of time-to-adapt (default 20)")
    run.add_argument("--threshold", type=float, help="share of the oracle = adapted (default 0.9)")
    run.add_argument(
        "--threads", type=int, help="torch threads (default 1: reproducible on any machine)"
    )
    run.add_argument(
        "--shard-size",
        type=int,
        help="users per shard, each with its own agent (default: one shard)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run shards as Ray tasks on up to N CPUs (default 1: in this process)",
    )
    run.add_argument(
        "--address",
        help="join a Ray cluster ('auto' or host:port) instead of "
        "starting a local one; implies Ray",
    )
    run.add_argument("--out", type=Path, help="output folder (default runs/run-<config digest>)")
    run.add_argument(
        "--overwrite", action="store_true", help="replace a different run already in --out"
    )
    run.add_argument(
        "--cache", type=Path, help="embedding and calibration cache (default ~/.cache/adaptrec)"
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="set any config field (repeatable; JSON values, else a string), e.g. "
        "--set llm_cosine.epsilon=0.1 --set env.slate_size=10; fields listed below",
    )
    run.add_argument("--show-config", action="store_true", help="print the config and exit")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="live view: write each agent's running CTR, share of the oracle and training "
        "loss to DIR as it runs; open with: tensorboard --logdir DIR",
    )
    sweep = sub.add_parser("sweep", help="run a sweep file (TOML) on Ray Tune and rank points")
    sweep.add_argument("config", type=Path, help="sweep file, e.g. experiments/sweeps/*.toml")
    sweep.add_argument("--smoke", action="store_true", help="the file's [smoke] sizes")
    sweep.add_argument("--out", type=Path, help="output folder (default runs/sweep-<name>)")
    sweep.add_argument("--workers", type=int, help="CPUs of a local Ray (default: all)")
    sweep.add_argument("--address", help="join a Ray cluster ('auto' or host:port)")
    compare = sub.add_parser(
        "compare", help="every agent on every scenario and seed: the adaptation report"
    )
    compare.add_argument("--scenarios", help="comma-separated (default: all)")
    compare.add_argument("--agents", help="comma-separated (default: all agents)")
    compare.add_argument("--seeds", default="0,1", help="comma-separated root seeds (default 0,1)")
    compare.add_argument("--users", type=int, help="users (news-switch: replicates) per seed")
    compare.add_argument("--steps", type=int, help="steps per user (drift halfway)")
    compare.add_argument("--smoke", action="store_true", help="tiny sizes, to check the set-up")
    compare.add_argument("--encoder", help="minilm (default), hashing, or a model directory")
    compare.add_argument("--out", type=Path, help="output folder (default runs/compare)")
    compare.add_argument("--cache", type=Path, help="embedding cache (default ~/.cache/adaptrec)")
    compare.add_argument("--workers", type=int, default=1, help="Ray workers (default 1: none)")
    validate = sub.add_parser(
        "validate",
        help="sim-to-real check: every agent on real people's ratings of random items and on "
        "the simulated users calibrated from other ratings, side by side",
    )
    validate.add_argument(
        "--data", required=True, help="coat:PATH - the Coat data (random-exposure test ratings)"
    )
    validate.add_argument("--agents", help="comma-separated (default: every built-in learner, "
                          "popularity, random, oracle)")  # fmt: skip
    validate.add_argument("--steps", type=int, default=8, help="slates per person (default 8)")
    validate.add_argument("--slate-size", type=int, default=1, help="items per slate (default 1)")
    validate.add_argument("--seed", type=int, default=0, help="arrival order and draws (default 0)")
    validate.add_argument(
        "--weighting", choices=("ips", "none"), default="ips",
        help="calibration on the self-selected ratings: inverse propensities (default) or none",
    )  # fmt: skip
    validate.add_argument("--out", type=Path, help="output folder (default runs/validate)")
    validate.add_argument("--cache", type=Path, help="embedding cache (default ~/.cache/adaptrec)")
    report = sub.add_parser("report", help="rebuild summary.json, report.md, ctr.png from Parquet")
    report.add_argument("run_dir", type=Path)
    explain = sub.add_parser(
        "explain",
        help="why a slate was shown: its items' score parts and the history behind them "
        "(a run with --set explain=true)",
    )
    explain.add_argument("run_dir", type=Path)
    explain.add_argument("--agent", default="llm-cosine", help="default llm-cosine")
    explain.add_argument("--user", type=int, required=True, help="user id")
    explain.add_argument("--step", type=int, required=True, help="step (0-based)")
    return parser


def _config(args: argparse.Namespace) -> RunConfig:
    """The run's config: a base (a config file, a scenario or the embedded default), then the
    named options and every ``--set``, in that order, then :func:`resolve`."""
    assignments: list[tuple[str, Any]] = []
    for dest, dotted in FLAG_FIELDS.items():
        value = getattr(args, dest)
        if value is not None:
            if dest == "agents":
                value = [name.strip() for name in value.split(",") if name.strip()]
            assignments.append((dotted, value))
    assignments += [parse_assignment(text) for text in args.set]
    sizes = dict(assignments)  # the last word on n_users / n_steps shapes the base, too
    users, steps = sizes.get("n_users"), sizes.get("n_steps")
    if args.config is not None:
        if not args.config.is_file():
            raise ValueError(f"--config must be a JSON file, got {str(args.config)!r} (not found)")
        try:
            config = RunConfig.from_json(args.config.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"--config {str(args.config)!r} is not valid JSON: {err}") from err
    elif args.scenario is not None:
        from adaptrec.envs.scenarios import scenario_config

        config = scenario_config(args.scenario, users, steps)
    else:
        # The window must fit the run, so a short run's --window shapes the base too.
        sized = {"n_users": users, "n_steps": steps, "window": sizes.get("window")}
        config = default_run_config(**{k: v for k, v in sized.items() if isinstance(v, int)})
    tree = config.to_dict()
    for dotted, value in assignments:
        set_path(tree, dotted, value)
    return resolve(tree, explicit=[dotted for dotted, _ in assignments])


def _print_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from adaptrec.analysis.text import TABLE_COLUMNS, table_rows

    table = Table(
        title=f"adaptrec: share of the oracle (plateau) and steps (time to plateau, 90% of the "
        f"way); KM columns: users reaching {summary['threshold']:g} of the oracle "
        f"(trailing {summary['window']} steps); 95% intervals"
    )
    for column in TABLE_COLUMNS:
        table.add_column(column, justify="left" if column == "agent" else "right")
    for row in table_rows(summary):
        table.add_row(*row)
    console = Console(width=160)
    console.print(table)
    for figures in summary["agents"].values():
        console.print(f"- {figures['headline']}", highlight=False)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    config = _config(args)
    if args.show_config:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    if args.encoder not in (None, "minilm", "hashing") and not Path(args.encoder).is_dir():
        raise ValueError(
            f"--encoder must be minilm, hashing or a model directory, got "
            f"{args.encoder!r} (no such directory)"
        )
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    # Imported after every cheap check: the runner loads torch (seconds), so a mistyped
    # option answers at once.
    from adaptrec.parallel import one_shard_note, shard_runner_for
    from adaptrec.run_folder import default_out_dir
    from adaptrec.runner import run_experiment

    note = one_shard_note(config, args.workers, args.address)
    if note:
        print(f"adaptrec: {note}", file=sys.stderr)
    shard_runner = shard_runner_for(config, args.workers, args.address, args.tensorboard)
    out = args.out or default_out_dir(config)
    console = Console(stderr=True)
    started = time.perf_counter()
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
    )
    tasks: dict[str, Any] = {}

    def advance(agent: str, done: int) -> None:
        if agent not in tasks:
            tasks[agent] = progress.add_task(agent, total=config.n_steps)
        progress.update(tasks[agent], completed=done)

    with progress:
        summary = run_experiment(
            config,
            out,
            overwrite=args.overwrite,
            cache_dir=args.cache,
            progress=advance,
            on_event=None if args.quiet else console.print,
            shard_runner=shard_runner,
            live_dir=args.tensorboard,
        )
    _print_table(summary)
    print(
        f"wrote {out}/steps/*.parquet, {out}/report.md, {out}/adaptation.png, "
        f"{out}/survival.png, {out}/ctr.png, {out}/summary.json "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    if not Path(args.config).is_file():
        raise ValueError(f"sweep file must be a TOML file, got {str(args.config)!r} (not found)")
    from adaptrec.sweep import load_sweep, run_sweep, sweep_markdown  # loads the analysis layer

    sweep = load_sweep(args.config, smoke=args.smoke)  # every trial validated before any runs
    out = args.out or Path("runs") / f"sweep-{sweep.name}{'-smoke' if args.smoke else ''}"
    print(f"sweep {sweep.name}: {len(sweep.trials)} trials -> {out}", file=sys.stderr)
    summary = run_sweep(
        sweep,
        out,
        address=args.address,
        num_cpus=args.workers,
        say=lambda message: print(message, file=sys.stderr),
    )
    print(sweep_markdown(summary))
    print(f"wrote {out}/trial=*/, {out}/sweep_summary.json, {out}/sweep.md, {out}/sweep.png")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from adaptrec.core.config import COMPARE_AGENTS
    from adaptrec.core.validation import parse_choices
    from adaptrec.envs.scenarios import SCENARIOS

    scenarios = parse_choices("--scenarios", args.scenarios or ",".join(SCENARIOS), SCENARIOS)
    from adaptrec.agents.registry import names

    agents = parse_choices("--agents", args.agents or ",".join(COMPARE_AGENTS), names())
    try:
        seeds = tuple(int(part) for part in args.seeds.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    if not seeds:
        raise ValueError(f"--seeds must list at least one seed, got {args.seeds!r}")
    if args.encoder not in (None, "minilm", "hashing") and not Path(args.encoder).is_dir():
        raise ValueError(
            f"--encoder must be minilm, hashing or a model directory, got {args.encoder!r}"
        )
    overrides = {"encoder": args.encoder} if args.encoder else {}
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    from adaptrec.compare import run_comparison, scenario_runs  # loads the analysis layer

    runs, left_out = scenario_runs(
        scenarios,
        agents,
        seeds,
        smoke=args.smoke,
        n_users=args.users,
        n_steps=args.steps,
        overrides=overrides,
    )
    shard_runner = None
    if args.workers > 1:
        from adaptrec.parallel import connect, ray_shard_runner

        connect(None, num_cpus=args.workers)
        shard_runner = ray_shard_runner()
    out = args.out or Path("runs") / ("compare-smoke" if args.smoke else "compare")
    started = time.perf_counter()
    summary = run_comparison(
        runs,
        left_out,
        out,
        cache_dir=args.cache,
        say=lambda message: print(message, file=sys.stderr),
        shard_runner=shard_runner,
    )
    head = (summary.get("headline") or {}).get("news-switch")
    if head and head["vw_recovery"] is not None:
        print(
            f"news-switch recovery (median steps): vw {head['vw_recovery']:.0f}, "
            f"best {head['best_agent']} {head['best_recovery']}, "
            f"llm-cosine {head['seed_agent_recovery']}"
        )
    print(
        f"wrote {out}/compare.md, {out}/compare_summary.json, {out}/compare-*.png in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from adaptrec.core.config import check_data
    from adaptrec.core.validation import check_int, parse_choices

    check_data(args.data)
    check_int("--steps", args.steps, low=1, high=1000)
    check_int("--slate-size", args.slate_size, low=1, high=1000)
    check_int("--seed", args.seed, low=0)
    from adaptrec.agents.registry import names
    from adaptrec.validate import DEFAULT_AGENTS, ValidateSettings, run_validate

    default = [a for a in DEFAULT_AGENTS if a != "vw" or _vw_installed()]
    agents = parse_choices("--agents", args.agents or ",".join(default), names())
    settings = ValidateSettings(
        data=args.data,
        agents=tuple(agents),
        steps=args.steps,
        slate_size=args.slate_size,
        seed=args.seed,
        weighting=args.weighting,
    )
    out = args.out or Path("runs") / "validate"
    started = time.perf_counter()
    summary = run_validate(
        settings, out, cache_dir=args.cache, say=lambda m: print(m, file=sys.stderr)
    )
    from adaptrec.validate import validate_markdown

    print(
        "\n".join(line for line in validate_markdown(summary).splitlines() if line.startswith("|"))
    )
    tau = summary["kendall_tau"]
    if tau is not None:
        print(
            f"Kendall tau (real vs simulated ranking of {len(summary['tau_agents'])} agents): "
            f"{tau['estimate']:.2f} [{tau['low']:.2f}, {tau['high']:.2f}]"
        )
    print(f"wrote {out}/validate.md, validate_summary.json, validate.png, validate-curves.png, "
          f"real/ and simulated/ in {time.perf_counter() - started:.0f} s")  # fmt: skip
    return 0


def _vw_installed() -> bool:
    try:
        import vowpalwabbit  # noqa: F401
    except ImportError:
        return False
    return True


def _report(args: argparse.Namespace) -> int:
    if not args.run_dir.is_dir():
        raise ValueError(f"run_dir must be a run folder, got {str(args.run_dir)!r} (not found)")
    from adaptrec.report import build_report  # after the check: it loads the analysis layer

    summary = build_report(args.run_dir)
    _print_table(summary)
    print(
        f"rebuilt {args.run_dir}/report.md, adaptation.png, survival.png, ctr.png and "
        "summary.json from Parquet"
    )
    return 0


def _explain(args: argparse.Namespace) -> int:
    if not args.run_dir.is_dir():
        raise ValueError(f"run_dir must be a run folder, got {str(args.run_dir)!r} (not found)")
    for name in ("user", "step"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name} must be >= 0, got {getattr(args, name)}")
    from adaptrec.explain import explain, explanation_text, item_texts

    explanation = explain(args.run_dir, args.agent, args.user, args.step)
    print(explanation_text(explanation, item_texts(args.run_dir, args.agent)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        commands = {
            "run": _run,
            "sweep": _sweep,
            "compare": _compare,
            "validate": _validate,
            "report": _report,
            "explain": _explain,
        }
        return commands[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, ConnectionError, ImportError) as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        print(
            "adaptrec: interrupted; run the same command again to continue (finished agents "
            "are kept)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
