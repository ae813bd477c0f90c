"""Benchmarks of the simulator and the seed agent, against the machine's own matmul peak.

    python -m benchmarks            # full sizes, several repeats (a few minutes)
    python -m benchmarks --quick    # same sizes, fewer repeats (about a minute)
    python -m benchmarks --json results.json
    python -m benchmarks --scale 1000000   # workload 9 alone: a million users end to end
    python -m benchmarks --memory          # workload 10 alone: state per user under agents
    python -m benchmarks --split 10000,100000,1000000   # workload 11: where the time goes

Workloads (sizes from the throughput issue):
  1. env alone, random slates:      B=4,096 users, N=10,000 items, k=10, 20 topics
  2. seed agent act + update alone: B=1,024, N=10,000, d=384, k=10
  3. full loop (env + seed agent + Parquet logging) at the sizes of 2
  4. one user (B=1): p50/p99 latency of observe + act + env step + update (a superset of
     act + update, so the figure is conservative)
  5. one gym.make env (1,000 items, slate 10, random slates): steps/s, quiet and with one
     busy-loop process beside it that the benchmark starts and stops itself
  6. memory per simulated user at N=10,000 items (state bytes beyond the shared catalog), fresh
     and after 100 and 300 steps of random slates (k=10)
  7. the env at RecSim NG's sizes: 100, 1,000 and 10,000 users x 100 docs and 1,000 x 1,000,
     slate 2, 100 steps, random slates
  8. loaded variants of 1 and 4: with one busy-loop process beside them; 4 also under the
     thread settings a run uses (``torch_threads``: 1 torch and 1 numba thread by default)
  9. (only with ``--scale USERS``) ``adaptrec run`` end to end: USERS x 10,000 items x 10
     steps, popularity, Parquet logs and report, in shards of 10,000: wall time, peak RSS;
     then ``adaptrec report`` of its folder (every figure again from the step logs)
 10. (only with ``--memory``) simulator state per user at the end of the default run (its
     400 users x 300 steps, 2,000 items, slate 5) under each of its agents: the bytes held,
     the fatigue table's share, and the entries that still matter (exact: no timing, so one
     run gives the figures)
 11. (only with ``--split USERS,...``) where a run's time goes: workload 9's run in this
     process (after an untimed 2,000-user run that loads the compiled kernels), its wall
     time split into world, simulate, agent, log, analysis and report seconds; then the
     same simulator and agent alone (no logs, analysis or report), and the wall time over
     that; medians of three repeats up to 100,000 users, one run at a million

Each figure is the median over repeats. The roofline is the float32 matrix-multiply rate
measured in the same run (numpy and torch, the higher). Each workload starts after a one-second
pause, so the previous one's spinning thread pools do not share its cores. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

# isort: off
import adaptrec  # noqa: F401  first: sets OpenMP's spin before torch loads (adaptrec/_openmp.py)
import numpy as np
import torch

# isort: on
from adaptrec.agents import LLMCosineAgent, StepBatch
from adaptrec.agents.base import random_slates
from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import (
    CatalogConfig,
    EnvConfig,
    LLMCosineConfig,
    RunConfig,
    UserConfig,
    seed_agent_config,
)
from adaptrec.core.rng import Component, user_keys
from adaptrec.envs import UserPopulation
from adaptrec.logs import StepWriter
from adaptrec.rollout import interact, log_columns, torch_threads


def median_seconds(run: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def settle(seconds: float = 1.0) -> None:
    """Wait until thread pools of the previous workload have gone idle. OpenBLAS's threads
    (the roofline's numpy GEMM) keep spinning for a while after their last call, and on 2
    cores they took a core from the next measurement (seen as a 10-25% slower env)."""
    time.sleep(seconds)


def matmul_peak_gflops(quick: bool) -> dict[str, float]:
    """float32 GEMM rate of numpy and torch on this machine (median of repeats)."""
    n = 2048
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    a @ b, ta @ tb  # warm up
    repeats = 3 if quick else 7
    flops = 2 * n**3
    return {
        "numpy": flops / median_seconds(lambda: a @ b, repeats) / 1e9,
        "torch": flops / median_seconds(lambda: ta @ tb, repeats) / 1e9,
    }


def population(n_users: int, n_items: int, slate_size: int, max_steps: int) -> UserPopulation:
    catalog = make_catalog(CatalogConfig(n_items=n_items, n_topics=20), 0)
    users = UserPopulation(
        catalog, UserConfig(drift="none"), EnvConfig(slate_size=slate_size, max_steps=max_steps)
    )
    users.reset(np.arange(n_users), 0)
    return users


def random_slate_pool(n_users: int, n_items: int, k: int, size: int) -> list[np.ndarray]:
    keys = user_keys(0, Component.AGENT_USER, np.arange(n_users))
    return [random_slates(keys, np.full(n_users, i), n_items, k, lane=0) for i in range(size)]


def env_alone(quick: bool) -> dict[str, float]:
    b, n, k = 4096, 10_000, 10
    steps = 3 if quick else 10
    users = population(b, n, k, max_steps=10**6)
    pool = random_slate_pool(b, n, k, steps)

    def run() -> None:
        for slates in pool:
            users.step(slates)

    # Warm up: the compiled kernels load on their first call, and the users' fatigue tables
    # grow to hold the pool's items (a one-off, ~5 ms per doubling at this size).
    run()
    settle()
    seconds = median_seconds(run, 3 if quick else 7)
    return {"user_steps_per_s": b * steps / seconds, "ms_per_batch_step": 1e3 * seconds / steps}


def agent_setup(
    n_users: int, n_items: int, dim: int, k: int, config: LLMCosineConfig | None = None
):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n_items, dim)).astype(np.float32)
    agent = LLMCosineAgent(vectors, k, config or LLMCosineConfig(), seed=0)
    ids = np.arange(n_users)
    observation = {
        "user_id": ids,
        "step": np.zeros(n_users, np.int64),
        "items": np.full((n_users, 10, k), -1, np.int64),
    }
    return agent, observation, rng


def agent_alone(quick: bool, peak: float, config: LLMCosineConfig) -> dict[str, float]:
    """One agent's act + update at B=1,024. ``cosine_gflops`` counts the (B, N, d) cosine
    product of the literal seed agent; the improved agent computes the same cosines in its
    33-dimensional ridge space, so for it only ``user_steps_per_s`` is a real rate."""
    b, n, d, k = 1024, 10_000, 384, 10
    agent, observation, rng = agent_setup(b, n, d, k, config)
    clicked = rng.random((b, k)) < 0.2
    skipped = ~clicked & (rng.random((b, k)) < 0.5)
    steps = 3 if quick else 10

    def run() -> None:
        for _ in range(steps):
            slates = agent.act(observation)
            agent.update(
                StepBatch(
                    observation["user_id"],
                    observation["step"],
                    slates,
                    clicked,
                    skipped,
                    np.zeros((b, k), np.float32),
                    clicked.sum(1) * 1.0,
                )
            )

    run()  # warm up torch
    settle()
    seconds = median_seconds(run, 2 if quick else 5) / steps
    cosine_gflops = 2 * n * d * b / seconds / 1e9
    return {
        "user_steps_per_s": b / seconds,
        "cosine_gflops": cosine_gflops,
        "share_of_peak": cosine_gflops / peak,
    }


def full_loop(quick: bool) -> dict[str, float]:
    b, n, d, k = 1024, 10_000, 384, 10
    agent, _, _ = agent_setup(b, n, d, k)
    users = population(b, n, k, max_steps=10**6)
    steps = 3 if quick else 10
    logging_seconds = [0.0]

    def run(out: str) -> None:
        with StepWriter(out, "bench", "{}") as writer:
            for _ in range(steps):
                step, session = users.step_.copy(), users.session_.copy()
                slates, outcome = interact(agent, users)
                start = time.perf_counter()
                writer.add(log_columns(users, step, session, slates, outcome))
                logging_seconds[0] += time.perf_counter() - start
            start = time.perf_counter()
        logging_seconds[0] += time.perf_counter() - start  # the final flush and close

    with tempfile.TemporaryDirectory() as out:
        run(out)
        settle()
        repeats = 2 if quick else 5
        logging_seconds[0] = 0.0
        seconds = median_seconds(lambda: run(out), repeats) / steps
    logging_share = logging_seconds[0] / repeats / steps / seconds
    return {"user_steps_per_s": b / seconds, "logging_share": logging_share}


def single_user_latency(quick: bool) -> dict[str, float]:
    n, d, k = 10_000, 384, 10
    agent, _, _ = agent_setup(1, n, d, k)
    users = population(1, n, k, max_steps=10**6)
    latencies = []
    settle()
    for i in range(200 if quick else 1000):
        start = time.perf_counter()
        interact(agent, users)  # observe, act, respond, learn
        if i >= 10:  # skip warm-up
            latencies.append(time.perf_counter() - start)
    ms = 1e3 * np.array(latencies)
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def single_env_steps(quick: bool) -> float:
    """Steps/s of one ``gym.make("adaptrec/SlateRec-v0")`` env, 1,000 items, slate 10, random
    slates (SARDINE's SlateTopK size)."""
    import gymnasium as gym

    env = gym.make(
        "adaptrec/SlateRec-v0",
        env={"slate_size": 10, "max_steps": 10**9},
        catalog={"n_items": 1000},
    )
    env.reset(seed=0)
    slates = random_slate_pool(1, 1000, 10, 256)
    for i in range(100):  # warm-up (and compilation)
        env.step(slates[i % len(slates)][0])
    settle()
    steps = 5_000 if quick else 20_000
    start = time.perf_counter()
    for i in range(steps):
        env.step(slates[i % len(slates)][0])
    return steps / (time.perf_counter() - start)


def array_bytes(users: UserPopulation, users_axis: int | None = None) -> int:
    """Bytes of the arrays ``users`` holds (only those with an axis of length ``users_axis``
    if given), each buffer once: views share their base's memory."""
    owners = {}
    for value in vars(users).values():
        if isinstance(value, np.ndarray) and (users_axis is None or users_axis in value.shape):
            while isinstance(value.base, np.ndarray):
                value = value.base
            owners[id(value)] = value.nbytes
    return sum(owners.values())


def memory_per_user(n_items: int = 10_000, steps: int = 0) -> float:
    """Bytes of simulator state per user beyond the shared catalog: the growth of every array
    the population holds from 256 to 512 users, per added user, after ``steps`` steps of
    random slates (k=10: new items nearly every step, the most fatigue a table must hold)."""

    def state_bytes(n_users: int) -> int:
        users = population(n_users, n_items, 10, max_steps=10**6)
        for slates in random_slate_pool(n_users, n_items, 10, steps):
            users.step(slates)
        return array_bytes(users)

    return (state_bytes(512) - state_bytes(256)) / 256


def memory_under_agents(
    config: RunConfig | None = None, vectors: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """Workload 10: a run's simulator state per user, agent by agent, after its ``n_steps``
    steps. ``config`` defaults to the default run's; ``vectors`` (``(N, d)`` float32, the
    catalog's item vectors) to its encoder's (real MiniLM), as ``adaptrec run`` makes them.

    For each agent: ``state_bytes``, every array the population holds per user (those with a
    users axis; the catalog's shared arrays excluded), of which ``table_bytes`` the fatigue
    table (its capacity is shared by the population: the fullest user's need, doubled);
    ``entries``, the mean entries held; ``live_entries``, the mean that still matter after
    every table is rebuilt (what an exact store must keep: its least bytes are
    ``live_entries`` x 24).
    """
    from adaptrec.agents import make_agent
    from adaptrec.core.encoders import make_encoder
    from adaptrec.envs import kernel
    from adaptrec.world import build_catalog, make_population

    config = config or RunConfig()
    catalog = build_catalog(config)
    if vectors is None:
        with torch_threads(config.torch_threads):
            vectors = make_encoder(config.encoder, None).encode(list(catalog.texts))
    out = {}
    for name in config.agents:
        users = make_population(config, catalog)
        users.reset(np.arange(config.n_users), config.seed)
        with torch_threads(config.torch_threads):
            agent = make_agent(name, config, vectors, users)
            for _ in range(config.n_steps):
                interact(agent, users)
        state_bytes = array_bytes(users, users_axis=config.n_users)
        entries = float(users._table_count.mean())
        everyone = np.arange(config.n_users)  # a limit of -1 rebuilds every table
        kernel.make_room(everyone, users._arrays, users._model, users.users.fatigue_weight, -1)
        out[name] = {
            "state_bytes": state_bytes / config.n_users,
            "table_bytes": users._table[0].nbytes,
            "entries": entries,
            "live_entries": float(users._table_count.mean()),
        }
    return out


RECSIM_SIZES = ((100, 100), (1_000, 100), (10_000, 100), (1_000, 1_000))
"""(users, docs) of RecSim NG's published batched benchmark; slate 2, 100 steps."""


def recsim_sizes(quick: bool) -> dict[str, float]:
    """User-steps/s of the batched env at RecSim NG's sizes (slate 2, 100 steps)."""
    out = {}
    for n_users, n_docs in RECSIM_SIZES:
        users = population(n_users, n_docs, 2, max_steps=10**6)
        pool = random_slate_pool(n_users, n_docs, 2, 100)
        users.step(pool[0])  # compile / warm up

        def run(users=users, pool=pool) -> None:
            for slates in pool:
                users.step(slates)

        settle()
        seconds = median_seconds(run, 2 if quick else 5)
        out[f"{n_users} x {n_docs}"] = n_users * len(pool) / seconds
    return out


def end_to_end(n_users: int, out_dir: str, n_items: int = 10_000) -> dict[str, float]:
    """Workload 9: ``adaptrec run`` of ``n_users`` users x 10,000 items x 10 steps with the
    popularity agent, Parquet logs and the report, in shards of 10,000 users, as a child
    process: its wall time and peak resident memory (the child's ``ru_maxrss``)."""
    import resource

    command = [
        sys.executable,
        "-m",
        "adaptrec.cli",
        "run",
        "--users",
        str(n_users),
        "--steps",
        "10",
        "--agents",
        "popularity",
        "--shard-size",
        "10000",
        "--window",
        "5",
        "--set",
        f"catalog.n_items={n_items}",
        "--out",
        out_dir,
        "--overwrite",
        "--quiet",
    ]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    # Then `adaptrec report` of the folder: every figure again from the step logs alone.
    start = time.perf_counter()
    report = [sys.executable, "-m", "adaptrec.cli", "report", out_dir]
    subprocess.run(report, check=True, stdout=subprocess.DEVNULL)
    report_seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_rss_gib": peak_kib / 2**20,  # read before the report ran: the run's
        "report_seconds": report_seconds,
        "load_before": load,
    }


SPLIT_STAGES = ("world", "simulate", "agent", "log", "analysis", "report")


def _split_config(n_users: int, n_items: int):
    from adaptrec.core.config import CatalogConfig, EnvConfig, RunConfig, UserConfig

    return RunConfig(
        n_users=n_users,
        n_steps=10,
        agents=("popularity",),
        shard_size=10_000,
        window=5,
        catalog=CatalogConfig(n_items=n_items),
        users=UserConfig(drift_step=5),
        env=EnvConfig(max_steps=10),
    )


def simulation_alone(config, catalog, vectors) -> float:
    """Seconds workload 11's simulator and agent take alone: the run's shards, users and
    agent on its ``catalog`` and item ``vectors``, every step of ``interact`` and nothing else
    (no logging, analysis, report or files)."""
    from adaptrec.agents import make_agent
    from adaptrec.rollout import interact, shards, torch_threads
    from adaptrec.world import make_population

    start = time.perf_counter()
    for users in shards(config):
        population = make_population(config, catalog)
        population.reset(users, config.seed)
        with torch_threads(config.torch_threads):
            agent = make_agent("popularity", config, vectors, population)
            for _ in range(config.n_steps):
                interact(agent, population)
    return time.perf_counter() - start


def split_repeats(n_users: int) -> int:
    """Repeats of workload 11 at ``n_users``: three up to 100,000 users (seconds each), one
    at a million (a minute or two each)."""
    return 3 if n_users <= 100_000 else 1


def time_split(n_users: int, out_dir: str, n_items: int = 10_000) -> dict[str, float]:
    """Workload 11: workload 9's run (``n_users`` x ``n_items`` items x 10 steps, popularity,
    shards of 10,000 users, Parquet logs and the report) in this process, its wall time split
    by stage (:mod:`adaptrec.timing`): seconds of ``world``, ``simulate``, ``agent``, ``log``,
    ``analysis`` and ``report``, the rest (``other``) and the whole run (``wall``); then the
    same simulator and agent run alone (:func:`simulation_alone`, ``alone``) and
    ``wall_over_alone``, the run's wall time over that (issue 30's target: <= 1.5 at 100,000
    users). The log is written on a thread beside the simulation, so the in-run ``simulate``
    stage includes what that costs it; ``alone`` does not. Run and alone alternate
    :func:`split_repeats` times; every figure is the median over the repeats."""
    from adaptrec.core.encoders import make_encoder
    from adaptrec.rollout import torch_threads
    from adaptrec.runner import run_experiment
    from adaptrec.timing import StageClock
    from adaptrec.world import build_catalog

    config = _split_config(n_users, n_items)
    # The world once, as the run builds it (its vectors from the same cache entry), for the
    # simulations alone.
    catalog = build_catalog(config, None, lambda message: None)
    with torch_threads(config.torch_threads):
        vectors = make_encoder(config.encoder, None).encode(list(catalog.texts))
    load = os.getloadavg()[0]
    repeats = []
    for repeat in range(split_repeats(n_users)):
        clock = StageClock()
        start = time.perf_counter()
        # A folder per repeat: a finished run in the same folder would be continued, not rerun.
        run_experiment(config, os.path.join(out_dir, f"repeat-{repeat}"), clock=clock)
        wall = time.perf_counter() - start
        figures = {stage: clock.seconds.get(stage, 0.0) for stage in SPLIT_STAGES}
        figures["other"] = wall - sum(figures.values())
        figures["wall"] = wall
        figures["alone"] = simulation_alone(config, catalog, vectors)
        repeats.append(figures)
    out = {key: float(np.median([r[key] for r in repeats])) for key in repeats[0]}
    out["repeats"] = len(repeats)
    out["load_before"] = load
    out["wall_over_simulation"] = out["wall"] / max(1e-9, out["simulate"] + out["agent"])
    out["wall_over_alone"] = out["wall"] / max(1e-9, out["alone"])
    return out


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """One CPU-bound process (``while True: pass``) running beside the block: the "loaded"
    variants (a laptop or CI machine where something else computes)."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (about a minute)")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument(
        "--scale",
        type=int,
        metavar="USERS",
        help="only workload 9: USERS x 10,000 items x 10 steps end to end (1000000: ~2 min)",
    )
    parser.add_argument("--scale-items", type=int, default=10_000, help="catalog size of 9")
    parser.add_argument(
        "--split",
        metavar="USERS",
        help="only workload 11: where a run's time goes, e.g. 10000,100000,1000000",
    )
    parser.add_argument(
        "--memory", action="store_true", help="only workload 10: state per user under agents"
    )
    args = parser.parse_args()
    if args.memory:
        memory = memory_under_agents()
        for name, row in memory.items():
            print(
                f"  10 state per user after the default run, {name:<16} "
                f"{row['state_bytes']:>9,.0f} B (fatigue table {row['table_bytes']:,} B, "
                f"{row['entries']:.0f} entries, {row['live_entries']:.0f} that matter)"
            )
        if args.json:
            with open(args.json, "w", encoding="utf-8") as file:
                json.dump({"memory": memory}, file, indent=2)
        return
    if args.split:
        # An untimed small run first: loading numba's cached kernels and importing matplotlib
        # are paid once per process, not by whichever size comes first.
        with tempfile.TemporaryDirectory(prefix="adaptrec-split-") as out_dir:
            time_split(2_000, out_dir, args.scale_items)
        splits = {}
        for users in (int(part) for part in args.split.split(",")):
            settle()
            with tempfile.TemporaryDirectory(prefix="adaptrec-split-") as out_dir:
                split = time_split(users, out_dir, args.scale_items)
            splits[str(users)] = split
            parts = ", ".join(f"{stage} {split[stage]:.1f}" for stage in (*SPLIT_STAGES, "other"))
            print(
                f"  11 split, {users:,} users x {args.scale_items:,} items x 10 steps: "
                f"{split['wall']:.1f} s ({parts}); simulator and agent alone "
                f"{split['alone']:.1f} s; wall / alone {split['wall_over_alone']:.2f}"
            )
        if args.json:
            with open(args.json, "w", encoding="utf-8") as file:
                json.dump({"split": splits}, file, indent=2)
        return
    if args.scale:
        with tempfile.TemporaryDirectory(prefix="adaptrec-scale-") as out_dir:
            figures = end_to_end(args.scale, out_dir, args.scale_items)
        print(
            f"  9 end to end, {args.scale:,} users x {args.scale_items:,} items x 10 steps: "
            f"{figures['seconds']:,.1f} s, peak RSS {figures['peak_rss_gib']:.2f} GiB; "
            f"adaptrec report of its folder {figures['report_seconds']:.1f} s "
            f"(load average before: {figures['load_before']:.2f})"
        )
        if args.json:
            with open(args.json, "w", encoding="utf-8") as file:
                scale = {"users": args.scale, "items": args.scale_items, **figures}
                json.dump({"scale": scale}, file, indent=2)
        return
    torch.set_num_threads(os.cpu_count() or 1)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}, torch {torch.__version__}"
    )
    peaks = matmul_peak_gflops(args.quick)
    peak = max(peaks.values())
    print(
        f"roofline: float32 matmul {peaks['numpy']:.1f} GFLOP/s (numpy), "
        f"{peaks['torch']:.1f} GFLOP/s (torch)"
    )
    figures: list[dict] = []

    def report(workload: str, metric: str, value: float, unit: str, target: str = "") -> None:
        figures.append(
            {
                "workload": workload,
                "metric": metric,
                "value": value,
                "unit": unit,
                "peak_gflops": peak,
            }
        )
        print(f"  {workload:<28} {metric:<20} {value:>14,.2f} {unit:<14} {target}")

    env = env_alone(args.quick)
    report(
        "1 env alone (B=4096)",
        "user-steps/s",
        env["user_steps_per_s"],
        "1/s",
        "target >= 2,000,000",
    )
    report("1 env alone (B=4096)", "per batch step", env["ms_per_batch_step"], "ms")
    seed = agent_alone(args.quick, peak, seed_agent_config())
    report("2 seed agent act+update (B=1024)", "user-steps/s", seed["user_steps_per_s"], "1/s")
    report("2 seed agent act+update (B=1024)", "cosine GFLOP/s", seed["cosine_gflops"], "GFLOP/s")
    report(
        "2 seed agent act+update (B=1024)",
        "share of roofline",
        seed["share_of_peak"],
        "",
        "target >= 0.50",
    )
    settle()
    agent = agent_alone(args.quick, peak, LLMCosineConfig())
    report("2 agent act+update (B=1024)", "user-steps/s", agent["user_steps_per_s"], "1/s")
    report(
        "2 agent act+update (B=1024)",
        "vs seed agent",
        agent["user_steps_per_s"] / seed["user_steps_per_s"],
        "",
        "target >= 1 (no slower)",
    )
    loop = full_loop(args.quick)
    report(
        "3 full loop (B=1024)",
        "user-steps/s",
        loop["user_steps_per_s"],
        "1/s",
        f"target >= 70% of 2 = {0.7 * agent['user_steps_per_s']:,.0f}",
    )
    report("3 full loop (B=1024)", "logging share", loop["logging_share"], "of time")
    latency = single_user_latency(args.quick)
    report("4 one user act+update", "p50 latency", latency["p50_ms"], "ms")
    report("4 one user act+update", "p99 latency", latency["p99_ms"], "ms", "target <= 5 ms")
    quiet = single_env_steps(args.quick)
    report("5 single gym env (N=1000)", "steps/s", quiet, "1/s")
    with busy_core():
        loaded = single_env_steps(args.quick)
    report("5 single gym env (N=1000)", "steps/s, 1 busy core", loaded, "1/s")
    report("5 single gym env (N=1000)", "loaded / quiet", loaded / quiet, "", "target >= 0.4")
    report("6 memory per user (N=10000)", "state bytes", memory_per_user(), "B", "target <= 4,096")
    for steps in (100, 300):
        report(
            "6 memory per user (N=10000)",
            f"after {steps} random steps",
            memory_per_user(steps=steps),
            "B",
        )
    for size, rate in recsim_sizes(args.quick).items():
        report(f"7 env, RecSim NG size {size}", "user-steps/s", rate, "1/s")
    with busy_core():
        loaded_env = env_alone(args.quick)
        loaded_latency = single_user_latency(args.quick)
        with torch_threads(RunConfig.torch_threads):  # as a run drives the agent
            run_latency = single_user_latency(args.quick)
    report("8 env alone (B=4096), loaded", "user-steps/s", loaded_env["user_steps_per_s"], "1/s")
    report(
        "8 env alone (B=4096), loaded",
        "quiet / loaded",
        env["user_steps_per_s"] / loaded_env["user_steps_per_s"],
        "",
        "target <= 2.5",
    )
    report("8 one user, loaded", "p99 latency", loaded_latency["p99_ms"], "ms", "target <= 10 ms")
    report(
        "8 one user, loaded, run's threads",
        "p99 latency",
        run_latency["p99_ms"],
        "ms",
        "target <= 10 ms",
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"peak_gflops": peaks, "figures": figures}, file, indent=2)


if __name__ == "__main__":
    main()
