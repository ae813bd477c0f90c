"""Where a run's wall time goes: a clock that adds up seconds per stage.

``adaptrec run`` passes none (a no-op); ``python -m benchmarks --split USERS`` passes a
:class:`StageClock` through the runner and reads how long simulating, the agents, writing the
logs, the analysis and the report took. Stages: ``world`` (catalog, calibration, item
vectors), ``simulate`` (observations, the users' step, resets), ``agent`` (act and update),
``log`` (rows, Parquet), ``analysis`` (per-user arrays, every figure), ``report`` (plots,
report.md, summary.json).
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator


class StageClock:
    """Seconds per stage, summed over every ``with clock("stage"):`` block."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


class _NoClock:
    def __call__(self, stage: str) -> contextlib.nullcontext:
        return contextlib.nullcontext()


NO_CLOCK = _NoClock()
"""A clock that times nothing (the default everywhere)."""
