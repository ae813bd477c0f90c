"""Ray: shards on workers give exactly the rows of a local run, also when a worker dies."""

import dataclasses
import os
import signal
import threading
import time

import pyarrow.parquet as pq
import pytest
from ray_processes import pids_titled

from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import default_run_config
from adaptrec.core.encoders import HashingEncoder
from adaptrec.rollout import run_agent, shards

pytestmark = pytest.mark.ray

ray = pytest.importorskip("ray")  # a declared dependency: this never skips where it installs


def world(n_users=60, n_steps=40, shard_size=20):
    config = dataclasses.replace(
        default_run_config(n_users, n_steps, encoder="hashing", window=10),
        shard_size=shard_size,
    )
    catalog = make_catalog(config.catalog, config.seed)
    return config, catalog, HashingEncoder().encode(list(catalog.texts))


def test_shards_split_the_users_in_order_whatever_the_size():
    config, _, _ = world(n_users=10, shard_size=4)
    assert [s.tolist() for s in shards(config)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    config = dataclasses.replace(config, shard_size=0)
    assert [len(s) for s in shards(config)] == [10]


@pytest.mark.parametrize("agent", ["llm-cosine", "popularity"])
def test_ray_workers_write_exactly_the_rows_of_a_local_run(ray_session, tmp_path, agent):
    from adaptrec.parallel import ray_shard_runner

    config, catalog, vectors = world()
    local = pq.read_table(run_agent(config, agent, catalog, vectors, tmp_path / "local"))
    remote = pq.read_table(
        run_agent(
            config, agent, catalog, vectors, tmp_path / "ray", shard_runner=ray_shard_runner()
        )
    )
    assert remote.equals(local)
    assert remote.num_rows == 60 * 40 * 5


def test_a_worker_killed_mid_shard_is_retried_and_nothing_is_lost(ray_session, tmp_path):
    from adaptrec.parallel import ray_shard_runner

    config, catalog, vectors = world(n_users=240, n_steps=120, shard_size=60)
    result = {}

    def run():
        result["path"] = run_agent(
            config,
            "llm-cosine",
            catalog,
            vectors,
            tmp_path / "ray",
            shard_runner=ray_shard_runner(max_retries=3),
        )

    thread = threading.Thread(target=run)
    thread.start()
    killed, deadline = [], time.monotonic() + 120
    while not killed and thread.is_alive() and time.monotonic() < deadline:
        pids = pids_titled(b"ray::_simulate_shard_task")
        if pids:
            os.kill(pids[0], signal.SIGKILL)  # a real kill -9 of a busy worker
            killed.append(pids[0])
        time.sleep(0.02)
    thread.join(timeout=300)
    assert killed, "no shard task was seen running"
    local = pq.read_table(run_agent(config, "llm-cosine", catalog, vectors, tmp_path / "local"))
    assert pq.read_table(result["path"]).equals(local)  # every shard exactly once
