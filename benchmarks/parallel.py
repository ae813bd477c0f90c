"""Ray speedup: the same CPU-bound population with 1 and 2 workers.

    python -m benchmarks.parallel [--quick]

Prints Ray's start-up time, the per-task overhead (median round trip of an empty task), the
wall time of the population with 1 and with 2 workers, the speedup and the parallel
efficiency (target: speedup >= 1.7 on 2 cores). The shards are identical in both runs, so the
rows are too (checked).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np
import pyarrow as pa
import ray

from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import default_run_config
from adaptrec.core.encoders import HashingEncoder
from adaptrec.parallel import connect, ray_shard_runner
from adaptrec.rollout import shards


def noop() -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller population")
    args = parser.parse_args()
    users, steps = (200, 60) if args.quick else (400, 150)
    config = dataclasses.replace(
        default_run_config(users, steps, encoder="hashing", window=10), shard_size=users // 8
    )
    catalog = make_catalog(config.catalog, config.seed)
    vectors = HashingEncoder().encode(list(catalog.texts))
    parts = shards(config)
    print(
        f"population: {users} users x {steps} steps, {len(parts)} shards, llm-cosine agent; "
        f"{os.cpu_count()} cores"
    )
    results = {}
    for workers in (1, 2):
        start = time.perf_counter()
        connect(num_cpus=workers)
        startup = time.perf_counter() - start
        task = ray.remote(num_cpus=1)(noop)
        ray.get(task.remote())
        trips = []
        for _ in range(50):
            start = time.perf_counter()
            ray.get(task.remote())
            trips.append(time.perf_counter() - start)
        runner = ray_shard_runner()
        list(runner(config, "llm-cosine", catalog, vectors, parts[:workers]))  # warm workers
        start = time.perf_counter()
        tables = list(runner(config, "llm-cosine", catalog, vectors, parts))
        results[workers] = (time.perf_counter() - start, pa.concat_tables(tables))
        ray.shutdown()
        print(
            f"  {workers} worker(s): Ray start-up {startup:.2f} s, per-task overhead "
            f"{1e3 * float(np.median(trips)):.2f} ms, population {results[workers][0]:.2f} s"
        )
    speedup = results[1][0] / results[2][0]
    print(
        f"  speedup 2 vs 1 workers: {speedup:.2f}x (parallel efficiency {speedup / 2:.0%}; "
        "target >= 1.70x)"
    )
    print(f"  rows identical with 1 and 2 workers: {results[1][1].equals(results[2][1])}")


if __name__ == "__main__":
    main()
