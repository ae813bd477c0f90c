"""The compiled per-user step kernel (numba): one user at a time, O(k) work per step.

Two ideas keep a step independent of the catalog size N:

* **Lazy fatigue.** Each user has a log-clock that falls by ``log(fatigue_decay)`` every step
  and by ``log(session_break_recovery)`` at a session end. An item stores its fatigue level and
  the user's clock when it was last touched, so its current fatigue is
  ``level * exp(clock_now - clock_then)``; a step touches only the k shown items.
* **Oracle by early exit.** Fatigue only lowers an item's score ``utility - w * fatigue``, so
  walking a user's items in order of decreasing *base* utility (a precomputed top-M list with
  the items' utilities) can stop as soon as the next base utility is below the k-th best score
  found; if the list runs out first, a full scan decides. The result is exactly the top-k (ties
  to the lower id). A flag per listed item says whether it was ever shown since the list was
  built, so the walk looks up fatigue only for those (measured at B=4,096 x 10,000 items with
  random slates: the lookups, each a cache miss, had halved the env's throughput).

Per-user state does not grow with the catalog (issue 16: it was a ``(B, N, 4)`` float64
buffer, 320 KB per user at 10,000 items):

* **Utility on the fly.** A shown item's base utility is ``item_term[i] + sum_t
  preference[b, t] * topics[i, t]``, summed topic by topic in order: the bits of
  :func:`utility_rows`, so of the dense utilities the model states (tested).
* **Fatigue in a per-user hash table** (open addressing, linear probing, no deletions between
  rebuilds): item, level and the clock when the level was set, for items shown recently. An
  absent item has fatigue 0. :func:`make_room` rebuilds a user's table before it would pass
  half full, keeping only the entries that still matter (:func:`_negligible`); the population
  doubles every user's capacity when that is not enough (``UserPopulation._make_room``).

Every loop is per user, so a user's numbers are identical alone or in any batch. The
counter-based uniforms are bit-identical to :func:`adaptrec.core.rng.uniforms`.

The loops over users (the ``_*_span`` functions and :func:`mark_top_shown`) are compiled
with ``_nrt=False``: no reference counting. Each ``users.table``-style field access binds a
new reference to an array, and numba counts it with an atomic increment and decrement through
a runtime call; LLVM removed only some of those pairs, so a step spent half its time
counting (measured at 10,000 users x 100 items, slate 2, one thread: 1.0 M user-steps/s,
2.8-3.2 M without counting). A span allocates nothing - its callers pass scratch space and
outputs in - so nothing needs counting: the callers hold every array alive for the call. The
per-user functions are inlined into the spans, so their accesses stay in one function that
LLVM optimises as a whole.

The ``prange`` bodies of the step and the make-room call a span; they do not inline per-user
code that reaches the state through ``users``. Inlined into the ``prange`` body,
``_rebuild_user``'s writes through ``users.table`` did not take effect (the parallel
make-room, used from 64 users, rebuilt nothing, so those tables never forgot and grew twice as
large; outputs were unaffected, the mechanism inside numba's parfor passes was not isolated).
The other parallel kernels (utilities, history, table copies) take plain arrays and inline
their per-user code. A test compares the parallel path's outputs and whole state, tables
included, with the serial path's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba as nb
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_ONE = np.uint64(1)
_TO_UNIT = 1.0 / 9007199254740992.0

LANE_EXAMINE, LANE_CLICK, LANE_DWELL, LANE_LEAVE = 0, 1, 2, 3
EMPTY = -1.0  # the item field of an unused slot of a fatigue table
ITEM, LEVEL, CLOCK = 0, 1, 2  # fields of a fatigue-table entry (and of a step's gathered state)


@nb.njit(inline="always")
def _mix(x):
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@nb.njit(inline="always")
def uniform(key, counter, lane, j):
    """The ``j``-th uniform of lane ``lane`` at ``counter`` for ``key`` (see rng.uniforms)."""
    x = _mix(key ^ _mix(np.uint64(counter) * _GOLDEN + np.uint64(lane)))
    x = _mix(x + (np.uint64(j) + _ONE) * _GOLDEN)
    return np.float64(x >> _S11) * _TO_UNIT


@nb.njit(cache=True)
def uniforms_kernel(keys, counters, lane, n):
    """numba twin of :func:`adaptrec.core.rng.uniforms` (for tests of bit-equality)."""
    out = np.empty((len(keys), n))
    for b in range(len(keys)):
        for j in range(n):
            out[b, j] = uniform(keys[b], counters[b], lane, j)
    return out


@nb.njit(inline="always")
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@nb.njit(inline="always")
def _fatigue(level, clock_at, clock):
    if level == 0.0:
        return 0.0
    return level * math.exp(clock - clock_at)


@nb.njit(inline="always")
def _insert(best_score, best_item, count, k, score, item):
    """Insert (score, item) into the first ``count`` entries, kept best first; returns count."""
    if count == k:
        last = best_score[k - 1]
        if not (score > last or (score == last and item < best_item[k - 1])):
            return count
        position = k - 1
    else:
        position = count
        count += 1
    while position > 0:
        prev = best_score[position - 1]
        if score > prev or (score == prev and item < best_item[position - 1]):
            best_score[position] = prev
            best_item[position] = best_item[position - 1]
            position -= 1
        else:
            break
    best_score[position] = score
    best_item[position] = item
    return count


@nb.njit(inline="always")
def _item_utility(b, item, preference, topic_rows, item_term):
    """Base utility of ``item`` for user row ``b``: the same operations in the same order as
    :func:`utility_rows` (item term, then topic by topic), so the same bits."""
    utility = item_term[item]
    for t in range(topic_rows.shape[1]):
        utility += preference[b, t] * topic_rows[item, t]
    return utility


@nb.njit(inline="always")
def _utility4(b, i0, i1, i2, i3, preference, topic_rows, item_term):
    """Base utilities of four items for user row ``b``, each summed in the order of
    :func:`_item_utility` (so the same bits), in four chains that the CPU overlaps: one
    item's sum is a chain of dependent additions (measured: computing a slate's utilities
    one item at a time, or through an array, took ~0.7 ms of a 2.3 ms step at B=4,096)."""
    u0, u1, u2, u3 = item_term[i0], item_term[i1], item_term[i2], item_term[i3]
    for t in range(topic_rows.shape[1]):
        taste = preference[b, t]
        u0 += taste * topic_rows[i0, t]
        u1 += taste * topic_rows[i1, t]
        u2 += taste * topic_rows[i2, t]
        u3 += taste * topic_rows[i3, t]
    return u0, u1, u2, u3


@nb.njit(inline="always")
def _utility2(b, i0, i1, preference, topic_rows, item_term):
    """Two items' base utilities in two overlapping chains (see :func:`_utility4`)."""
    u0, u1 = item_term[i0], item_term[i1]
    for t in range(topic_rows.shape[1]):
        taste = preference[b, t]
        u0 += taste * topic_rows[i0, t]
        u1 += taste * topic_rows[i1, t]
    return u0, u1


@nb.njit(inline="always")
def _slate_utilities(b, slate, preference, model, out):
    """Base utilities of the ``(k,)`` items of ``slate`` for user row ``b`` into ``out``:
    four at a time, then two, then one - never computing an item twice."""
    topic_rows, item_term = model.topic_rows, model.item_term
    k, s = len(slate), 0
    while s + 4 <= k:
        out[s], out[s + 1], out[s + 2], out[s + 3] = _utility4(
            b, slate[s], slate[s + 1], slate[s + 2], slate[s + 3], preference, topic_rows, item_term
        )
        s += 4
    if s + 2 <= k:
        out[s], out[s + 1] = _utility2(b, slate[s], slate[s + 1], preference, topic_rows, item_term)
        s += 2
    if s < k:
        out[s] = _item_utility(b, slate[s], preference, topic_rows, item_term)


@nb.njit(inline="always")
def _slot(table, b, item):
    """Slot of ``item`` in row ``b``'s fatigue table, or the empty slot where it would go.
    Capacity is a power of two and tables are never full, so the probe ends."""
    mask = table.shape[1] - 1
    slot = np.int64((np.uint64(item) * _GOLDEN) >> np.uint64(40)) & mask
    key = np.float64(item)
    while table[b, slot, ITEM] != EMPTY and table[b, slot, ITEM] != key:
        slot = (slot + 1) & mask
    return slot


@nb.njit(inline="always")
def _fatigue_of(users, b, item, clock):
    """Current fatigue of ``item`` for user row ``b`` (0 if the table holds no entry)."""
    table = users.table
    slot = _slot(table, b, item)
    if table[b, slot, ITEM] != item:
        return 0.0
    return _fatigue(table[b, slot, LEVEL], table[b, slot, CLOCK], clock)


@nb.njit(inline="always")
def _live(model, step):
    """``(lo, hi)``: the ids live at ``step`` are ``lo <= i < hi`` (the model's live table;
    a step beyond it uses its last row)."""
    row = min(step, model.live.shape[0] - 1)
    return model.live[row, 0], model.live[row, 1]


@nb.njit(inline="always")
def _oracle_user(b, users, model, clock, weight, best_score, best_item):
    """Top-k live items of ``utility - weight * fatigue`` for user row ``b`` (best first, ties
    to the lower id): the top list's walk, else a scan of the live items. The list holds the
    ``list_size`` items of highest base utility of a range of ids that covers every item live
    until it is rebuilt; items not live now are passed over."""
    k = len(best_score)
    order, top_utility = users.order, users.top_utility
    lo, hi = _live(model, users.step[b])
    count = 0
    decided = False
    for m in range(users.list_size[b]):
        base = top_utility[b, m]
        if count == k and base < best_score[k - 1]:
            decided = True  # every later item has base <= this one < the k-th best
            break
        item = order[b, m]
        if item < lo or item >= hi:
            continue
        score = base
        if users.top_shown[b, m]:  # else the table has no entry: skip the lookup
            score = base - weight * _fatigue_of(users, b, item, clock)
        count = _insert(best_score, best_item, count, k, score, item)
    if not decided and not users.list_full[b]:
        count = 0
        for item in range(lo, hi):
            base = _item_utility(b, item, users.preference, model.topic_rows, model.item_term)
            score = base - weight * _fatigue_of(users, b, item, clock)
            count = _insert(best_score, best_item, count, k, score, item)


@nb.njit(inline="always")
def _top_rank(users, b, item, utility):
    """Position of ``item`` (base utility ``utility``) in row ``b``'s top list, or -1: the
    count of listed utilities above it (a comparison loop the compiler vectorises; a binary
    search's comparisons are coin flips, each a likely mispredicted branch), then the tie rule
    (lower id first)."""
    top_utility, order = users.top_utility, users.order
    n = top_utility.shape[1]
    if utility < top_utility[b, n - 1]:
        return -1  # below the whole list: the usual case for a large catalog
    rank = 0
    for m in range(n):
        rank += top_utility[b, m] > utility
    while rank < n and top_utility[b, rank] == utility:
        if order[b, rank] == item:
            return rank
        rank += 1
    return -1


@nb.njit(cache=True, _nrt=False)
def mark_top_shown(rows, users):
    """Flag each top-list item of ``rows`` that has a fatigue entry (after a new list)."""
    for b in rows:
        for m in range(users.list_size[b]):
            slot = _slot(users.table, b, users.order[b, m])
            users.top_shown[b, m] = users.table[b, slot, ITEM] == users.order[b, m]


@nb.njit(cache=True, _nrt=False)
def _oracle_span(rows, users, model, weight, best_score, out):
    for j in range(len(rows)):
        b = rows[j]
        _oracle_user(b, users, model, users.clock[b], weight, best_score, out[j])


def oracle_slates(rows, users, model, weight, k) -> np.ndarray:
    """``(len(rows), k)`` int64 oracle slates of the given rows."""
    out = np.empty((len(rows), k), dtype=np.int64)
    _oracle_span(rows, users, model, weight, np.empty(k), out)
    return out


@nb.njit(cache=True)
def dense_rows(rows, users, model, weight):
    """``(3, len(rows), N)`` float64 base utility, fatigue and click probability once examined
    of every item, dense (for inspection and tests; steps never build it)."""
    n_items = model.item_term.shape[0]
    out = np.empty((3, len(rows), n_items))
    for j in range(len(rows)):
        b = rows[j]
        for i in range(n_items):
            utility = _item_utility(b, i, users.preference, model.topic_rows, model.item_term)
            fatigue = _fatigue_of(users, b, i, users.clock[b])
            out[0, j, i] = utility
            out[1, j, i] = fatigue
            out[2, j, i] = _sigmoid(utility - weight * fatigue)
    return out


@nb.njit(inline="always")
def _negligible(users, model, b, slot, weight):
    """Whether entry ``slot`` of row ``b``'s fatigue table can be forgotten: its current
    fatigue ``f`` leaves both its later uses unchanged in float64, ``f + 1.0 == 1.0`` (the
    level after a new exposure) and ``utility - weight * f == utility`` (the score and the
    click probability). Fatigue only falls and rounding is monotone, so every later ``f``
    passes too - at this base utility. The documented tolerance: a later drift could move the
    item's utility to within ~1e-16 of zero, where a forgotten ``f < 2**-53`` would have
    changed the last bit of a score."""
    table = users.table
    fatigue = _fatigue(table[b, slot, LEVEL], table[b, slot, CLOCK], users.clock[b])
    if fatigue + 1.0 != 1.0:  # the cheap test first: most entries stop here
        return False
    item = np.int64(table[b, slot, ITEM])
    utility = _item_utility(b, item, users.preference, model.topic_rows, model.item_term)
    return utility - weight * fatigue == utility


@nb.njit(inline="always")
def _rebuild_user(b, users, model, weight, kept):
    """Rebuild row ``b``'s fatigue table without its negligible entries (untouched if it has
    none). ``kept`` is ``(C, 3)`` scratch space."""
    table = users.table
    n_kept = 0
    for slot in range(table.shape[1]):
        if table[b, slot, ITEM] != EMPTY and not _negligible(users, model, b, slot, weight):
            for field in range(3):
                kept[n_kept, field] = table[b, slot, field]
            n_kept += 1
    if n_kept == users.table_count[b]:
        return
    for slot in range(table.shape[1]):
        table[b, slot, ITEM] = EMPTY
    for e in range(n_kept):
        slot = _slot(table, b, np.int64(kept[e, ITEM]))
        for field in range(3):
            table[b, slot, field] = kept[e, field]
    users.table_count[b] = n_kept


@nb.njit(cache=True, _nrt=False)
def _make_room_span(start, stop, rows, users, model, weight, limit, kept):
    for j in range(start, stop):
        if users.table_count[rows[j]] > limit:
            _rebuild_user(rows[j], users, model, weight, kept)


@nb.njit(cache=True, parallel=True)
def _make_room_parallel(rows, users, model, weight, limit):
    chunks = min(len(rows), 64)
    for chunk in nb.prange(chunks):
        kept = np.empty((users.table.shape[1], 3))
        start, stop = chunk * len(rows) // chunks, (chunk + 1) * len(rows) // chunks
        _make_room_span(start, stop, rows, users, model, weight, limit, kept)


@nb.njit(cache=True)
def _make_room_serial(rows, users, model, weight, limit):
    kept = np.empty((users.table.shape[1], 3))
    _make_room_span(0, len(rows), rows, users, model, weight, limit, kept)


def make_room(rows, users, model, weight, limit) -> int:
    """Rebuild the fatigue tables of those ``rows`` whose count exceeds ``limit``; returns the
    largest count of ``rows`` afterwards (the caller grows the tables if it is still over)."""
    big = len(rows) >= PARALLEL_MIN_USERS
    (_make_room_parallel if big else _make_room_serial)(rows, users, model, weight, limit)
    return int(users.table_count[rows].max(initial=0))


@nb.njit(inline="always")
def _copy_row(old, new, b):
    for slot in range(old.shape[1]):
        if old[b, slot, ITEM] != EMPTY:
            new_slot = _slot(new, b, np.int64(old[b, slot, ITEM]))
            for field in range(3):
                new[b, new_slot, field] = old[b, slot, field]


@nb.njit(cache=True, parallel=True)
def _copy_tables_parallel(old, new):
    for b in nb.prange(old.shape[0]):
        _copy_row(old, new, b)


@nb.njit(cache=True)
def _copy_tables_serial(old, new):
    for b in range(old.shape[0]):
        _copy_row(old, new, b)


def copy_tables(old: np.ndarray, new: np.ndarray) -> None:
    """Rehash every row's entries from the old tables (``(B, C, 3)``) into larger new ones
    (``(B, C', 3)``, all EMPTY)."""
    big = old.shape[0] >= PARALLEL_MIN_USERS
    (_copy_tables_parallel if big else _copy_tables_serial)(old, new)


@nb.njit(inline="always")
def _utility_user(b, preference, topic_columns, item_term, out):
    # Topic by topic in order, item by item: the same operations, in the same order, as
    # UserPopulation's numpy form (product rounded, then sum), so the same bits; in blocks of
    # items that stay in cache, where numpy streams the whole (B, N) array once per topic.
    n_items, n_topics = item_term.shape[0], topic_columns.shape[0]
    for start in range(0, n_items, 2048):
        stop = min(n_items, start + 2048)
        for i in range(start, stop):
            out[b, i] = item_term[i]
        for t in range(n_topics):
            weight = preference[b, t]
            for i in range(start, stop):
                out[b, i] += weight * topic_columns[t, i]


@nb.njit(cache=True, parallel=True)
def _utility_parallel(preference, topic_columns, item_term, out):
    for b in nb.prange(preference.shape[0]):
        _utility_user(b, preference, topic_columns, item_term, out)


@nb.njit(cache=True)
def _utility_serial(preference, topic_columns, item_term, out):
    for b in range(preference.shape[0]):
        _utility_user(b, preference, topic_columns, item_term, out)


def utility_rows(
    preference: np.ndarray, topic_columns: np.ndarray, item_term: np.ndarray
) -> np.ndarray:
    """``(B, N)`` float64 base utilities: ``item_term + sum_t preference[:, t] * topics[:, t]``,
    summed topic by topic in order (batch-independent bits).

    Args:
        preference: ``(B, T)`` float64.
        topic_columns: ``(T, N)`` float64, the catalog's topics transposed, contiguous.
        item_term: ``(N,)`` float64.
    """
    preference = np.ascontiguousarray(preference, dtype=np.float64)
    out = np.empty((preference.shape[0], item_term.shape[0]))
    big = preference.shape[0] >= PARALLEL_MIN_USERS
    (_utility_parallel if big else _utility_serial)(preference, topic_columns, item_term, out)
    return out


class SparseTopics(NamedTuple):
    """The nonzero hidden-topic weights of a catalog's items, by item (CSR): item ``i``'s
    are ``value[start[i]:start[i+1]]`` of topics ``topic[...]``, ascending. Synthetic items
    have two (a main and a secondary topic), so a base utility costs 2 multiply-adds
    instead of T."""

    start: np.ndarray  # (N + 1,) int64
    topic: np.ndarray  # (nnz,) int64, ascending within an item
    value: np.ndarray  # (nnz,) float64


def sparse_topics(topic_rows: np.ndarray) -> SparseTopics | None:
    """:class:`SparseTopics` of ``(N, T)`` topics if at most a quarter are nonzero, else None."""
    nonzero = topic_rows != 0
    if nonzero.sum() > topic_rows.size // 4:
        return None
    items, topics = np.nonzero(nonzero)  # row-major: topics ascending within an item
    start = np.zeros(topic_rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(items, minlength=topic_rows.shape[0]), out=start[1:])
    return SparseTopics(start, topics.astype(np.int64), topic_rows[items, topics].copy())


@nb.njit(inline="always")
def _sparse_utility_user(b, preference, sparse, item_term, lo, out):
    # The dense sum adds every topic's product in order; a zero topic adds preference * 0.0,
    # a signed zero, which leaves the sum unchanged (up to the sign of an exact zero sum). So
    # adding only the nonzero topics, in the same order, gives the same bits.
    for j in range(out.shape[1]):
        item = lo + j
        utility = item_term[item]
        for e in range(sparse.start[item], sparse.start[item + 1]):
            utility += preference[b, sparse.topic[e]] * sparse.value[e]
        out[b, j] = utility


@nb.njit(cache=True, parallel=True)
def _sparse_utility_parallel(preference, sparse, item_term, lo, out):
    for b in nb.prange(preference.shape[0]):
        _sparse_utility_user(b, preference, sparse, item_term, lo, out)


@nb.njit(cache=True)
def _sparse_utility_serial(preference, sparse, item_term, lo, out):
    for b in range(preference.shape[0]):
        _sparse_utility_user(b, preference, sparse, item_term, lo, out)


def sparse_utility_rows(
    preference: np.ndarray, sparse: SparseTopics, item_term: np.ndarray, lo: int, end: int
) -> np.ndarray:
    """``(B, end - lo)`` float64 base utilities of items ``lo..end-1`` from their nonzero
    topics: the bits of :func:`utility_rows` (tested)."""
    preference = np.ascontiguousarray(preference, dtype=np.float64)
    out = np.empty((preference.shape[0], end - lo))
    big = preference.shape[0] >= PARALLEL_MIN_USERS
    kernel = _sparse_utility_parallel if big else _sparse_utility_serial
    kernel(preference, sparse, item_term, lo, out)
    return out


@nb.njit(inline="always")
def _sparse_top_user(b, preference, sparse, item_term, lo, end, order, top_utility):
    # Each item's utility as _sparse_utility_user computes it, kept in a best-first list of
    # M by _insert's order (utility descending, ties to the lower id): exactly top_k's list,
    # without the (B, N) utilities.
    m = order.shape[1]
    best_score = np.empty(m)
    best_item = np.empty(m, dtype=np.int64)
    count = 0
    for item in range(lo, end):
        utility = item_term[item]
        for e in range(sparse.start[item], sparse.start[item + 1]):
            utility += preference[b, sparse.topic[e]] * sparse.value[e]
        count = _insert(best_score, best_item, count, m, utility, item)
    for j in range(count):
        order[b, j] = best_item[j]
        top_utility[b, j] = best_score[j]


@nb.njit(cache=True, parallel=True)
def _sparse_top_parallel(preference, sparse, item_term, lo, end, order, top_utility):
    for b in nb.prange(preference.shape[0]):
        _sparse_top_user(b, preference, sparse, item_term, lo, end, order, top_utility)


@nb.njit(cache=True)
def _sparse_top_serial(preference, sparse, item_term, lo, end, order, top_utility):
    for b in range(preference.shape[0]):
        _sparse_top_user(b, preference, sparse, item_term, lo, end, order, top_utility)


def sparse_top_lists(
    preference: np.ndarray,
    sparse: SparseTopics,
    item_term: np.ndarray,
    lo: int,
    end: int,
    size: int,
    groups: TopicGroups | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's ``size`` items of highest base utility among ids ``lo..end-1``, best
    first, ties to the lower id, and their utilities: ``(B, size)`` int64 and float64, the
    result of :func:`adaptrec.core.ranking.top_k` on :func:`sparse_utility_rows` (tested),
    in O(size) memory per user.

    ``groups`` (:func:`topic_groups` of ``sparse`` and ``item_term``), when given and the
    range spans at least half the catalog, skips the groups of items that cannot enter a
    list: the same lists (tested) from ~a fifth of the items (measured: 0.36 -> 0.13 s for
    10,000 users x 10,000 synthetic items, 104 each, 2 cores)."""
    preference = np.ascontiguousarray(preference, dtype=np.float64)
    order = np.empty((preference.shape[0], size), dtype=np.int64)
    top_utility = np.empty((preference.shape[0], size))
    big = preference.shape[0] >= PARALLEL_MIN_USERS
    if groups is not None and 2 * (end - lo) >= len(groups.item):
        kernel = _grouped_top_parallel if big else _grouped_top_serial
        kernel(preference, groups, lo, end, order, top_utility)
    else:
        kernel = _sparse_top_parallel if big else _sparse_top_serial
        kernel(preference, sparse, item_term, lo, end, order, top_utility)
    return order, top_utility


class TopicGroups(NamedTuple):
    """A catalog's items grouped by their set of nonzero topics, for top lists that skip
    whole groups (:func:`sparse_top_lists`). Group ``g`` holds items ``item[start[g]:
    start[g+1]]`` (ascending ids) with topics ``topic[topic_start[g]:topic_start[g+1]]``
    (ascending; ``w_g`` of them); item ``k`` of the group's values are ``value[value_start[g]
    + k w_g : ... + w_g]``, in its topics' order. ``value_max``/``value_min`` (by topic
    entry) and ``term_max`` (by group) bound every utility in the group."""

    start: np.ndarray  # (G + 1,) int64
    item: np.ndarray  # (N,) int64, grouped
    term: np.ndarray  # (N,) float64, item_term[item]
    topic_start: np.ndarray  # (G + 1,) int64
    topic: np.ndarray  # (E,) int64
    value_start: np.ndarray  # (G + 1,) int64
    value: np.ndarray  # (nnz,) float64
    value_max: np.ndarray  # (E,) float64
    value_min: np.ndarray  # (E,) float64
    term_max: np.ndarray  # (G,) float64


def topic_groups(sparse: SparseTopics, item_term: np.ndarray) -> TopicGroups | None:
    """:class:`TopicGroups` of a sparse catalog whose item term is ``item_term`` (``(N,)``
    float64), or None if there are more than N/8 topic sets (groups too small to skip)."""
    n = len(sparse.start) - 1
    nnz = np.diff(sparse.start)
    width = max(1, int(nnz.max()) if n else 1)
    padded = np.full((n, width), -1, dtype=np.int64)  # each item's topics, -1 after them
    column = np.arange(len(sparse.topic)) - np.repeat(sparse.start[:-1], nnz)
    padded[np.repeat(np.arange(n), nnz), column] = sparse.topic
    signatures, group = np.unique(padded, axis=0, return_inverse=True)
    group = group.reshape(-1)
    n_groups = len(signatures)
    if n_groups > max(1, n // 8):
        return None
    item = np.argsort(group, kind="stable")  # by group, ids ascending within one
    start = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(group, minlength=n_groups), out=start[1:])
    group_width = (signatures >= 0).sum(axis=1)
    topic_start = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(group_width, out=topic_start[1:])
    value_start = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(group_width * np.diff(start), out=value_start[1:])
    # Every value of the grouped items in their order, with the topic entry it belongs to.
    lengths = nnz[item]
    offset = np.repeat(sparse.start[item] - np.cumsum(lengths) + lengths, lengths)
    position = offset + np.arange(int(lengths.sum()))
    value = sparse.value[position].copy()
    entry = np.repeat(topic_start[group[item]], lengths) + (
        position - np.repeat(sparse.start[item], lengths)
    )
    value_max = np.full(int(topic_start[-1]), -np.inf)
    value_min = np.full(int(topic_start[-1]), np.inf)
    np.maximum.at(value_max, entry, value)
    np.minimum.at(value_min, entry, value)
    term = np.ascontiguousarray(item_term[item], dtype=np.float64)
    return TopicGroups(
        start=start,
        item=item.astype(np.int64),
        term=term,
        topic_start=topic_start,
        topic=signatures[signatures >= 0].astype(np.int64),
        value_start=value_start,
        value=value,
        value_max=value_max,
        value_min=value_min,
        term_max=np.maximum.reduceat(term, start[:-1]),
    )


@nb.njit(inline="always")
def _grouped_top_user(b, preference, groups, lo, end, order, top_utility):
    # Groups in order of their utility bound, best first; a group whose bound is below the
    # list's last utility cannot enter it, and neither can any later one. The bound is the
    # same sum as an item's (item term, then topic by topic) over each term's maximum, and
    # rounding to nearest is monotone, so it bounds the computed utility exactly, not just
    # the real one. The list is _insert's, which does not depend on the order items arrive.
    m = order.shape[1]
    n_groups = len(groups.start) - 1
    negative_bound = np.empty(n_groups)
    for g in range(n_groups):
        bound = groups.term_max[g]
        for e in range(groups.topic_start[g], groups.topic_start[g + 1]):
            weight = preference[b, groups.topic[e]]
            bound += max(weight * groups.value_max[e], weight * groups.value_min[e])
        negative_bound[g] = -bound
    visit = np.argsort(negative_bound)
    weights = np.empty(preference.shape[1])
    best_score = np.empty(m)
    best_item = np.empty(m, dtype=np.int64)
    count, last, last_item = 0, -np.inf, -1
    for g in visit:
        if count == m and -negative_bound[g] < last:
            break
        first = groups.topic_start[g]
        width = groups.topic_start[g + 1] - first
        for j in range(width):
            weights[j] = preference[b, groups.topic[first + j]]
        at = groups.value_start[g]
        for k in range(groups.start[g], groups.start[g + 1]):
            item = groups.item[k]
            utility = groups.term[k]
            for j in range(width):
                utility += weights[j] * groups.value[at + j]
            at += width
            if item < lo or item >= end:
                continue
            if count < m or utility > last or (utility == last and item < last_item):
                count = _insert(best_score, best_item, count, m, utility, item)
                if count == m:
                    last, last_item = best_score[m - 1], best_item[m - 1]
    for j in range(count):
        order[b, j] = best_item[j]
        top_utility[b, j] = best_score[j]


@nb.njit(cache=True, parallel=True)
def _grouped_top_parallel(preference, groups, lo, end, order, top_utility):
    for b in nb.prange(preference.shape[0]):
        _grouped_top_user(b, preference, groups, lo, end, order, top_utility)


@nb.njit(cache=True)
def _grouped_top_serial(preference, groups, lo, end, order, top_utility):
    for b in range(preference.shape[0]):
        _grouped_top_user(b, preference, groups, lo, end, order, top_utility)


PARALLEL_MIN_USERS = 64
"""Below this many users a step runs serially: a parallel launch wakes numba's whole thread
team, which costs more than the work for a few users and, with another process on the cores,
waits for a descheduled thread. Measured on 2 cores (observe + step, 2,000 items, slate 10,
after the spans stopped reference counting): serial/parallel 32/43 us at B=16, 44/51 at 32,
71/63 at 64, 129/88 at 128, 298/153 at 256. With a busy-loop process beside it, the single
env had fallen from 14.5k to 4.0k steps/s, two thirds of it in the launches of
history_in_order and step_rows; serial, it ran ~20k steps/s loaded or not. Results do not
depend on the path: every loop is per user (tested)."""


@nb.njit(inline="always")
def _unroll_user(ring, step, out, b):
    depth, _, k = ring.shape
    for h in range(depth):
        slot = (step[b] - 1 - h) % depth
        for s in range(k):
            out[b, h, s] = ring[slot, b, s]


@nb.njit(cache=True, parallel=True)
def _history_parallel(ring, step, out):
    for b in nb.prange(ring.shape[1]):
        _unroll_user(ring, step, out, b)


@nb.njit(cache=True)
def _history_serial(ring, step, out):
    for b in range(ring.shape[1]):
        _unroll_user(ring, step, out, b)


def history_in_order(ring: np.ndarray, step: np.ndarray) -> np.ndarray:
    """``(B, H, k)`` copy of a ring-buffered history, most recent slate first.

    The step kernel writes the slate of step ``t`` into slot ``t % H`` of ``ring`` (``(H, B,
    k)``, slot-major) rather than shifting every older slate back (measured: the shift was
    ~15% of a step at B=4,096). Slot-major, because users in step write the same slot: their
    rows are then adjacent and the writes stream (user-major, each write missed the cache;
    measured ~0.5 ms of a ~2 ms step). ``step`` (``(B,)``) is each user's next step, so its
    latest slate sits in slot ``(step - 1) % H``. Slots no step has written yet keep their
    reset value.
    """
    depth, n, k = ring.shape
    out = np.empty((n, depth, k), dtype=ring.dtype)
    (_history_parallel if n >= PARALLEL_MIN_USERS else _history_serial)(ring, step, out)
    return out


@nb.njit(cache=True)
def first_invalid_slate(slates, lo, hi):
    """Index of the first row of ``slates`` (``(B, k)`` int) with an item outside its row's
    live ids ``[lo[j], hi[j])`` (``(B,)`` int64 each) or a repeated item, or -1 if every row
    is valid."""
    n, k = slates.shape
    for j in range(n):
        bad = False
        for s in range(k):
            item = slates[j, s]
            bad |= (item < lo[j]) | (item >= hi[j])
            for earlier in range(s):
                bad |= slates[j, earlier] == item
        if bad:
            return j
    return -1


class StepParams(NamedTuple):
    """The user model's parameters of a step (see :mod:`adaptrec.envs.model`), named."""

    examination: np.ndarray  # (k,) float64
    fatigue_weight: float
    log_decay: float  # log(fatigue_decay): the clock's fall per step
    log_recovery: float  # log(session_break_recovery): its fall at a session end
    leave_probability: float
    leave_if_no_click: float
    dwell_scale: float
    dwell_reward: bool


class ItemModel(NamedTuple):
    """The catalog's side of the base utility, shared by every user."""

    topic_rows: np.ndarray  # (N, T) float64 hidden topics (or calibrated factors), row-major
    item_term: np.ndarray  # (N,) float64 each item's own term of the base utility
    live: np.ndarray  # (S, 2) int64 [lo, hi) of the ids live at steps 0..S-1 (core.arrivals)


class UserArrays(NamedTuple):
    """Every user's state, struct of arrays over the ``B`` users (rows); updated in place.
    Nothing here has a length N: a user's state is O(topics + top list + recent items)."""

    preference: np.ndarray  # (B, T) float64 current hidden preference
    top_utility: np.ndarray  # (B, M) float64 base utilities of the top list, decreasing
    #   (-inf past list_size)
    order: np.ndarray  # (B, M) int32 the top list: items by decreasing base utility
    list_size: np.ndarray  # (B,) int64 entries of the top list in use (M unless its range
    #   of ids holds fewer items)
    list_full: np.ndarray  # (B,) bool: the list holds every item of its range (no scan)
    top_shown: np.ndarray  # (B, M) bool: the item may have a fatigue entry (else it has none)
    table: np.ndarray  # (B, C, 3) float64 fatigue tables: item (EMPTY if unused), fatigue
    #   level when last set, the user's log-clock then; one entry's fields share a cache line
    table_count: np.ndarray  # (B,) int64 entries in use
    clock: np.ndarray  # (B,) float64 log-clock
    keys: np.ndarray  # (B,) uint64 counter-based random keys
    step: np.ndarray  # (B,) int64 steps taken
    session: np.ndarray  # (B,) int64
    session_step: np.ndarray  # (B,) int64
    history_items: np.ndarray  # (H, B, k) int64 ring buffer (see history_in_order)
    history_clicks: np.ndarray  # (H, B, k) int8
    history_skips: np.ndarray  # (H, B, k) int8
    history_dwell: np.ndarray  # (H, B, k) float32


class StepOutputs(NamedTuple):
    """What a step of ``n`` users produced; filled by :func:`step_rows`."""

    clicked: np.ndarray  # (n, k) bool
    skipped: np.ndarray  # (n, k) bool
    dwell: np.ndarray  # (n, k) float32 seconds
    click_probability: np.ndarray  # (n, k) float64
    expected: np.ndarray  # (n,) float64 expected clicks of the shown slate
    oracle: np.ndarray  # (n,) float64 expected clicks of the oracle's slate
    reward: np.ndarray  # (n,) float64
    session_end: np.ndarray  # (n,) bool


def step_rows(rows, slates, users, model, params, out) -> None:
    """One step of the users in ``rows`` (``(n,)`` int64 rows of ``users``, a
    :class:`UserArrays`) shown ``slates`` (``(n, k)``), under ``model`` (an :class:`ItemModel`)
    and ``params`` (a :class:`StepParams`); fills ``out`` (a :class:`StepOutputs`) and updates
    ``users``. Each row's fatigue table must have room for k new entries (see
    :func:`make_room`).

    Users are independent, so for many users chunks of them run on all cores, each chunk with
    its own scratch space; below :data:`PARALLEL_MIN_USERS` one thread does it all. Results
    do not depend on the chunking. Drift is applied by the caller afterwards.
    """
    if len(rows) >= PARALLEL_MIN_USERS:
        _step_rows_parallel(rows, slates, users, model, params, out)
    else:
        _step_rows_serial(rows, slates, users, model, params, out)


@nb.njit(cache=True, parallel=True)
def _step_rows_parallel(rows, slates, users, model, params, out):
    n, k = slates.shape
    chunks = min(n, 64)
    for chunk in nb.prange(chunks):
        best_score = np.empty(k)
        best_item = np.empty(k, dtype=np.int64)
        gathered = np.empty((3, k))
        start, stop = chunk * n // chunks, (chunk + 1) * n // chunks
        _step_span(
            start, stop, rows, slates, users, model, params, out, best_score, best_item, gathered
        )


@nb.njit(cache=True)
def _step_rows_serial(rows, slates, users, model, params, out):
    k = slates.shape[1]
    best_score = np.empty(k)
    best_item = np.empty(k, dtype=np.int64)
    gathered = np.empty((3, k))
    _step_span(
        0, len(rows), rows, slates, users, model, params, out, best_score, best_item, gathered
    )


@nb.njit(cache=True, _nrt=False)
def _step_span(
    start, stop, rows, slates, users, model, params, out, best_score, best_item, gathered
):
    """Rows ``start:stop`` of a step (scratch space passed in; see the module notes on
    ``_nrt=False``)."""
    for j in range(start, stop):
        _step_user(j, rows[j], slates, users, model, params, out, best_score, best_item, gathered)


UTILITY = ITEM  # a step's gathered state of the shown items: utility, level, clock


@nb.njit(inline="always")
def _step_user(j, b, slates, users, model, params, out, best_score, best_item, gathered):
    """Row ``j`` (user row ``b``): respond to its slate, then transition its state.
    ``gathered`` is ``(3, k)`` scratch space."""
    table = users.table
    examination, weight = params.examination, params.fatigue_weight
    clicked, skipped, dwell = out.clicked, out.skipped, out.dwell
    k = slates.shape[1]
    depth = users.history_items.shape[0]
    key, t, c = users.keys[b], users.step[b], users.clock[b]

    # respond: this slate. First gather the shown items' fatigue entries (independent loads,
    # so their cache misses overlap), then their base utilities.
    for s in range(k):
        item = slates[j, s]
        slot = _slot(table, b, item)
        found = table[b, slot, ITEM] == item
        gathered[LEVEL, s] = table[b, slot, LEVEL] if found else 0.0
        gathered[CLOCK, s] = table[b, slot, CLOCK] if found else 0.0
    _slate_utilities(b, slates[j], users.preference, model, gathered[UTILITY])
    total, n_clicks, dwell_sum = 0.0, 0, 0.0
    for s in range(k):
        fatigue = _fatigue(gathered[LEVEL, s], gathered[CLOCK, s], c)
        attractive = _sigmoid(gathered[UTILITY, s] - weight * fatigue)
        probability = examination[s] * attractive
        out.click_probability[j, s] = probability
        total += probability
        # Both draws every time (counter-based, so the same numbers), combined without
        # branches: a branch on a coin flip is mispredicted half the time.
        examined = uniform(key, t, LANE_EXAMINE, s) < examination[s]
        likes = uniform(key, t, LANE_CLICK, s) < attractive
        hit = examined & likes
        clicked[j, s] = hit
        skipped[j, s] = examined & ~likes
        seconds = np.float32(0.0)
        if hit:
            exponential = -math.log1p(-uniform(key, t, LANE_DWELL, s))
            seconds = np.float32(params.dwell_scale * (0.5 + attractive) * exponential)
            n_clicks += 1
        dwell[j, s] = seconds
        dwell_sum += np.float64(seconds)
    out.expected[j] = total
    out.reward[j] = dwell_sum if params.dwell_reward else np.float64(n_clicks)

    # respond: the best possible slate
    _oracle_user(b, users, model, c, weight, best_score, best_item)
    best = 0.0
    for s in range(k):
        best += examination[s] * _sigmoid(best_score[s])
    out.oracle[j] = best

    # transition: fatigue decays, the shown items add one each
    c += params.log_decay
    for s in range(k):
        item = slates[j, s]
        slot = _slot(table, b, item)
        if table[b, slot, ITEM] != item:
            table[b, slot, ITEM] = item
            users.table_count[b] += 1
        table[b, slot, LEVEL] = _fatigue(gathered[LEVEL, s], gathered[CLOCK, s], c) + 1.0
        table[b, slot, CLOCK] = c
        rank = _top_rank(users, b, item, gathered[UTILITY, s])
        if rank >= 0:
            users.top_shown[b, rank] = True
    leave = params.leave_probability + (params.leave_if_no_click if n_clicks == 0 else 0.0)
    ends = uniform(key, t, LANE_LEAVE, 0) < leave
    out.session_end[j] = ends
    if ends:
        c += params.log_recovery  # time away: fatigue mostly recovers
        users.session[b] += 1
        users.session_step[b] = 0
    else:
        users.session_step[b] += 1
    users.clock[b] = c
    # The histories are ring buffers (see history_in_order): step t fills slot t % depth.
    slot = t % depth
    for s in range(k):
        users.history_items[slot, b, s] = slates[j, s]
        users.history_clicks[slot, b, s] = clicked[j, s]
        users.history_skips[slot, b, s] = skipped[j, s]
        users.history_dwell[slot, b, s] = dwell[j, s]
    users.step[b] = t + 1
