"""A user profile written by the language model, against today's ridge user vector (issue 31).

    python experiments/text_profile.py                     # default run and MovieLens, seed 0
    python experiments/text_profile.py --json out.json     # also every figure as JSON
    python experiments/text_profile.py --smoke             # a minute's check (hashing, small)

Each variant is llm-cosine with ``llm_cosine.text_profile`` = w (0 = today's agent): the
embedding of the texts of the user's last 3 clicked items, rebuilt every 10 of the user's
steps, blended into u (:mod:`adaptrec.agents.llm_cosine.profile`). Every variant uses
llm-cosine's own random streams, so all start from the same predictor, and each runs alone
so that its wall time is its own. The worlds: the default run (400 users x 300 steps, half
drifting at step 150) and the README's MovieLens run (400 x 300, real movies and users
calibrated from ml-latest-small).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

WEIGHTS = (0.0, 0.3, 1.0)
MOVIELENS = "movielens:../shared/data/ml-latest-small"


def _factory(weight: float, counts: dict[str, int]):
    from adaptrec.agents.llm_cosine import LLMCosineAgent
    from adaptrec.agents.registry import stream_index
    from adaptrec.core.encoders import text_encoder

    def make(context):
        config = dataclasses.replace(context.config.llm_cosine, text_profile=weight)
        texts = encoder = None
        if weight > 0:
            texts, encoder = context.catalog.texts, text_encoder(context.config.encoder)
        agent = LLMCosineAgent(
            context.item_vectors,
            context.slate_size,
            config,
            context.seed,
            stream_index("llm-cosine"),
            texts,
            encoder,
        )
        counts["agent"] = agent  # read after the run: how many texts the model embedded
        return agent

    return make


def measure(worlds: dict[str, Any], cache: Path | None) -> dict[str, Any]:
    import adaptrec
    from adaptrec.analysis.summary import ADAPTATION_FIGURES as FIGURES

    out: dict[str, Any] = {"weights": list(WEIGHTS), "worlds": {}}
    with tempfile.TemporaryDirectory() as folder:
        for world, config in worlds.items():
            entry: dict[str, Any] = {"config": config.to_dict(), "variants": []}
            for weight in WEIGHTS:
                held: dict[str, Any] = {}
                name = f"profile-w{weight:g}"  # w0: today's llm-cosine
                started = time.perf_counter()
                result = adaptrec.run(
                    config,
                    agents=[(name, _factory(weight, held))],
                    out=Path(folder) / f"{world}-{weight}",
                    cache_dir=cache,
                )
                seconds = time.perf_counter() - started
                profile = held["agent"].profile
                figures = result.summary["agents"][name]
                variant = {
                    "weight": weight,
                    "figures": {key: figures[key] for key in FIGURES},
                    "seconds": seconds,
                    "texts_embedded": None if profile is None else profile.encoded_,
                }
                entry["variants"].append(variant)
                print(summary_line(world, variant), flush=True)
            out["worlds"][world] = entry
    return out


def summary_line(world: str, variant: dict[str, Any]) -> str:
    from adaptrec.analysis.text import fmt

    f = variant["figures"]
    return (
        f"{world:10s} w={variant['weight']:<4g} share {fmt(f['share_of_oracle'])}  "
        f"plateau {fmt(f['plateau'], 2)}  to plateau {fmt(f['time_to_plateau'], 0)}  "
        f"recovery {fmt(f['recovery_to_plateau'], 0)}  CTR {fmt(f['ctr'])}  "
        f"{variant['seconds']:.0f} s, {variant['texts_embedded']} texts embedded"
    )


def main(argv: list[str] | None = None) -> int:
    from adaptrec.core.config import RunConfig, default_run_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    parser.add_argument("--cache", type=Path, help="embedding cache (default ~/.cache/adaptrec)")
    parser.add_argument("--smoke", action="store_true", help="hashing encoder, 30 users x 40")
    parser.add_argument("--no-movielens", action="store_true", help="the default run only")
    args = parser.parse_args(argv)
    if args.smoke:
        small = default_run_config(30, 40, seed=args.seed, encoder="hashing", window=8)
        small = dataclasses.replace(small, bootstrap_resamples=200)
        worlds = {"default": small}
    else:
        base = default_run_config(400, 300, seed=args.seed)
        worlds = {"default": base}
        if not args.no_movielens:
            worlds["movielens"] = RunConfig.from_dict({**base.to_dict(), "data": MOVIELENS})
    record = measure(worlds, args.cache)
    if args.json is not None:
        from adaptrec.core.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
