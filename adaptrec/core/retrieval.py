"""Exact top-C retrieval from a ``(B, N)`` score matrix (numba, parallel over rows).

The first stage of the seed agent keeps, per user, the C items of highest cosine. numpy's
``argpartition`` plus a check for ties at the cut cost about as much as the cosine product
itself at B=1,024, N=10,000 (28 ms); this kernel returns the same set in about 8 ms.

Per row it estimates a threshold from a histogram of a strided sample (a value that about
1.5 C of the N items should reach), collects the items at or above it, and selects the exact
top C of those with a size-C heap. Any threshold that at least C items reach gives the exact
answer: the C best all lie at or above it. If fewer than C items reach the threshold, the heap
scans the whole row. The heap's root is then the C-th best (score, index), and one pass over
the collected indices (ascending) lists the kept ones in order, without a sort.

Either way the result is the exact top-C set under the ranking "higher score first, ties to
the lower index": items are offered to the heap in ascending index order and enter only with a
strictly higher score than the worst kept, so among equal scores the lower indices stay.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from adaptrec.core.validation import check_array, check_int


@nb.njit(inline="always")
def _clip(x):
    return min(max(x, np.float32(-1.0)), np.float32(1.0))


@nb.njit(inline="always")
def _sift_down(values, items, size, position):
    """Restore the heap below ``position``: the root is the worst kept entry (lowest value;
    among equal values the highest index)."""
    value, item = values[position], items[position]
    while True:
        child = 2 * position + 1
        if child >= size:
            break
        other = child + 1
        if other < size and (
            values[other] < values[child]
            or (values[other] == values[child] and items[other] > items[child])
        ):
            child = other
        if values[child] < value or (values[child] == value and items[child] > item):
            values[position], items[position] = values[child], items[child]
            position = child
        else:
            break
    values[position], items[position] = value, item


@nb.njit(inline="always")
def _select(row, index, count, c, clip, values, items):
    """The exact top ``c`` of ``row[index[:count]]`` (``index`` ascending, ``count >= c``)
    into the heap ``values``/``items``."""
    for m in range(c):
        values[m] = _clip(row[index[m]]) if clip else row[index[m]]
        items[m] = index[m]
    for position in range(c // 2 - 1, -1, -1):
        _sift_down(values, items, c, position)
    worst = values[0]
    for m in range(c, count):
        value = _clip(row[index[m]]) if clip else row[index[m]]
        if value > worst:  # equal scores never enter: the kept ones have lower indices
            values[0], items[0] = value, index[m]
            _sift_down(values, items, c, 0)
            worst = values[0]


_BINS = 512  # histogram bins of the sampled scores


@nb.njit(cache=True, parallel=True)
def _top_k_ids(scores, c, clip):
    b, n = scores.shape
    out = np.empty((b, c), dtype=np.int64)
    stride = max(1, n // (8 * c))  # about 8c sampled scores
    rank = max(1, (3 * c // 2) // stride)  # about 1.5c items should beat this sampled rank
    chunks = min(b, 64)
    for chunk in nb.prange(chunks):
        values = np.empty(c, dtype=scores.dtype)
        items = np.empty(c, dtype=np.int64)
        index = np.empty(n, dtype=np.int64)
        sample = np.empty((n + stride - 1) // stride, dtype=np.float64)
        counts = np.zeros(_BINS, dtype=np.int64)
        for r in range(chunk * b // chunks, (chunk + 1) * b // chunks):
            row = scores[r]
            count = 0
            if rank < c and (n + stride - 1) // stride >= rank:
                # Threshold: a histogram of a strided sample, read from the top until it
                # holds `rank` samples (any threshold is exact as long as >= c items reach it).
                m = 0
                low, high = np.inf, -np.inf
                for i in range(0, n, stride):
                    value = _clip(row[i]) if clip else row[i]
                    sample[m] = value
                    low, high = min(low, value), max(high, value)
                    m += 1
                width = (high - low) / _BINS
                if width > 0:
                    counts[:] = 0
                    for j in range(m):
                        counts[min(int((sample[j] - low) / width), _BINS - 1)] += 1
                    total = 0
                    bin_ = _BINS - 1
                    while bin_ > 0:
                        total += counts[bin_]
                        if total >= rank:
                            break
                        bin_ -= 1
                    threshold = low + bin_ * width
                else:
                    threshold = low
                for i in range(n):  # branch-free compaction of the items at or above it
                    index[count] = i
                    value = _clip(row[i]) if clip else row[i]
                    count += value >= threshold
            if count < c:
                for i in range(n):
                    index[i] = i
                count = n
            _select(row, index, count, c, clip, values, items)
            # The heap's root is the c-th best (value, id): the kept items are exactly those
            # ranked at or above it, and a pass over the ascending index lists them in order.
            worst_value, worst_item = values[0], items[0]
            kept = 0
            for m in range(count):
                i = index[m]
                value = _clip(row[i]) if clip else row[i]
                if value > worst_value or (value == worst_value and i <= worst_item):
                    out[r, kept] = i
                    kept += 1
    return out


def top_k_ids(scores: np.ndarray, c: int, clip: bool = False) -> np.ndarray:
    """Per row, the indices of the ``c`` highest scores, as a set in ascending index order.

    Args:
        scores: ``(B, N)`` float32 or float64, finite.
        c: ``1 <= c <= N``.
        clip: rank ``clip(scores, -1, 1)`` instead (cosines with rounding error past +-1),
            without a clipped copy of the matrix.

    Returns:
        ``(B, c)`` int64, each row sorted ascending: the same set as the first ``c`` of a
        stable sort by descending score (ties to the lower index).
    """
    check_array("scores", scores, shape=(None, None), kind="f", finite=True)
    check_int("c", c, low=1, high=scores.shape[1])
    return _top_k_ids(np.ascontiguousarray(scores), c, clip)
