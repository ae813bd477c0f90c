"""The benchmarks run and report every workload (a smoke test: no speed is asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmarks_print_and_write_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "roofline: float32 matmul" in result.stdout
    data = json.loads(out.read_text())
    assert min(data["peak_gflops"].values()) > 0
    workloads = {figure["workload"].split()[0] for figure in data["figures"]}
    assert workloads == {"1", "2", "3", "4", "5", "6", "7", "8"}
    for figure in data["figures"]:
        assert figure["value"] > 0 and figure["unit"] is not None
        assert figure["metric"] in result.stdout


def _benchmark(tmp_path, *arguments: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``python -m benchmarks ARGUMENTS --json FILE`` with its own embedding cache: the run
    (which must succeed) and the JSON it wrote."""
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", *arguments, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ADAPTREC_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    return result, json.loads(out.read_text())


def test_end_to_end_workload_runs_adaptrec_and_reports_time_and_memory(tmp_path):
    # Workload 9 at a toy size: the child process must really run (a failed run raises), and
    # its peak memory is the child's, not this process's (> 0, below the machine's).
    result, figures = _benchmark(tmp_path, "--scale", "300", "--scale-items", "200")
    scale = figures["scale"]
    assert scale["users"] == 300 and scale["items"] == 200
    assert scale["seconds"] > 0 and 0.05 < scale["peak_rss_gib"] < 24
    assert scale["report_seconds"] > 0 and scale["load_before"] >= 0  # the report ran too
    assert "9 end to end, 300 users x 200 items x 10 steps" in result.stdout


def test_split_workload_accounts_for_the_whole_run_and_times_the_simulation_alone(tmp_path):
    # Workload 11 at toy sizes: medians of three repeats, the stages a run cannot skip took
    # time, and the simulation alone was really run and is shorter than the run (a ratio
    # computed from the in-run stages instead, or from a run that failed, would not hold).
    result, figures = _benchmark(tmp_path, "--split", "300,600", "--scale-items", "200")
    split = figures["split"]
    assert set(split) == {"300", "600"}
    for figures in split.values():
        stages = ("world", "simulate", "agent", "log", "analysis", "report", "other")
        assert figures["repeats"] == 3  # medians of three, so the stages need not add up
        assert min(figures[stage] for stage in stages[:-1]) > 0
        assert 0 < figures["alone"] < figures["wall"]
        assert figures["wall_over_alone"] == pytest.approx(figures["wall"] / figures["alone"])
    assert "11 split, 600 users x 200 items x 10 steps" in result.stdout


def test_memory_workload_counts_what_each_agents_users_hold(default_vectors):
    # Workload 10 at the default world, fewer users and steps. The counts are exact, so they
    # can be checked: every table holds at least the entries that still matter, with the
    # room the population keeps (capacity >= 2x the fullest table after a rebuild); random
    # slates show new items every step, the oracle repeats its best ones, so random's users
    # must keep many more entries.
    import dataclasses

    from adaptrec.core.config import RunConfig
    from benchmarks.__main__ import memory_under_agents

    config = dataclasses.replace(RunConfig(), n_users=64, n_steps=120)
    memory = memory_under_agents(config, default_vectors)
    assert list(memory) == list(config.agents)
    for name, row in memory.items():
        assert 0 < row["live_entries"] <= row["entries"], name
        assert row["table_bytes"] >= 2 * 24 * row["live_entries"], name
        assert row["state_bytes"] > row["table_bytes"], name
    assert memory["random"]["live_entries"] > 5 * memory["oracle"]["live_entries"]
    # Beyond its table, a user's state does not depend on the agent.
    rest = {row["state_bytes"] - row["table_bytes"] for row in memory.values()}
    assert len(rest) == 1
