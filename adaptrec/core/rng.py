"""Seeding: one root seed, one independent stream per (component, user).

Streams are derived with ``numpy.random.SeedSequence(root, spawn_key=(component, user))``, so
user 17's stream is the same whether the run simulates 1, 400 or 4,096 users, and on any
worker. Nothing here touches numpy's, torch's or Python's global random state.

Per-step draws in the batched kernels use a *counter-based* generator (:func:`uniforms`): a
64-bit key per user and a counter (step, lane) are hashed to a uniform. That is what lets a batch
of users step together in numpy while each user's draws stay exactly those it would get alone.
"""

from __future__ import annotations

from collections.abc import Iterator
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


# numpy's SeedSequence (numpy/random/bit_generator.pyx), whose constants and order of
# operations are part of every stream's definition: a run of a million users made a million
# SeedSequence objects in Python (~10 us each, most of a user's reset), so the users' states
# are computed here for all users at once, as uint32 columns, with the same bits (tested
# against numpy for small and large seeds and ids).
_POOL_SIZE = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_MASK32 = 0xFFFFFFFF


def _words(value: int) -> list[int]:
    # SeedSequence's integer to uint32 words, least significant first ([0] for 0).
    if value < 0:
        raise ValueError(f"seeds and ids must be >= 0, got {value}")
    words = [value & _MASK32]
    value >>= 32
    while value:
        words.append(value & _MASK32)
        value >>= 32
    return words


class _HashMix:
    """SeedSequence's ``hashmix`` on uint32 columns; its running constant does not depend on
    the data, so one Python integer serves every user."""

    def __init__(self, constant: int, multiplier: int) -> None:
        self.constant, self.multiplier = constant, multiplier

    def __call__(self, value: np.ndarray) -> np.ndarray:
        value = value ^ np.uint32(self.constant)
        self.constant = (self.constant * self.multiplier) & _MASK32
        value = value * np.uint32(self.constant)
        return value ^ (value >> np.uint32(16))


def _seed_mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = _MIX_MULT_L * x - _MIX_MULT_R * y
    return result ^ (result >> np.uint32(16))


def _pools(entropy: np.ndarray) -> np.ndarray:
    """SeedSequence's entropy pools of ``(n, L)`` uint32 entropy rows: ``(n, 4)`` uint32."""
    hashmix = _HashMix(_INIT_A, _MULT_A)
    zeros = np.zeros(len(entropy), dtype=np.uint32)
    mixer = [hashmix(entropy[:, i] if i < entropy.shape[1] else zeros) for i in range(_POOL_SIZE)]
    for source in range(_POOL_SIZE):
        for target in range(_POOL_SIZE):
            if source != target:
                mixer[target] = _seed_mix(mixer[target], hashmix(mixer[source]))
    for source in range(_POOL_SIZE, entropy.shape[1]):
        for target in range(_POOL_SIZE):
            mixer[target] = _seed_mix(mixer[target], hashmix(entropy[:, source]))
    return np.stack(mixer, axis=1)


def spawn_states(
    root_seed: int, component: Component, user_ids: np.ndarray, n_words: int, *prefix: int
) -> np.ndarray:
    """``(n, n_words)`` uint64: for each user, ``SeedSequence(root_seed, spawn_key=(component,
    *prefix, user)).generate_state(n_words, np.uint64)`` (the stream of :func:`seed_sequence`),
    computed for all users at once."""
    user_ids = np.asarray(user_ids, dtype=np.int64).reshape(-1)
    if user_ids.size and user_ids.min() < 0:
        raise ValueError(f"user_ids must be >= 0, got {int(user_ids.min())}")
    run = _words(int(root_seed))
    run += [0] * max(0, _POOL_SIZE - len(run))  # a spawn key pads the run entropy to the pool
    fixed = run + [w for part in (int(component), *map(int, prefix)) for w in _words(part)]
    out = np.empty((len(user_ids), n_words), dtype=np.uint64)
    # An id of 2**32 or more is two words: users are mixed in groups of one entropy length.
    for wide in (False, True):
        rows = np.flatnonzero((user_ids >= 2**32) == wide)
        if not rows.size:
            continue
        ids = user_ids[rows].astype(np.uint64)
        columns = [np.full(len(rows), w, dtype=np.uint32) for w in fixed]
        columns.append((ids & np.uint64(_MASK32)).astype(np.uint32))
        if wide:
            columns.append((ids >> np.uint64(32)).astype(np.uint32))
        pool = _pools(np.stack(columns, axis=1))
        hashmix = _HashMix(_INIT_B, _MULT_B)
        state = np.empty((len(rows), 2 * n_words), dtype=np.uint32)
        for word in range(2 * n_words):  # generate_state's draws, cycling through the pool
            value = pool[:, word % _POOL_SIZE] ^ np.uint32(hashmix.constant)
            hashmix.constant = (hashmix.constant * _MULT_B) & _MASK32
            value = value * np.uint32(hashmix.constant)
            state[:, word] = value ^ (value >> np.uint32(16))
        # numpy views the uint32 words as uint64: the first of each pair is the low half.
        low, high = state[:, 0::2].astype(np.uint64), state[:, 1::2].astype(np.uint64)
        out[rows] = low | (high << np.uint64(32))
    return out


def user_keys(
    root_seed: int, component: Component, user_ids: np.ndarray, *prefix: int
) -> np.ndarray:
    """One 64-bit counter-RNG key per user, shape ``(n,)`` uint64, from each user's own stream
    (spawn key ``(component, *prefix, user)``; ``prefix`` separates e.g. agents)."""
    return spawn_states(root_seed, component, user_ids, 1, *prefix)[:, 0]


_PCG_MULTIPLIER = (2549297995355413924 << 64) | 4865540595714422341
_MASK128 = (1 << 128) - 1


def user_generators(
    root_seed: int, component: Component, user_ids: np.ndarray
) -> Iterator[np.random.Generator]:
    """For each user in turn, a generator in the state of ``generator(root_seed, component,
    user)``: one ``Generator`` whose PCG64 state is set per user (~1 us, against ~18 us to
    build one from a SeedSequence). The same object is yielded every time, so draw from it
    before taking the next."""
    seeds = spawn_states(root_seed, component, user_ids, 4)
    bit_generator = np.random.PCG64()
    rng = np.random.Generator(bit_generator)
    for s0, s1, s2, s3 in seeds.tolist():
        # PCG64's seeding from four words (pcg64_set_seed: pcg_setseq_128_srandom_r).
        initial, sequence = (s0 << 64) | s1, (s2 << 64) | s3
        increment = ((sequence << 1) | 1) & _MASK128
        state = (increment + initial) & _MASK128  # the step from 0, then the initial state
        state = (state * _PCG_MULTIPLIER + increment) & _MASK128
        bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": state, "inc": increment},
            "has_uint32": 0,
            "uinteger": 0,
        }
        yield rng


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
