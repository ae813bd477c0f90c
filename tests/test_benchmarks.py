"""The benchmarks run and report every workload (a smoke test: no speed is asserted)."""

import json
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
