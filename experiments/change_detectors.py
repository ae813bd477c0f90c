"""llm-cosine's change detectors measured side by side on the default run (issue 28).

    python experiments/change_detectors.py                     # 400 users x 300 steps, seed 0
    python experiments/change_detectors.py --json out.json     # also every figure as JSON
    python experiments/change_detectors.py --smoke             # a minute's check

Each variant is llm-cosine with its prior's covariance (``ridge_prior``: isotropic or
empirical) and its change detector set, every other setting the default, run on the same users
(abrupt drift of half of them at step 150). Besides the run's figures it counts, from the
agent's own state, how often the detector restarted a user who never drifted (false alarms)
and, for drifting users, whether and how many steps after the drift it first did (detection).
The "restart at the drift" variants are bounds, not agents: the simulator tells the ridge user
model when a user drifts and it restarts from the population prior right then (a perfect
detector).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

_ISOTROPIC = {"ridge_prior": "isotropic"}
_EMPIRICAL = {"ridge_prior": "empirical"}
VARIANTS: dict[str, dict[str, Any]] = {
    "isotropic: forgetting only (0.99)": {**_ISOTROPIC, "change_detector": "none"},
    "isotropic: cusum, 4 clicks": {
        **_ISOTROPIC,
        "change_detector": "cusum",
        "change_threshold": 4.0,
    },
    "isotropic: two-speed, 8 nats": {
        **_ISOTROPIC,
        "change_detector": "two-speed",
        "change_threshold": 8.0,
    },
    "isotropic: glr, delta 0.01 (old default)": {
        **_ISOTROPIC,
        "change_detector": "glr",
        "glr_delta": 0.01,
    },
    "isotropic: glr, delta 0.1": {**_ISOTROPIC, "change_detector": "glr", "glr_delta": 0.1},
    "isotropic: restart at the drift (bound)": {
        **_ISOTROPIC,
        "change_detector": "none",
        "_oracle_restart": True,
    },
    "empirical: glr, delta 0.01": {**_EMPIRICAL, "change_detector": "glr", "glr_delta": 0.01},
    "empirical: two-speed, 3 nats (default)": {
        **_EMPIRICAL,
        "change_detector": "two-speed",
        "change_threshold": 3.0,
    },
    "empirical: restart at the drift (bound)": {
        **_EMPIRICAL,
        "change_detector": "none",
        "_oracle_restart": True,
    },
}


@dataclasses.dataclass
class Args:
    users: int = 400
    """Simulated users."""
    steps: int = 300
    """Steps per user (the drift is halfway)."""
    seed: int = 0
    """Root seed."""
    json: Path | None = None
    """Write every figure here as JSON."""
    cache: Path | None = None
    """Embedding cache (default ~/.cache/adaptrec)."""
    smoke: bool = False
    """A tiny run: 40 users x 60 steps."""


def _instrumented(overrides: dict[str, Any], record: dict[str, Any]):
    """A factory of llm-cosine with ``overrides`` whose user model logs its restarts."""
    from adaptrec.agents.llm_cosine import LLMCosineAgent
    from adaptrec.agents.registry import stream_index

    settings = {k: v for k, v in overrides.items() if not k.startswith("_")}
    oracle_restart = overrides.get("_oracle_restart", False)

    def make(context):
        config = dataclasses.replace(context.config.llm_cosine, **settings)
        agent = LLMCosineAgent(
            context.item_vectors,
            context.slate_size,
            config,
            context.seed,
            stream_index("llm-cosine"),
        )  # llm-cosine's own streams: every variant starts from the same predictor
        model, population = agent.user_model, context.population
        update, fired = model.update, []

        def logged(ids, slates, clicked, examined, theta=None, targets=None):
            before = model.restarts_[ids].copy() if len(model.restarts_) > ids.max() else 0
            if oracle_restart:
                # Tastes that change for the coming step (one shard: rows are the ids).
                moved = ids[population.drift_now_]
                model.a_[moved] = model.ridge * np.eye(model.dim)
                model.b_[moved] = 0.0
            update(ids, slates, clicked, examined, theta, targets)
            fired.append(model.restarts_[ids] > before)

        model.update = logged
        record["fired"], record["population"] = fired, population
        return agent

    return make


def measure(args: Args) -> dict[str, Any]:
    import adaptrec
    from adaptrec.core.config import default_run_config

    users, steps = (40, 60) if args.smoke else (args.users, args.steps)
    base = default_run_config(users, steps, seed=args.seed, agents=("llm-cosine",))
    if args.smoke:
        base = dataclasses.replace(base, bootstrap_resamples=200, window=10)
    out: dict[str, Any] = {"config": base.to_dict(), "variants": {}}
    with tempfile.TemporaryDirectory() as folder:
        for index, (label, overrides) in enumerate(VARIANTS.items()):
            record: dict[str, Any] = {}
            name = f"variant-{index}"
            result = adaptrec.run(
                base,
                agents=[(name, _instrumented(overrides, record))],
                out=Path(folder) / name,
                cache_dir=args.cache,
            )
            figures = result.summary["agents"][name]
            fired = np.array(record["fired"])  # (T, B)
            population = record["population"]
            drift = population.drift_step_
            drifting = drift >= 0
            after = fired[base.users.drift_step :, drifting]
            if overrides.get("_oracle_restart"):  # restarted exactly at the drift, by design
                after = np.zeros_like(after)
                after[0] = True
            detected = after.any(axis=0)
            delays = np.argmax(after, axis=0)[detected]
            out["variants"][label] = {
                "overrides": overrides,
                "figures": {
                    key: figures[key]
                    for key in (
                        "share_of_oracle",
                        "plateau",
                        "time_to_plateau",
                        "plateau_after_drift",
                        "recovery_to_plateau",
                        "survival",
                        "ctr",
                    )
                },
                "false_alarms_per_user": float(fired[:, ~drifting].sum(axis=0).mean()),
                "detected": float(detected.mean()) if drifting.any() else None,
                "median_delay": float(np.median(delays)) if delays.size else None,
            }
            print(summary_line(label, out["variants"][label]), flush=True)
    return out


def summary_line(label: str, entry: dict[str, Any]) -> str:
    from adaptrec.analysis.text import fmt

    figures = entry["figures"]
    km = figures["survival"]["recovery"]["0.9"].get("reached_by_horizon") or {}
    delay = entry["median_delay"]
    return (
        f"{label:30s} share {fmt(figures['share_of_oracle'])}  "
        f"plateau {fmt(figures['plateau'], 2)}  to plateau {fmt(figures['time_to_plateau'], 0)}"
        f"  after drift {fmt(figures['plateau_after_drift'], 2)}  "
        f"recovery {fmt(figures['recovery_to_plateau'], 0)}"
        f"  KM 0.9 {km.get('estimate', float('nan')):.0%}  false alarms/user "
        f"{entry['false_alarms_per_user']:.2f}  detected {entry['detected'] or 0:.0%} "
        f"(median {'n/a' if delay is None else f'{delay:.0f}'} steps)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=Args.users)
    parser.add_argument("--steps", type=int, default=Args.steps)
    parser.add_argument("--seed", type=int, default=Args.seed)
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    parser.add_argument("--cache", type=Path, help="embedding cache")
    parser.add_argument("--smoke", action="store_true", help="40 users x 60 steps")
    args = Args(**vars(parser.parse_args(argv)))
    out = measure(args)
    if args.json is not None:
        from adaptrec.core.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
