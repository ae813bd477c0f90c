"""The default adaptrec experiment, as one script: the config, the seed, the outputs.

    python experiments/default_run.py                 # = `adaptrec run` with no arguments
    python experiments/default_run.py --smoke         # a tiny version (the test suite runs it)

The config lives beside this file in default_run.json and equals the default embedded in
`adaptrec run` (a test keeps the two identical). All logic is imported from the library.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from adaptrec.analysis.text import TABLE_COLUMNS, table_rows
from adaptrec.core.config import RunConfig
from adaptrec.run_folder import default_out_dir
from adaptrec.runner import run_experiment

CONFIG = Path(__file__).with_name("default_run.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="output folder (default runs/run-<digest>)")
    parser.add_argument("--smoke", action="store_true", help="30 users x 40 steps")
    parser.add_argument("--cache", type=Path, help="embedding cache folder")
    args = parser.parse_args()

    config = RunConfig.from_json(CONFIG.read_text())
    if args.smoke:
        config = dataclasses.replace(
            config,
            n_users=30,
            n_steps=40,
            users=dataclasses.replace(config.users, drift_step=20),
            env=dataclasses.replace(config.env, max_steps=40),
            bootstrap_resamples=200,
        )
    out = args.out or default_out_dir(config)
    summary = run_experiment(config, out, cache_dir=args.cache, on_event=print)
    print(" | ".join(TABLE_COLUMNS))
    for row in table_rows(summary):
        print(" | ".join(row))
    print(json.dumps({"out": str(out), "agents": list(summary["agents"])}))


if __name__ == "__main__":
    main()
