"""Item features for linear user models: whitened principal components of item vectors."""

from __future__ import annotations

import numpy as np


def principal_basis(item_vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The whitened principal directions of the item vectors.

    Args:
        item_vectors: ``(N, d)`` float item vectors.
        dim: number of directions kept (at most the rank of the centred vectors).

    Returns:
        ``features`` ``(N, dim + 1)`` float64 (the centred vectors in those directions, each of
        unit variance, then a constant 1) and ``basis`` ``(d, dim)`` float64 with
        ``features[:, :dim] = (item_vectors - mean) @ basis``.
    """
    centred = np.asarray(item_vectors, dtype=np.float64)
    centred = centred - centred.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    # Directions the items do not span (7 items span 6) are rounding noise; scaled to unit
    # variance they would be ~1e16 times larger and differ from one CPU to the next.
    dim = max(1, min(dim, int((singular > 1e-6 * singular[0]).sum())))
    # Fix each component's sign (SVD's is arbitrary) so features are reproducible everywhere.
    vt = vt[:dim] * np.where(vt[:dim, :1] < 0, -1.0, 1.0)
    projected = centred @ vt.T
    scale = projected.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    basis = vt.T / scale
    features = np.hstack([projected / scale, np.ones((len(projected), 1))])
    return features, basis
