"""A run on a real multi-node Ray cluster on one machine, a worker node removed mid-run
(``python tests/cluster_run.py OUT``; ``tests/test_cluster.py`` runs it in a subprocess, so the
test session's own Ray is not disturbed).

The cluster is :class:`ray.cluster_utils.Cluster`: a head node with no CPUs (so it schedules
but runs no shard) and two worker nodes of one CPU each, every node its own raylet. The run's
shards go to both worker nodes; once shards are running on the first worker node, that node is
removed (its raylet and workers killed). Its shards are retried on the other node. The script
writes ``OUT/cluster/steps/llm-cosine.parquet`` and ``OUT/nodes.json`` (which node ran each
shard attempt, and which node was removed).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import numpy as np


def world():
    from adaptrec.core.catalog import make_catalog
    from adaptrec.core.config import CatalogConfig, EnvConfig, RunConfig, UserConfig
    from adaptrec.core.encoders import HashingEncoder

    config = RunConfig(
        n_users=160,
        n_steps=80,
        shard_size=20,
        agents=("llm-cosine",),
        encoder="hashing",
        catalog=CatalogConfig(n_items=300),
        users=UserConfig(drift_step=40),
        env=EnvConfig(max_steps=80),
        window=10,
    )
    catalog = make_catalog(config.catalog, config.seed)
    return config, catalog, HashingEncoder(64).encode(list(catalog.texts))


def shard_task_pids() -> list[int]:
    """Processes running a shard task (Ray titles them ``ray::_simulate_shard_task``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::_simulate_shard_task"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def ancestors(pid: int) -> set[int]:
    """The process ids above ``pid`` (parent, grandparent, ...)."""
    found = set()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        found.add(pid)
    return found


def main(out: Path) -> int:
    import ray
    from ray.cluster_utils import Cluster

    from adaptrec.parallel import connect, ray_shard_runner
    from adaptrec.rollout import run_agent

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    doomed = cluster.add_node(num_cpus=1)
    survivor = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    connect(cluster.address)
    config, catalog, vectors = world()
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["path"] = run_agent(
                config, "llm-cosine", catalog, vectors, out / "cluster",
                shard_runner=ray_shard_runner(max_retries=5),
            )  # fmt: skip
        except BaseException as error:  # reported by the main thread
            result["error"] = repr(error)

    thread = threading.Thread(target=run)
    thread.start()
    raylets = {
        "removed": doomed.all_processes["raylet"][0].process.pid,
        "survivor": survivor.all_processes["raylet"][0].process.pid,
    }
    seen: dict[str, set[int]] = {"removed": set(), "survivor": set()}
    removed = False
    deadline = time.monotonic() + 600
    while thread.is_alive() and time.monotonic() < deadline:
        for pid in shard_task_pids():
            for name, raylet in raylets.items():
                if raylet in ancestors(pid):
                    seen[name].add(pid)
        if not removed and seen["removed"] and seen["survivor"]:
            time.sleep(0.5)  # both nodes are running shards: remove one mid-shard
            cluster.remove_node(doomed, allow_graceful=False)
            removed = True
        time.sleep(0.05)
    thread.join(timeout=60)
    (out / "nodes.json").write_text(
        json.dumps(
            {
                "shard_workers_seen": {name: len(pids) for name, pids in seen.items()},
                "removed_mid_run": removed,
                "error": result.get("error"),
            },
            indent=1,
        )
    )
    ray.shutdown()
    cluster.shutdown()
    return 0 if "path" in result else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main(Path(sys.argv[1])))
