"""``adaptrec run`` as a function: every agent of a config on the same users, into a
resumable run folder, then the report.

The parts live in their own modules: :mod:`adaptrec.world` (catalog and users from the
config), :mod:`adaptrec.rollout` (the step loop and shards), :mod:`adaptrec.run_folder`
(resumable folders) and :mod:`adaptrec.report`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from adaptrec.core.config import RunConfig
from adaptrec.core.validation import check_slate_fits
from adaptrec.rollout import ProgressCallback, ShardRunner, run_agent, torch_threads
from adaptrec.run_folder import default_out_dir, prepare_run_dir
from adaptrec.timing import NO_CLOCK
from adaptrec.world import build_catalog

__all__ = ["default_out_dir", "run_experiment"]


def run_experiment(
    config: RunConfig,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    on_event: Callable[[str], None] | None = None,
    shard_runner: ShardRunner | None = None,
    clock=NO_CLOCK,
    live_dir: str | os.PathLike[str] | None = None,
) -> dict:
    """Run every agent of ``config`` on the same users, then build the report.

    Resumable: agents whose complete log is already in ``out_dir`` are not run again. Returns
    the summary dict (also written to ``out_dir/summary.json``). ``clock``
    (:class:`adaptrec.timing.StageClock`) adds up where the time goes. ``live_dir``: write
    each agent's learning there as TensorBoard scalars while it runs (:mod:`adaptrec.live`).
    """
    from adaptrec.agents.registry import check_known
    from adaptrec.core.encoders import make_encoder
    from adaptrec.report import build_report

    say = on_event or (lambda message: None)
    for name in config.agents:  # an unknown name fails before any output
        check_known(name)
    if config.source.kind == "movielens":  # a wrong directory fails before any output
        from adaptrec.data.movielens import DataFormatError, detect_format

        try:
            detect_format(config.source.path)
        except DataFormatError as err:
            raise DataFormatError(f"data {config.data!r}: {err}") from err
    if config.source.kind == "coat":
        from adaptrec.data.coat import load_coat

        load_coat(config.source.path)
    done = prepare_run_dir(config, out_dir, overwrite)
    if done:
        say(f"continuing: {', '.join(done)} already finished in {out_dir}")
    todo = [name for name in config.agents if name not in done]
    if not todo:
        return build_report(out_dir)
    with clock("world"):
        catalog = build_catalog(config, cache_dir, say)
        check_slate_fits(config.env.slate_size, catalog.n_items)
        encoder = make_encoder(config.encoder, cache_dir)
        say(f"encoding {catalog.n_items} item texts with {config.encoder}")
        with torch_threads(config.torch_threads):  # the vectors, too, are the config's
            vectors = encoder.encode(list(catalog.texts))
    arrays: dict[str, dict] = {}  # each agent's per-user arrays, computed by its shards
    for name in todo:
        run_agent(
            config, name, catalog, vectors, out_dir, progress, shard_runner, arrays, clock,
            live_dir,
        )  # fmt: skip
    return build_report(out_dir, arrays, clock)
