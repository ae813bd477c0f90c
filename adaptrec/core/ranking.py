"""Ranking rules every part shares: batched cosine, the fused score and top-k, in plain numpy.

Conventions shared by the whole ranking path (the agents, the simulator's oracle and the
compiled kernels, which are tested against these functions):

* a zero vector has cosine 0 with everything (never NaN), so an unknown user ranks by P alone;
* ``fuse(cos, p) = cos * p``: for cos > 0 higher P ranks higher; for cos < 0 higher P makes the
  score *more* negative (the predictor amplifies the dislike), and every negative-cosine item
  ranks below every item with cos > 0 and P > 0;
* ties in a score are broken by the lower item id, so rankings are deterministic.

This module imports neither torch nor numba, so the simulator can use it without loading them.
"""

from __future__ import annotations

import numpy as np

from adaptrec.core.validation import check_array, check_int


def cosine(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Cosine similarity of each user with each item.

    Args:
        users: ``(B, d)`` float.
        items: ``(N, d)`` float.

    Returns:
        ``(B, N)`` float32 in [-1, 1]; 0 where either vector is zero.
    """
    check_array("users", users, shape=(None, None), kind="f", finite=True)
    check_array("items", items, shape=(None, users.shape[1]), kind="f", finite=True)
    return _cosine(users, items)


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 with each row (last axis) scaled to unit L2 norm; zero rows stay 0."""
    x = np.asarray(x, dtype=np.float32)
    # Scale by the max first so huge or tiny norms neither overflow nor underflow float32.
    scale = np.abs(x).max(axis=-1, keepdims=True)
    x = x / np.where(scale > 0, scale, 1.0)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def _cosine(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    out = normalise_rows(users) @ normalise_rows(items).T
    return np.clip(out, -1.0, 1.0, out=out)


def fuse(cos: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The seed recommender's score ``cos(u, v) * P(y | x)``, elementwise (same shapes).

    NaN or inf in either input raises ``ValueError`` rather than being ranked.
    """
    check_array("cos", np.asarray(cos), kind="f", finite=True)
    check_array("p", np.asarray(p), kind="f", finite=True)
    return cos * p


def top_k(scores: np.ndarray, k: int, *, validate: bool = True) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first, ties to the lower index.

    Args:
        scores: ``(B, N)`` float, finite (NaN/inf raise ``ValueError``).
        k: ``1 <= k <= N``.
        validate: check ``scores`` and ``k`` (an O(B N) scan); hot paths whose scores are
            finite by construction pass False.

    Returns:
        ``(B, k)`` int64 column indices.
    """
    if validate:
        check_array("scores", scores, shape=(None, None), kind="f", finite=True)
        check_int("k", k, low=1, high=scores.shape[1])
    if k == scores.shape[1]:
        return np.argsort(-scores, axis=1, kind="stable")
    chosen, values = top_k_set(scores, k)
    order = np.lexsort((chosen, -values), axis=1)  # by score descending, then index ascending
    return np.take_along_axis(chosen, order, axis=1)


def top_k_items(scores: np.ndarray, item_ids: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best candidates' item ids per row, best first, ties to the lower *item id*.

    Unlike :func:`top_k`, the result does not depend on the order candidates are listed in.

    Args:
        scores: ``(B, C)`` float, finite.
        item_ids: ``(B, C)`` int, distinct within a row.
        k: ``1 <= k <= C``.

    Returns:
        ``(B, k)`` int64 item ids.
    """
    check_array("scores", scores, shape=(None, None), kind="f", finite=True)
    check_array("item_ids", item_ids, shape=scores.shape, kind="iu")
    check_int("k", k, low=1, high=scores.shape[1])
    order = np.argsort(item_ids, axis=1, kind="stable")
    ids = np.take_along_axis(item_ids, order, axis=1).astype(np.int64)
    if (ids[:, 1:] == ids[:, :-1]).any():
        raise ValueError("item_ids must be distinct within each row, got a repeated id")
    columns = top_k(np.take_along_axis(scores, order, axis=1), k, validate=False)
    return np.take_along_axis(ids, columns, axis=1)


def top_k_set(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top-k columns per row as a set (any order) and their scores: ``(B, k)`` each.

    Exactly the set :func:`top_k` returns: argpartition finds a top-k set, which is only
    ambiguous when items tied with the k-th score straddle the cut; those rows fall back to a
    stable full sort (ties to the lower index).
    """
    n = scores.shape[1]
    chosen = np.argpartition(scores, n - k, axis=1)[:, n - k :]
    values = np.take_along_axis(scores, chosen, axis=1)
    straddle = (scores >= values.min(axis=1, keepdims=True)).sum(axis=1) > k
    if straddle.any():
        rows = np.nonzero(straddle)[0]
        chosen[rows] = np.argsort(-scores[rows], axis=1, kind="stable")[:, :k]
        values[rows] = np.take_along_axis(scores[rows], chosen[rows], axis=1)
    return chosen, values
