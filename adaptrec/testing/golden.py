"""Golden traces: small runs whose Parquet contents and figures are committed, so any change
that alters a trajectory is visible in review.

    python -m adaptrec.testing.golden tests/golden/traces.json         # rewrite the goldens
    python -m adaptrec.testing.golden tests/golden/traces.json --check # compare, exit 1 if not

``tests/test_golden.py`` reruns them on every test run. A change that alters trajectories must
rewrite the file with the first command, and its commit must say why they changed.

What is compared, and why not always bit for bit: every agent's log is a pure function of the
seed, so on one machine every digest must match. Across machines, the agents whose float path
goes through BLAS, LAPACK or torch kernels chosen for the CPU (the seed agent and its
ablations, the linear bandits, Vowpal Wabbit) follow other trajectories: OpenBLAS picks
AVX-512 kernels on one CPU and AVX2 kernels on another, torch likewise, and online learning
amplifies their last-bit differences. So each golden file records the machine's kernels
(:func:`kernel_signature`); on a machine with other kernels those agents are compared by their
figures (the rerun's CTR inside the golden's 95% interval widened by the rerun's own), and
every other agent (popularity, random, oracle, egreedy, thompson) still bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from adaptrec.core.config import AGENT_NAMES, CatalogConfig, RunConfig, default_run_config
from adaptrec.envs.scenarios import scenario_config

KERNEL_DEPENDENT = frozenset(
    {
        "llm-cosine",
        "llm-cosine-seed",
        "llm-cosine-hashing",
        "llm-cosine-random",
        "linucb",
        "lin-ts",
        "d-linucb",
        "sw-linucb",
        "glr-linucb",
        "vw",
    }
)
"""Agents whose trajectories depend on the CPU's BLAS/torch kernels (see the module doc)."""


KERNEL_DEPENDENT_RUNS = frozenset({"movielens"})
"""Golden runs whose every agent's log depends on the CPU kernels: their users are calibrated
from data by a factorisation in BLAS, so another OpenBLAS core rounds the users' utilities
(and the logged expected clicks) differently in the last bits. Seen: a host whose OpenBLAS
picked Haswell kernels instead of SkylakeX logged different popularity and oracle digests on
MovieLens with the same CTRs to every digit."""


def movielens_path() -> Path:
    """ml-latest-small: ``$ADAPTREC_ML_LATEST_SMALL``, else ``../shared/data/ml-latest-small``
    beside the checkout (read in place: research licence, never copied into the repository)."""
    default = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-latest-small"
    return Path(os.environ.get("ADAPTREC_ML_LATEST_SMALL", default))


def coat_path() -> Path:
    """The Coat data: ``$ADAPTREC_COAT``, else ``../shared/data/coat`` beside the checkout
    (read in place, never copied)."""
    default = Path(__file__).resolve().parents[3] / "shared" / "data" / "coat"
    return Path(os.environ.get("ADAPTREC_COAT", default))


def golden_configs(ml_path: str | os.PathLike[str] | None = None) -> dict[str, RunConfig]:
    """The golden runs: every built-in agent on a small synthetic world with an abrupt drift,
    four agents on MovieLens-calibrated users, and the news-switch world."""
    synthetic = default_run_config(
        24, 40, agents=AGENT_NAMES, catalog=CatalogConfig(n_items=300), bootstrap_resamples=200
    )
    path = Path(ml_path) if ml_path is not None else movielens_path()
    movielens = default_run_config(
        16,
        30,
        data=f"movielens:{path}",
        encoder="hashing",
        agents=("llm-cosine", "linucb", "popularity", "oracle"),
        bootstrap_resamples=200,
    )
    news = scenario_config(
        "news-switch",
        2,
        400,
        agents=("llm-cosine", "vw", "egreedy", "linucb", "popularity", "random", "oracle"),
        bootstrap_resamples=200,
    )
    return {"synthetic-drift": synthetic, "movielens": movielens, "news-switch": news}


def _cpu_vendor() -> str:
    """``GenuineIntel``, ``AuthenticAMD``, ... (empty where /proc/cpuinfo does not say)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def kernel_signature() -> dict[str, str]:
    """The CPU kernels the float paths use here: architecture, CPU vendor, OpenBLAS core type,
    torch's CPU capability. (The vendor was added when an Intel and an AMD machine with the same
    OpenBLAS and torch kernels were seen to round one agent differently.)"""
    import threadpoolctl
    import torch

    blas = sorted(
        f"{info['internal_api']}:{info.get('architecture')}"
        for info in threadpoolctl.threadpool_info()
        if info.get("user_api") == "blas"
    )
    return {
        "machine": platform.machine(),
        "vendor": _cpu_vendor(),
        "blas": ",".join(blas),
        "torch": str(torch.backends.cpu.get_cpu_capability()),
    }


def table_digest(path: Path) -> str:
    """SHA-256 (16 hex) of a Parquet log's content: the rows and columns, not the file's
    metadata (which holds the config and library versions)."""
    table = pq.read_table(path).replace_schema_metadata(None).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:16]


def run_goldens(
    out_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    ml_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run every golden config into ``out_dir`` and return the golden record."""
    from adaptrec.runner import run_experiment

    record: dict[str, Any] = {"kernels": kernel_signature(), "runs": {}}
    for name, config in golden_configs(ml_path).items():
        folder = Path(out_dir) / name
        summary = run_experiment(config, folder, cache_dir=cache_dir)
        agents = {}
        for agent in config.agents:
            figures = summary["agents"][agent]
            path = folder / "steps" / f"{agent}.parquet"
            agents[agent] = {
                "rows": pq.read_metadata(path).num_rows,
                "digest": table_digest(path),
                "ctr": figures["ctr"],
                "plateau": figures["plateau"]["estimate"],
                "time_to_plateau": figures["time_to_plateau"]["estimate"],
            }
        record["runs"][name] = agents
    return record


def compare(golden: dict[str, Any], rerun: dict[str, Any]) -> list[str]:
    """What differs between two golden records, one line per difference (empty: they agree)."""
    problems = []
    same_kernels = golden["kernels"] == rerun["kernels"]
    for run, agents in golden["runs"].items():
        for agent, want in agents.items():
            got = rerun["runs"].get(run, {}).get(agent)
            where = f"{run}/{agent}"
            if got is None:
                problems.append(f"{where}: not rerun")
            elif got["rows"] != want["rows"]:
                problems.append(f"{where}: {got['rows']} rows, golden {want['rows']}")
            elif same_kernels or (
                agent not in KERNEL_DEPENDENT and run not in KERNEL_DEPENDENT_RUNS
            ):
                if got["digest"] != want["digest"]:
                    problems.append(f"{where}: log content differs (digest {got['digest']})")
            else:
                low = want["ctr"]["low"] - (got["ctr"]["high"] - got["ctr"]["low"]) / 2
                high = want["ctr"]["high"] + (got["ctr"]["high"] - got["ctr"]["low"]) / 2
                if not low <= got["ctr"]["estimate"] <= high:
                    problems.append(
                        f"{where}: CTR {got['ctr']['estimate']:.3f} outside the golden's "
                        f"[{low:.3f}, {high:.3f}] (other CPU kernels: compared by figures)"
                    )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rewrite or check the golden traces.")
    parser.add_argument("file", type=Path, help="e.g. tests/golden/traces.json")
    parser.add_argument("--check", action="store_true", help="compare instead of rewriting")
    parser.add_argument("--cache", type=Path, help="embedding and calibration cache")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as out:
        record = run_goldens(out, args.cache)
    if args.check:
        problems = compare(json.loads(args.file.read_text()), record)
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    from adaptrec.core.files import atomic_write_text

    atomic_write_text(args.file, json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.file}: {sum(len(a) for a in record['runs'].values())} agent logs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
