"""Sweeps on Ray Tune: validation first, ranked results, resume, and a killed worker."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ray_processes import pids_titled

from adaptrec.sweep import finished, load_sweep, run_sweep, summarise, trial_dir

ROOT = Path(__file__).resolve().parents[1]
ADAPTREC = Path(sys.executable).with_name("adaptrec")

SWEEP = """
name = "tiny"
agent = "llm-cosine"
metric = "share_of_oracle"
mode = "max"
seeds = [0, 1]
[base]
n_users = {users}
n_steps = {steps}
window = 5
encoder = "hashing"
agents = ["llm-cosine"]
bootstrap_resamples = 200
[base.catalog]
n_items = 120
[grid]
"llm_cosine.epsilon" = [0.0, 0.2]
"""


def sweep_file(tmp_path, users=12, steps=16, extra=""):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.format(users=users, steps=steps) + extra)
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('"llm_cosine.epsilo" = [0.1]\n', "unknown config field llm_cosine.epsilo; allowed:"),
        ('"users.drift_step" = [0]\n', "users.drift_step must be >= 1, got 0 (in the sweep point"),
        ('"users.drift" = ["sideways"]\n', "users.drift must be one of 'none', 'abrupt'"),
    ],
)
def test_a_bad_field_fails_before_any_trial_starts(tmp_path, extra, message):
    result = subprocess.run(
        [
            str(ADAPTREC),
            "sweep",
            str(sweep_file(tmp_path, extra=extra)),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing ran


def test_unknown_sweep_keys_are_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nmetrik = "ctr"\n[grid]\n"seed" = [1]\n')
    with pytest.raises(ValueError, match="unknown sweep key 'metrik'; allowed: name, agent"):
        load_sweep(path)


def test_the_example_sweeps_validate_at_both_sizes():
    for path in (ROOT / "experiments" / "sweeps").glob("*.toml"):
        assert len(load_sweep(path).trials) == len(load_sweep(path, smoke=True).trials) >= 8


@pytest.mark.ray
def test_sweep_ranks_points_resumes_and_never_reruns_a_finished_trial(ray_session, tmp_path):
    sweep = load_sweep(sweep_file(tmp_path))
    out = tmp_path / "out"
    summary = run_sweep(sweep, out, say=lambda message: None)
    assert [row["llm_cosine.epsilon"] for row in summary["points"]] in ([0.0, 0.2], [0.2, 0.0])
    estimates = [row["share_of_oracle"]["estimate"] for row in summary["points"]]
    assert estimates == sorted(estimates, reverse=True)
    for row in summary["points"]:
        assert row["n_users"] == 24 and row["seeds"] == [0, 1]
    for name in ("sweep_summary.json", "sweep.md", "sweep.png"):
        assert (out / name).is_file()
    stamps = {
        t.id: (trial_dir(out, t) / "steps" / "llm-cosine.parquet").stat().st_mtime_ns
        for t in sweep.trials
    }

    # an interrupted trial: its log never got its final name
    victim = sweep.trials[1]
    (trial_dir(out, victim) / "summary.json").unlink()
    (trial_dir(out, victim) / "steps" / "llm-cosine.parquet").unlink()
    said = []
    again = run_sweep(sweep, out, say=said.append)
    assert said == [
        "continuing: 3 of 4 trials already finished",
        "Tune: 1 trial(s) reported share_of_oracle",
    ]
    assert again == summary  # the rerun trial reproduced its rows exactly
    for trial in sweep.trials:
        path = trial_dir(out, trial) / "steps" / "llm-cosine.parquet"
        assert pq.read_metadata(path).num_rows == 12 * 16 * 5
        if trial is not victim:
            assert path.stat().st_mtime_ns == stamps[trial.id]
    assert all(finished(t, out) for t in sweep.trials)

    # The same trials ranked by how fast (issue 12's always-defined figure), fastest first:
    # catches a metric that the analysis layer computes but the sweep cannot rank by.
    by_speed = summarise(dataclasses.replace(sweep, metric="time_to_plateau", mode="min"), out)
    times = [row["time_to_plateau"]["estimate"] for row in by_speed["points"]]
    assert None not in times and times == sorted(times)


@pytest.mark.ray
def test_a_trial_whose_worker_is_killed_is_retried_and_runs_exactly_once(ray_session, tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, users=150, steps=150))
    out = tmp_path / "out"
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(run_sweep(sweep, out, say=lambda m: None))
    )
    thread.start()
    killed, deadline = [], time.monotonic() + 180
    while not killed and thread.is_alive() and time.monotonic() < deadline:
        for pid in pids_titled(b"ray::ImplicitFunc"):
            try:
                os.kill(pid, signal.SIGKILL)  # a real kill -9 of a trial's worker
            except ProcessLookupError:
                continue  # it finished between the scan and the kill
            killed.append(pid)
            break
        time.sleep(0.05)
    thread.join(timeout=600)
    assert killed, "no trial worker was seen running"
    assert len(result["points"]) == 2
    for trial in sweep.trials:
        folder = trial_dir(out, trial)
        assert pq.read_metadata(folder / "steps" / "llm-cosine.parquet").num_rows == 150 * 150 * 5
        assert not list((folder / "steps").glob("*.tmp"))
        assert json.loads((folder / "summary.json").read_text())["config"]["seed"] == trial.seed


@pytest.mark.ray
@pytest.mark.e2e
def test_a_killed_driver_then_the_same_command_finishes_every_trial_once(tmp_path):
    path = sweep_file(tmp_path, users=60, steps=60)
    out = tmp_path / "out"
    command = [str(ADAPTREC), "sweep", str(path), "--out", str(out), "--workers", "2"]
    driver = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and driver.poll() is None:
        if list(out.glob("trial=*/summary.json")):  # at least one trial done, others not
            break
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and everything it started
    driver.wait(timeout=60)
    sweep = load_sweep(path)
    done_before = {t.id for t in sweep.trials if finished(t, out)}
    assert 0 < len(done_before) < len(sweep.trials), "the kill did not land mid-sweep"
    stamps = {
        t: (trial_dir(out, t) / "summary.json").stat().st_mtime_ns
        for t in sweep.trials
        if t.id in done_before
    }

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    # Ray workers run in sessions of their own, so one may finish its trial after the kill:
    # at least the trials finished before are reported finished.
    continued = re.search(r"continuing: (\d+) of 4 trials already finished", again.stderr)
    assert continued and len(done_before) <= int(continued.group(1)) < 4
    for trial in sweep.trials:
        assert finished(trial, out)
        log = trial_dir(out, trial) / "steps" / "llm-cosine.parquet"
        assert pq.read_metadata(log).num_rows == 60 * 60 * 5  # never duplicated
        if trial.id in stamps:  # finished trials were not run again
            summary = trial_dir(out, trial) / "summary.json"
            assert summary.stat().st_mtime_ns == stamps[trial.id]
