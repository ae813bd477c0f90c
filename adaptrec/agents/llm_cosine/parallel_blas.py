"""Large float32 matrix products on all cores without BLAS and OpenMP threads fighting.

numpy's BLAS (OpenBLAS) keeps its own thread pool, whose threads spin after each call; so do the
OpenMP threads that torch and numba share. On a small machine, alternating numpy and torch
calls made each wait for the other's spinning threads (measured: an agent step 2-3x slower).
torch's own GEMM avoids that but runs at ~80% of OpenBLAS's rate here. :func:`matmul_into` gets
both: it splits the rows over the OpenMP team (numba ``prange``), each part a single-threaded
BLAS product, so the threads that run it are the ones already awake from the last torch or
numba call, and no BLAS pool is left spinning (measured in the agent's loop: 35 ms against 41
ms for numpy's threaded BLAS from a Python thread pool, at B=1,024, N=10,000, d=384).
"""

from __future__ import annotations

import threading

import numba as nb
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba's np.dot calls; the controller must see it)
import torch
from threadpoolctl import ThreadpoolController

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


def single_threaded_blas():
    """Context manager: every loaded BLAS runs single-threaded inside it (for BLAS calls made
    from compiled code that is already parallel over users)."""
    return _blas_controller().limit(limits=1, user_api="blas")


@nb.njit(cache=True, parallel=True)
def _matmul_rows(a, b, out, parts):
    m = a.shape[0]
    for part in nb.prange(parts):
        low, high = part * m // parts, (part + 1) * m // parts
        np.dot(a[low:high], b, out[low:high])


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[:] = a @ b`` for float32 ``a`` ``(M, K)``, ``b`` ``(K, N)`` (C- or F-ordered, e.g.
    the transpose of a C-ordered matrix) and C-ordered ``out`` ``(M, N)``; returns ``out``.

    Rows are split into ``torch.get_num_threads()`` parts (at least 64 rows each), the
    compute parallelism a run's config sets, run on numba's threads. The split, not the
    number of threads that run it, decides the BLAS calls, so a config's results do not
    depend on the machine's core count.
    """
    a = np.ascontiguousarray(a, dtype=np.float32)
    if b.dtype != np.float32 or not (b.flags.c_contiguous or b.flags.f_contiguous):
        b = np.ascontiguousarray(b, dtype=np.float32)
    parts = max(1, min(torch.get_num_threads(), len(a) // 64))
    with single_threaded_blas():
        _matmul_rows(a, b, out, parts)
    return out


@nb.njit(cache=True, parallel=True)
def _gram_parts(a, b, partial, parts):
    k = a.shape[0]
    for part in nb.prange(parts):
        low, high = part * k // parts, (part + 1) * k // parts
        np.dot(a[low:high].T, b[low:high], partial[part])


def transposed_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a.T @ b`` for float32 ``a`` ``(K, M)`` and ``b`` ``(K, N)`` with a long ``K`` (e.g. a
    gradient summed over a catalog): ``(M, N)`` float32.

    ``K`` is split into ``torch.get_num_threads()`` parts (at least 256 rows each), each a
    single-threaded BLAS product on numba's threads, and the partial products are added in
    part order, so the result depends on the config's thread count only.
    """
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    parts = max(1, min(torch.get_num_threads(), len(a) // 256))
    partial = np.empty((parts, a.shape[1], b.shape[1]), dtype=np.float32)
    with single_threaded_blas():
        _gram_parts(a, b, partial, parts)
    out = partial[0].copy()
    for part in range(1, parts):
        out += partial[part]
    return out
