"""The command line as a user meets it: subprocesses of the installed ``adaptrec`` script."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from adaptrec.core.config import RunConfig, default_run_config

ROOT = Path(__file__).resolve().parents[1]
ADAPTREC = Path(sys.executable).with_name("adaptrec")


def adaptrec(*args, cwd=None):
    return subprocess.run(
        [str(ADAPTREC), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, cache_dir, default_vectors):
    # default_vectors has put the default catalog's MiniLM vectors into cache_dir
    out = tmp_path_factory.mktemp("cli") / "run"
    result = adaptrec(
        "run", "--users", 40, "--steps", 40, "--out", out, "--cache", cache_dir, "--quiet"
    )
    return out, result


@pytest.mark.e2e
def test_main_job_runs_and_writes_every_report_file(cli_run):
    out, result = cli_run
    assert result.returncode == 0, result.stderr
    for name in ("llm-cosine", "popularity", "random", "oracle"):
        assert name in result.stdout
        assert (out / "steps" / f"{name}.parquet").is_file()
    for name in ("report.md", "adaptation.png", "survival.png", "ctr.png", "summary.json"):
        assert (out / name).is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema_version"] == 2
    assert summary["window"] == 20 and summary["threshold"] == 0.9
    assert summary["thresholds"] == [0.5, 0.75, 0.9]
    assert summary["data"] is None  # synthetic catalog
    for name, figures in summary["agents"].items():
        assert {"ctr", "regret", "time_to_adapt", "recovery"} <= set(figures)
        # how high and how fast: always finite numbers with intervals, never "censored"
        for key in ("plateau", "time_to_plateau", "plateau_after_drift", "recovery_to_plateau"):
            entry = figures[key]
            assert entry["low"] <= entry["estimate"] <= entry["high"], (name, key)
        assert figures["headline"].startswith(name) and "censored" not in figures["headline"]
        km = figures["survival"]["time_to_adapt"]["0.9"]
        assert 0 <= km["reached_by_horizon"]["estimate"] <= 1 and km["rmst"]["estimate"] > 0
        assert ("logrank_p_vs_seed" in km) == (name != "llm-cosine")
        assert figures["ctr"]["low"] <= figures["ctr"]["estimate"] <= figures["ctr"]["high"]
    # the learning agent climbs; the oracle is the ceiling of every plateau
    oracle = summary["agents"]["oracle"]["plateau"]["estimate"]
    assert oracle == pytest.approx(1.0)
    seed = summary["agents"]["llm-cosine"]
    assert seed["plateau"]["estimate"] > seed["start_share"]["estimate"] + 0.1
    for png in ("adaptation.png", "survival.png", "ctr.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "| llm-cosine |" in report
    # the adaptation curves are the report's first plot, the CTR plot stays below
    assert report.index("](adaptation.png)") < report.index("](survival.png)")
    assert report.index("](survival.png)") < report.index("](ctr.png)")
    assert re.search(r"!\[[^\]]*\]\(([^)]+)\)", report).group(1) == "adaptation.png"
    assert "censored" not in result.stdout and "settles at" in result.stdout


@pytest.mark.e2e
def test_report_rebuilds_the_same_numbers_from_parquet_alone(cli_run):
    out, _ = cli_run
    before = (out / "summary.json").read_text()
    report = (out / "report.md").read_text()
    for name in ("summary.json", "report.md", "ctr.png", "adaptation.png", "survival.png"):
        (out / name).unlink()
    result = adaptrec("report", out)
    assert result.returncode == 0, result.stderr
    assert (out / "summary.json").read_text() == before  # byte-identical
    assert (out / "report.md").read_text() == report
    assert (out / "adaptation.png").is_file() and (out / "survival.png").is_file()


@pytest.mark.e2e
def test_rerunning_the_same_command_continues_instead_of_redoing(cli_run, cache_dir):
    out, _ = cli_run
    stamp = (out / "steps" / "llm-cosine.parquet").stat().st_mtime_ns
    result = adaptrec("run", "--users", 40, "--steps", 40, "--out", out, "--cache", cache_dir)
    assert result.returncode == 0, result.stderr
    # The console wraps long lines (five agents' names): compare words, not line breaks.
    assert "already finished" in " ".join(result.stderr.split())
    assert (out / "steps" / "llm-cosine.parquet").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--users", "0"], "n_users must be >= 1, got 0"),
        (["run", "--agents", "random,bandit"], "agents must name a built-in agent"),
        (["run", "--encoder", "/no/such/model"], "--encoder must be minilm, hashing or a model"),
        (["run", "--steps", "10", "--window", "20"], "window must be <= n_steps=10, got 20"),
        (["run", "--steps", "50", "--drift-step", "1000"], "drift_step must be below n_steps=50"),
        (["run", "--users", "many"], "argument --users: invalid int value: 'many'"),
        (["report", "/no/such/run"], "run_dir must be a run folder"),
        (["run", "--config", "/no/such.json"], "--config must be a JSON file"),
        (["validate", "--data", "coat:/no/such/dir"], "coat: data must be a Coat directory"),
        (["run", "--agents", "vw"], "vw scores one Vowpal Wabbit example line per item"),
        (
            ["run", "--data", "csv:ratings"],
            "data must be 'synthetic', 'news-switch', 'movielens:PATH'",
        ),
        (["run", "--data", "movielens:/no/such/dir"], "'/no/such/dir' (no such directory)"),
        pytest.param(
            ["run", "--address", "127.0.0.1:1", "--shard-size", "50"],
            "--address '127.0.0.1:1' could not be reached",
            marks=pytest.mark.ray,
        ),
    ],
)
def test_common_mistakes_print_one_line_and_exit_2(args, message, tmp_path):
    # (An --out folder holding other files is refused too: see test_small_runs_and_mistakes.)
    result = adaptrec(*args, "--out", tmp_path) if args[0] == "run" else adaptrec(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("adaptrec: error: ")
    assert message in lines[0]


@pytest.mark.e2e
def test_movielens_run_reports_the_calibration_and_rebuilds_it_from_parquet(
    tmp_path, cache_dir, movielens_catalog, movielens_small
):
    """``--data movielens:PATH``: real movies and calibrated users, the fit's held-out quality
    in summary.json and report.md, all recomputable from the Parquet files; a directory that
    is not MovieLens fails in one line before any output exists."""
    out = tmp_path / "ml"
    args = ["run", "--data", f"movielens:{movielens_small}", "--encoder", "hashing"]
    result = adaptrec(*args, "--users", 30, "--steps", 40, "--out", out, "--cache", cache_dir)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    data = summary["data"]
    assert (data["format"], data["ratings"], data["users"], data["movies"]) == (
        "ml-latest",
        100_836,
        610,
        9_742,
    )
    assert data == movielens_catalog.provenance | {"path": str(movielens_small)}
    assert data["auc"] >= 0.75
    report = (out / "report.md").read_text()
    assert "from the 9,742 movies of MovieLens (ml-latest)" in report
    assert f"| {data['rmse']:.3f} (train" in report and "## Calibrated users" in report
    for name in ("llm-cosine", "popularity"):  # the learning agents
        figures = summary["agents"][name]
        for key in ("plateau", "time_to_plateau", "plateau_after_drift", "recovery_to_plateau"):
            assert figures[key]["estimate"] is not None and figures[key]["high"] is not None
    before = (out / "summary.json").read_text()
    (out / "summary.json").unlink()
    assert adaptrec("report", out).returncode == 0
    assert (out / "summary.json").read_text() == before
    wrong = adaptrec("run", "--data", f"movielens:{tmp_path}", "--out", tmp_path / "never")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1
    assert "is not a MovieLens directory" in wrong.stderr
    assert not (tmp_path / "never").exists()


def test_a_config_file_with_an_unknown_field_is_named(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"users": {"fatigue": 2}}))
    result = adaptrec("run", "--config", config, "--out", tmp_path / "run")
    assert result.returncode == 2
    assert "unknown config field users.fatigue; allowed:" in result.stderr


def test_a_short_run_with_a_window_that_fits_is_accepted():
    # The window must fit the run, so a short run's --window shapes the base config, too.
    result = adaptrec("run", "--steps", "10", "--window", "5", "--show-config")
    assert result.returncode == 0, result.stderr
    shown = RunConfig.from_json(result.stdout)
    assert (shown.n_steps, shown.window) == (10, 5)


def test_show_config_round_trips_and_matches_the_experiment_file():
    result = adaptrec("run", "--show-config")
    assert result.returncode == 0
    shown = RunConfig.from_json(result.stdout)
    assert shown == default_run_config()
    assert RunConfig.from_json((ROOT / "experiments" / "default_run.json").read_text()) == shown


@pytest.mark.e2e
def test_experiment_script_smoke_size(tmp_path, cache_dir, default_vectors):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "default_run.py"),
            "--smoke",
            "--out",
            str(tmp_path / "run"),
            "--cache",
            str(cache_dir),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["agents"] == [
        "llm-cosine",
        "llm-cosine-seed",
        "popularity",
        "random",
        "oracle",
    ]
    assert (tmp_path / "run" / "report.md").is_file()


@pytest.mark.e2e
def test_ctrl_c_mid_run_loses_nothing_and_the_rerun_continues(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    args = [
        "run",
        "--users",
        200,
        "--steps",
        400,
        "--agents",
        "random,llm-cosine",
        "--encoder",
        "hashing",
        "--out",
        out,
        "--cache",
        tmp_path / "cache",
        "--quiet",
    ]
    # A terminal user's SIGINT disposition: jobs started in the background (as CI may start
    # this suite) inherit SIGINT *ignored*, and Python then never raises KeyboardInterrupt.
    process = subprocess.Popen(
        [str(ADAPTREC), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )

    # The seed agent's log exists under its temporary name exactly while it is being written.
    def writing():
        return list((out / "steps").glob("llm-cosine.parquet.*.tmp"))

    deadline = time.monotonic() + 120
    while not writing() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writing(), "the run never reached the seed agent"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "run the same command again to continue" in stderr
    assert "Traceback" not in stderr
    steps = sorted(p.name for p in (out / "steps").iterdir())
    assert steps == ["random.parquet"]  # the interrupted agent left no partial file
    random_stamp = (out / "steps" / "random.parquet").stat().st_mtime_ns

    result = adaptrec(*args)
    assert result.returncode == 0, result.stderr
    assert (out / "steps" / "random.parquet").stat().st_mtime_ns == random_stamp
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["agents"]) == ["llm-cosine", "random"]


@pytest.mark.ray
@pytest.mark.e2e
def test_one_and_two_ray_workers_write_the_same_run(tmp_path):
    common = [
        "run",
        "--users",
        40,
        "--steps",
        30,
        "--shard-size",
        10,
        "--encoder",
        "hashing",
        "--cache",
        tmp_path / "cache",
        "--quiet",
    ]
    one = adaptrec(*common, "--workers", 1, "--out", tmp_path / "one")
    two = adaptrec(*common, "--workers", 2, "--out", tmp_path / "two")
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    for name in ("summary.json", "report.md"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()
    for path in (tmp_path / "one" / "steps").glob("*.parquet"):
        assert path.read_bytes() == (tmp_path / "two" / "steps" / path.name).read_bytes()


@pytest.mark.ray
@pytest.mark.e2e
def test_address_auto_joins_a_running_cluster_and_writes_the_same_run(tmp_path):
    import socket

    ray_cli = Path(sys.executable).with_name("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = subprocess.run(
        [
            str(ray_cli),
            "start",
            "--head",
            "--num-cpus",
            "2",
            "--include-dashboard=false",
            f"--port={port}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stderr
    try:
        common = [
            "run",
            "--users",
            30,
            "--steps",
            20,
            "--shard-size",
            10,
            "--encoder",
            "hashing",
            "--cache",
            tmp_path / "cache",
            "--quiet",
        ]
        joined = adaptrec(*common, "--address", "auto", "--out", tmp_path / "cluster")
        local = adaptrec(*common, "--out", tmp_path / "local")
        # --workers starts a Ray of its own beside the running one (it used to attach to it
        # and fail: "num_cpus and num_gpus must not be provided")
        workers = adaptrec(*common, "--workers", 2, "--out", tmp_path / "workers")
        assert joined.returncode == 0 and local.returncode == 0, joined.stderr
        assert workers.returncode == 0, workers.stderr
        for path in (tmp_path / "local" / "steps").glob("*.parquet"):
            for other in ("cluster", "workers"):
                assert path.read_bytes() == (tmp_path / other / "steps" / path.name).read_bytes()
    finally:
        subprocess.run([str(ray_cli), "stop", "--force"], capture_output=True, timeout=120)


def test_small_runs_and_mistakes_found_by_trying_the_cli(tmp_path, cache_dir):
    """Issue 30's newcomer runs: a short run fits its window, --workers on a one-shard run gets
    a run (and a line saying why one worker did it), an --out folder of other files is refused,
    files get the user's umask, and --version answers."""
    small = ("run", "--steps", "10", "--users", "8", "--agents", "random", "--quiet")
    short = adaptrec(*small, "--out", tmp_path / "short", "--cache", cache_dir)
    assert short.returncode == 0, short.stderr
    assert json.loads((tmp_path / "short" / "config.json").read_text())["window"] == 10
    workers = adaptrec(*small, "--workers", "2", "--out", tmp_path / "w2", "--cache", cache_dir)
    assert workers.returncode == 0, workers.stderr
    assert "one shard of 8 users" in " ".join(workers.stderr.split())
    a, b = (pq.read_table(tmp_path / d / "steps" / "random.parquet") for d in ("short", "w2"))
    assert a.equals(b)  # the same run whatever the number of workers
    for name in ("config.json", "summary.json", "report.md", "ctr.png"):
        assert (tmp_path / "w2" / name).stat().st_mode & 0o777 == 0o666 & ~_umask(), name
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    refused = adaptrec("run", "--steps", "10", "--agents", "random", "--out", foreign)
    assert refused.returncode == 2 and "no adaptrec run (no config.json)" in refused.stderr
    assert (foreign / "todo.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    version = adaptrec("--version")
    assert version.returncode == 0 and version.stdout.startswith("adaptrec ")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
