"""Seeding: one root seed, one independent stream per (component, user).

Streams are derived with ``numpy.random.SeedSequence(root, spawn_key=(component, user))``, so
user 17's stream is the same whether the run simulates 1, 400 or 4,096 users, and on any
worker. Nothing here touches numpy's, torch's or Python's global random state.

Per-step draws in the batched kernels use a *counter-based* generator (:func:`uniforms`): a
64-bit key per user and a counter (step, lane) are hashed to a uniform. That is what lets a batch
of users step together in numpy while each user's draws stay exactly those it would get alone.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Component(IntEnum):
    """Spawn-key namespaces; append only (changing a value changes every run's streams)."""

    CATALOG = 0
    USER_INIT = 1
    USER_STEP = 2
    AGENT = 3
    AGENT_USER = 4
    REPORT = 5
    POPULATION = 6
    CALIBRATION = 7
    PRIVACY = 8


def seed_sequence(root_seed: int, component: Component, *ids: int) -> np.random.SeedSequence:
    """The seed sequence of ``component`` for the given ids (e.g. a user id)."""
    return np.random.SeedSequence(int(root_seed), spawn_key=(int(component), *map(int, ids)))


def generator(root_seed: int, component: Component, *ids: int) -> np.random.Generator:
    """A ``numpy.random.Generator`` (PCG64) on the stream of ``component`` and ``ids``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(root_seed, component, *ids)))


def user_keys(
    root_seed: int, component: Component, user_ids: np.ndarray, *prefix: int
) -> np.ndarray:
    """One 64-bit counter-RNG key per user, shape ``(n,)`` uint64, from each user's own stream
    (spawn key ``(component, *prefix, user)``; ``prefix`` separates e.g. agents)."""
    keys = np.empty(len(user_ids), dtype=np.uint64)
    for row, user in enumerate(np.asarray(user_ids, dtype=np.int64)):
        sequence = seed_sequence(root_seed, component, *prefix, int(user))
        keys[row] = sequence.generate_state(1, np.uint64)[0]
    return keys


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    # SplitMix64's finaliser: a bijective avalanche mix of 64-bit words (uint64 wraps by design).
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def uniforms(keys: np.ndarray, counter: np.ndarray, lane: int, n: int) -> np.ndarray:
    """Counter-based uniforms in [0, 1): shape ``(len(keys), n)`` float64.

    Draw ``j`` of user ``b`` is a hash of ``(keys[b], counter[b], lane, j)``; the same inputs
    always give the same number, independent of the batch it is computed in. ``counter`` is
    typically the user's step (shape ``(B,)`` int); ``lane`` separates purposes (clicks,
    examination, dwell, exploration, ...) within a step.
    """
    keys = np.asarray(keys, dtype=np.uint64)[:, None]
    counter = np.asarray(counter, dtype=np.uint64)[:, None]
    slot = np.arange(n, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        x = _mix(keys ^ _mix(counter * _GOLDEN + np.uint64(lane)))
        x = _mix(x + (slot + np.uint64(1)) * _GOLDEN)
    # Top 53 bits -> a double in [0, 1), as numpy's own generators do.
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
