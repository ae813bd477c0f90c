"""A real multi-node Ray cluster on one machine (issue 30): shards run on two worker nodes,
one node is removed mid-run, and the run still finishes with the Parquet log of a one-worker
run, nothing lost or duplicated. The cluster runs in a subprocess (tests/cluster_run.py), so
the test session's own Ray is not disturbed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

HERE = Path(__file__).parent


@pytest.mark.ray
def test_a_node_removed_mid_run_loses_nothing(tmp_path):
    sys.path.insert(0, str(HERE))
    try:
        from cluster_run import world
    finally:
        sys.path.remove(str(HERE))
    from adaptrec.rollout import run_agent

    result = subprocess.run(
        [sys.executable, str(HERE / "cluster_run.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    nodes = json.loads((tmp_path / "nodes.json").read_text())
    assert nodes["error"] is None and nodes["removed_mid_run"]
    assert nodes["shard_workers_seen"]["removed"] >= 1  # shards ran on both worker nodes
    assert nodes["shard_workers_seen"]["survivor"] >= 1
    config, catalog, vectors = world()
    local = pq.read_table(run_agent(config, "llm-cosine", catalog, vectors, tmp_path / "local"))
    cluster = pq.read_table(tmp_path / "cluster" / "steps" / "llm-cosine.parquet")
    assert cluster.equals(local)  # every shard exactly once, the same rows
