"""What local differential privacy costs: the default run at several epsilons (issue 31).

    python experiments/privacy_curve.py                    # 400 users x 300 steps, seed 0
    python experiments/privacy_curve.py --json out.json    # also every figure as JSON
    python experiments/privacy_curve.py --smoke            # a minute's check

Each point is the default run (``adaptrec run``'s users, drift and seed) with
``privacy.epsilon`` set, for llm-cosine and LinUCB: the agents learn from randomised-response
clicks (:mod:`adaptrec.privacy`), the figures are of the users' true clicks. The first point
has no privacy (epsilon = infinity), so its figures are the default run's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

EPSILONS: tuple[float | None, ...] = (None, 8.0, 4.0, 2.0, 1.0)
AGENTS = ("llm-cosine", "linucb")


def measure(
    users: int, steps: int, seed: int, cache: Path | None, smoke: bool = False
) -> dict[str, Any]:
    import adaptrec
    from adaptrec.analysis.summary import ADAPTATION_FIGURES as FIGURES
    from adaptrec.core.config import PrivacyConfig, default_run_config
    from adaptrec.privacy import accounting

    base = default_run_config(users, steps, seed=seed, agents=AGENTS)
    if smoke:
        base = dataclasses.replace(base, bootstrap_resamples=200, window=10)
    out: dict[str, Any] = {"config": base.to_dict(), "points": []}
    with tempfile.TemporaryDirectory() as folder:
        for epsilon in EPSILONS:
            config = dataclasses.replace(base, privacy=PrivacyConfig(epsilon))
            result = adaptrec.run(config, out=Path(folder) / f"eps-{epsilon}", cache_dir=cache)
            point = {
                "epsilon": epsilon,
                "accounting": None
                if epsilon is None
                else accounting(epsilon, base.env.slate_size, base.n_steps),
                "agents": {
                    name: {key: result.summary["agents"][name][key] for key in FIGURES}
                    for name in AGENTS
                },
            }
            out["points"].append(point)
            print(summary_line(point), flush=True)
    return out


def summary_line(point: dict[str, Any]) -> str:
    from adaptrec.analysis.text import fmt

    label = "none" if point["epsilon"] is None else f"{point['epsilon']:g}"
    parts = [f"epsilon {label:>4s}"]
    for name, figures in point["agents"].items():
        parts.append(
            f"{name}: plateau {fmt(figures['plateau'], 2)} to plateau "
            f"{fmt(figures['time_to_plateau'], 0)} "
            f"recovery {fmt(figures['recovery_to_plateau'], 0)}"
        )
    return "  ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    parser.add_argument("--cache", type=Path, help="embedding cache (default ~/.cache/adaptrec)")
    parser.add_argument("--smoke", action="store_true", help="40 users x 60 steps")
    args = parser.parse_args(argv)
    users, steps = (40, 60) if args.smoke else (args.users, args.steps)
    record = measure(users, steps, args.seed, args.cache, args.smoke)
    if args.json is not None:
        from adaptrec.core.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
