"""A changing catalog: when each item arrives and expires, and which items are live at a step.

Item ids are in order of arrival and every item stays live equally long (``lifetime`` steps,
0 = forever), so the items live at step ``t`` are always one range of ids ``[lo(t), hi(t))``:
``hi`` counts the items arrived by ``t``, ``lo`` those expired by ``t``. Everything that must
agree on the live set (the simulator's oracle and slate checks, every agent, the metrics)
computes it here, from the run config alone, so the step logs still suffice for the report.
A fixed catalog is the range ``[0, N)`` at every step.
"""

from __future__ import annotations

import numpy as np

from adaptrec.core.config import ArrivalConfig

FOREVER = np.iinfo(np.int64).max // 4
"""Expiry step of an item that never expires."""


def arrival_of(arrivals: ArrivalConfig, items: np.ndarray) -> np.ndarray:
    """The step at which each of ``items`` (int ids, any shape) becomes live (<= 0: there at
    step 0): ``floor((i - initial) / rate) + 1``; 0 for a fixed catalog."""
    items = np.asarray(items)
    if not arrivals.changes:
        return np.zeros(items.shape, dtype=np.int64)
    position = items.astype(np.float64) - arrivals.initial_items
    return (np.floor(position / arrivals.rate) + 1).astype(np.int64)


def arrival_steps(arrivals: ArrivalConfig, n_items: int) -> np.ndarray:
    """``(n_items,)`` int64: the step at which each item becomes live (:func:`arrival_of`)."""
    return arrival_of(arrivals, np.arange(n_items))


def expiry_steps(arrivals: ArrivalConfig, n_items: int) -> np.ndarray:
    """``(n_items,)`` int64: the first step at which each item is no longer live."""
    arrive = arrival_steps(arrivals, n_items)
    if not arrivals.lifetime:
        return np.full(n_items, FOREVER, dtype=np.int64)
    return arrive + arrivals.lifetime


def live_bounds(
    arrivals: ArrivalConfig, n_items: int, steps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)``, each shaped like ``steps`` (int64): the live items at each step are the
    ids ``lo <= i < hi``."""
    steps = np.asarray(steps, dtype=np.int64)
    if not arrivals.changes:
        return np.zeros(steps.shape, np.int64), np.full(steps.shape, n_items, np.int64)
    hi = np.searchsorted(arrival_steps(arrivals, n_items), steps, side="right")
    lo = np.searchsorted(expiry_steps(arrivals, n_items), steps, side="right")
    return lo.astype(np.int64), hi.astype(np.int64)


def live_table(arrivals: ArrivalConfig, n_items: int, n_steps: int) -> np.ndarray:
    """``(S, 2)`` int64 ``[lo, hi)`` of steps ``0..S-1``, where ``S = n_steps + 1`` (a step
    beyond the table uses its last row); ``(1, 2)`` = ``[[0, N]]`` for a fixed catalog."""
    if not arrivals.changes:
        return np.array([[0, n_items]], dtype=np.int64)
    lo, hi = live_bounds(arrivals, n_items, np.arange(n_steps + 1))
    return np.stack([lo, hi], axis=1)
