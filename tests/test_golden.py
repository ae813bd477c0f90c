"""Golden traces: small runs of every built-in agent whose log contents are committed
(tests/golden/traces.json; rewrite with `python -m adaptrec.testing.golden
tests/golden/traces.json` and say in the commit why trajectories changed)."""

import copy
import json
from pathlib import Path

from adaptrec.testing import golden

GOLDEN = Path(__file__).resolve().parent / "golden" / "traces.json"


def test_golden_runs_reproduce(tmp_path, cache_dir, movielens_small):
    # Catches any change to a trajectory: the simulator, an agent, seeding or the logs.
    want = json.loads(GOLDEN.read_text())
    got = golden.run_goldens(tmp_path, cache_dir, movielens_small)
    assert golden.compare(want, got) == []
    n_logs = sum(len(agents) for agents in want["runs"].values())
    assert n_logs == sum(len(agents) for agents in got["runs"].values()) >= 20


def test_compare_flags_changed_logs_and_judges_other_kernels_by_figures():
    want = json.loads(GOLDEN.read_text())
    # same machine kernels: a changed digest is a difference, for every agent
    changed = copy.deepcopy(want)
    changed["runs"]["synthetic-drift"]["random"]["digest"] = "0" * 16
    changed["runs"]["synthetic-drift"]["llm-cosine"]["digest"] = "0" * 16
    changed["runs"]["movielens"]["popularity"]["digest"] = "0" * 16
    assert len(golden.compare(want, changed)) == 3
    # other kernels: kernel-dependent agents, and every agent on users calibrated from data
    # (a BLAS factorisation), by their CTR interval; the others still exactly
    other = copy.deepcopy(changed)
    other["kernels"] = {**want["kernels"], "blas": "openblas:Haswell"}
    problems = golden.compare(want, other)
    assert problems == ["synthetic-drift/random: log content differs (digest 0000000000000000)"]
    other["runs"]["movielens"]["popularity"]["ctr"]["estimate"] += 0.5
    assert any("movielens/popularity: CTR" in line for line in golden.compare(want, other))
    other["runs"]["movielens"]["popularity"]["ctr"]["estimate"] -= 0.5
    other["runs"]["synthetic-drift"]["llm-cosine"]["ctr"]["estimate"] += 0.5
    assert any("llm-cosine: CTR" in line for line in golden.compare(want, other))
    # a missing agent or a different row count is always named
    del other["runs"]["news-switch"]["vw"]
    assert "news-switch/vw: not rerun" in golden.compare(want, other)
