"""Large float32 matrix products on all cores without BLAS and torch threads fighting.

numpy's BLAS (OpenBLAS) keeps its own thread pool, whose threads spin after each call; so do
torch's OpenMP threads. On a small machine, alternating numpy and torch calls made each wait for
the other's spinning threads (measured: an agent step 2-3x slower). torch's own GEMM avoids
that but runs at ~80% of OpenBLAS's rate here. :func:`matmul_into` gets both: it splits the
rows over a few Python threads, each running single-threaded BLAS (numpy releases the GIL), so
no BLAS pool is left spinning.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS numba's np.dot calls, so the controller sees it)
import torch
from threadpoolctl import ThreadpoolController

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()
_controller: ThreadpoolController | None = None


def _blas_controller() -> ThreadpoolController:
    # Made once: threadpool_limits() inspects every loaded library on each call (~0.5 ms,
    # a tenth of the single-user latency budget); the controller's limit() takes ~10 us.
    global _controller
    with _lock:
        if _controller is None:
            _controller = ThreadpoolController()
        return _controller


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="adaptrec-gemm")
            _pool_size = workers
        return _pool


def single_threaded_blas():
    """Context manager: every loaded BLAS runs single-threaded inside it (for BLAS calls made
    from compiled code that is already parallel over users)."""
    return _blas_controller().limit(limits=1, user_api="blas")


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[:] = a @ b`` with ``a`` ``(M, K)``, ``b`` ``(K, N)``, ``out`` ``(M, N)`` (float32).

    Rows are split over ``torch.get_num_threads()`` workers (the process's chosen compute
    parallelism, e.g. 1 inside a Ray worker), each with BLAS limited to one thread. Each output
    element is the same dot product whatever the split, up to the BLAS kernel's blocking.
    """
    workers = max(1, min(torch.get_num_threads(), len(a) // 64))
    with single_threaded_blas():
        if workers == 1:
            np.matmul(a, b, out=out)
            return out
        bounds = np.linspace(0, len(a), workers + 1).astype(int)
        parts = [slice(lo, hi) for lo, hi in itertools.pairwise(bounds)]
        for done in [
            _executor(workers).submit(np.matmul, a[part], b, out=out[part]) for part in parts
        ]:
            done.result()
    return out
