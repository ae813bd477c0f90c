"""How long idle OpenMP threads spin before they sleep, set before the runtime loads.

libgomp (the OpenMP runtime of numba's parallel kernels and of torch) lets a thread that has
finished its share of a parallel region spin 300,000 iterations before it sleeps. On a quiet
machine that saves a wake-up; with another process on the cores it is the collapse issue 16
measured: a spinning team member holds the core that the member still working (or the next
parallel region) needs, until the scheduler's time slice ends. Measured with
``python -m benchmarks`` beside one busy-loop process (2 cores, three quiet-started runs each):
one user's observe + act + step + update p99 91-96 ms with the default spin, 7.2-7.9 ms with
10,000 spins; the B=4,096 env 2.4-3.6x slower than quiet, 1.9-2.0x with 10,000. Quiet, that
p99 moves from 2.2-2.3 to 2.8-4.8 ms and the env's throughput stays within run-to-run spread.

libgomp reads the setting once, when it loads, so it takes effect for runtimes loaded after
``import adaptrec`` (numba's loads at the first parallel kernel; torch's at ``import torch``).
A user's own ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

SPIN_COUNT = "10000"
"""Spins of an idle OpenMP thread before it sleeps (libgomp's default: 300,000)."""


def limit_spinning(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set ``GOMP_SPINCOUNT`` to :data:`SPIN_COUNT` unless the user chose a wait policy."""
    if "GOMP_SPINCOUNT" not in environ and "OMP_WAIT_POLICY" not in environ:
        environ["GOMP_SPINCOUNT"] = SPIN_COUNT
