"""The compiled step kernel against plain numpy references of the same model."""

import re

import numba as nb
import numpy as np
import pytest

from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import CatalogConfig, EnvConfig, UserConfig
from adaptrec.core.ranking import top_k
from adaptrec.core.rng import Component, uniforms, user_keys
from adaptrec.envs import UserPopulation, kernel
from adaptrec.envs import users as users_module
from adaptrec.envs.users import INITIAL_TABLE_CAPACITY


def test_kernel_uniforms_are_bit_identical_to_numpy_uniforms():
    keys = user_keys(3, Component.USER_STEP, np.arange(50))
    counters = np.arange(50, dtype=np.int64) * 7
    for lane in range(4):
        assert np.array_equal(
            kernel.uniforms_kernel(keys, counters, lane, 6), uniforms(keys, counters, lane, 6)
        )


def population(n_items=120, order_length=None, n_users=6, **users):
    catalog = make_catalog(CatalogConfig(n_items=n_items), 0)
    config = UserConfig(**{"drift": "none", **users})
    pop = UserPopulation(catalog, config, EnvConfig(max_steps=10_000))
    if order_length is not None:
        pop.order_length = order_length
    pop.reset(np.arange(n_users), 0)
    return pop


def test_lazy_fatigue_equals_the_dense_recurrence():
    pop = population(leave_if_no_click=0.5)
    dense = np.zeros((6, 120))
    rng = np.random.default_rng(0)
    cfg = pop.users
    ends = 0
    for _ in range(60):
        slates = np.stack([rng.choice(20, 5, replace=False) for _ in range(6)])  # many repeats
        outcome = pop.step(slates)
        dense *= cfg.fatigue_decay
        dense[np.arange(6)[:, None], slates] += 1.0
        dense[outcome.session_end] *= cfg.session_break_recovery
        np.testing.assert_allclose(pop.fatigue(), dense, rtol=1e-9, atol=1e-12)
        ends += int(outcome.session_end.sum())
    assert ends > 10  # the session-break recovery was exercised


@pytest.mark.parametrize("order_length", [None, 6])  # 6: the full-scan fallback almost always
@pytest.mark.parametrize("drift", ["none", "abrupt", "gradual"])  # a drift rebuilds the lists
def test_oracle_is_the_exact_top_k_of_fatigued_utility(order_length, drift):
    pop = population(
        order_length=order_length,
        fatigue_weight=2.0,
        drift=drift,
        drift_step=15,
        drift_duration=10,
        drift_fraction=1.0,
    )
    weight = pop.users.fatigue_weight
    for _ in range(40):
        slates = pop.oracle_slates()  # keep tiring the best items, so the order list goes stale
        score = pop.utility_ - weight * pop.fatigue()
        assert np.array_equal(slates, top_k(score, pop.slate_size))
        expected = (pop.examination * np.take_along_axis(pop.attractiveness(), slates, 1)).sum(1)
        outcome = pop.step(slates)
        np.testing.assert_allclose(outcome.oracle_expected_clicks, expected, rtol=1e-12)
        np.testing.assert_allclose(outcome.expected_clicks, expected, rtol=1e-12)


def test_top_lists_hold_the_best_items_and_their_utilities_after_drifts_and_resets():
    """The oracle walks each user's top list; it must be the exact top-M of the current base
    utilities (ties to the lower id) after steps, drifts (new lists) and resets."""
    pop = population(drift="abrupt", drift_step=5, drift_fraction=1.0)
    rng = np.random.default_rng(1)
    for step in range(12):
        pop.step(
            np.stack([rng.choice(pop.n_items, pop.slate_size, replace=False) for _ in range(6)])
        )
        if step == 8:
            pop.reset_rows(np.array([2]), np.array([40]))
        utility = pop.utility_
        np.testing.assert_array_equal(pop.order_, top_k(utility, pop.order_length))
        np.testing.assert_array_equal(
            pop.top_utility_, np.take_along_axis(utility, pop.order_, axis=1)
        )


def test_observed_history_lists_the_last_slates_most_recent_first_across_the_ring():
    pop = population()
    depth = pop.env.history_length
    shown = []
    for t in range(depth + 7):  # wraps around the ring buffer
        slates = (np.arange(6)[:, None] * 3 + t + np.arange(pop.slate_size)) % pop.n_items
        pop.step(slates)
        shown.append(slates)
        items = pop.observations()["items"]
        for h in range(depth):
            expected = shown[-1 - h] if h < len(shown) else np.full_like(slates, -1)
            np.testing.assert_array_equal(items[:, h], expected)
    pop.reset_rows(np.array([4]), np.array([4]))
    assert (pop.observations()["items"][4] == -1).all()
    assert (pop.observations()["clicks"][4] == 0).all()


def test_step_work_does_not_touch_unshown_items():
    pop = population()
    before = pop.fatigue()
    pop.step(np.tile(np.arange(5), (6, 1)))
    changed = np.nonzero((pop.fatigue() != before).any(axis=0))[0]
    assert changed.tolist() == [0, 1, 2, 3, 4]


def state_bytes_per_user(n_items):
    """Growth of every array a population holds from 6 to 12 users, per user: its per-user
    state (shared catalog arrays cancel out)."""

    def total(n_users):
        pop = population(n_items=n_items, n_users=n_users)
        owners = {}
        for value in vars(pop).values():
            if isinstance(value, np.ndarray):
                while isinstance(value.base, np.ndarray):
                    value = value.base
                owners[id(value)] = value.nbytes
        return sum(owners.values())

    return (total(12) - total(6)) / 6


def test_state_per_user_does_not_grow_with_the_catalog():
    # Issue 16: the state was a (B, N, 4) float64 buffer (320 KB per user at 10,000 items).
    # Now a fresh user's state is the same at 200 and 20,000 items.
    sizes = [state_bytes_per_user(n) for n in (200, 20_000)]
    assert sizes[0] == sizes[1]
    assert sizes[0] <= 4096


def dense_fatigue_reference(pop, slates_per_step, ends_per_step):
    cfg = pop.users
    dense = np.zeros((len(pop.user_ids_), pop.n_items))
    for slates, ends in zip(slates_per_step, ends_per_step, strict=True):
        dense *= cfg.fatigue_decay
        dense[np.arange(len(dense))[:, None], slates] += 1.0
        dense[ends] *= cfg.session_break_recovery
    return dense


@pytest.mark.parametrize("agent", ["random", "oracle"])
def test_fatigue_tables_forget_only_what_no_longer_counts_and_grow_when_needed(agent):
    # Random slates show new items every step: the tables must grow (a table that silently
    # overwrote entries, or never rebuilt, would fail the dense comparison or the size bound).
    pop = population(n_items=3000, leave_if_no_click=0.3)
    rng = np.random.default_rng(2)
    shown, ends = [], []
    for _ in range(400):
        if agent == "random":
            slates = np.stack(
                [rng.choice(pop.n_items, pop.slate_size, replace=False) for _ in range(6)]
            )
        else:
            slates = pop.oracle_slates()
        shown.append(slates)
        ends.append(pop.step(slates).session_end)
    dense = dense_fatigue_reference(pop, shown, ends)
    got = pop.fatigue()
    kept = got > 0
    # What is kept is the fatigue to rounding; what is forgotten is below 2**-53 (it would
    # not change a score or a later level: kernel._negligible).
    np.testing.assert_allclose(got[kept], dense[kept], rtol=1e-9)
    assert dense[~kept].max(initial=0.0) < 2.0**-53
    assert (pop._table_count == kept.sum(axis=1)).all()
    capacity = pop._table.shape[1]
    assert capacity < pop.n_items  # forgetting kept the tables far below the catalog
    if agent == "random":
        assert capacity > INITIAL_TABLE_CAPACITY  # ... and they did grow


@pytest.mark.parametrize("n_users", [5, 70])  # the serial and the parallel path
def test_compiled_utility_has_the_bits_of_the_numpy_topic_by_topic_sum(n_users):
    # The population's utilities (and so every golden trace) depend on these exact bits: a
    # fused multiply-add or a reordered sum would change them.
    rng = np.random.default_rng(n_users)
    preference = rng.normal(0, 2.5, (n_users, 20))
    topics = rng.dirichlet(np.ones(20) * 0.3, 5000)  # (N, T), more items than one block
    item_term = rng.normal(-2, 0.5, 5000)
    expected = np.broadcast_to(item_term, (n_users, 5000)).copy()
    for topic, column in enumerate(np.ascontiguousarray(topics.T)):
        expected += preference[:, topic : topic + 1] * column
    got = kernel.utility_rows(preference, np.ascontiguousarray(topics.T), item_term)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("n_users", [5, 70])
def test_utilities_from_the_nonzero_topics_have_the_bits_of_the_dense_sum(n_users):
    # Catches: the nonzero topics summed out of order, a fused multiply-add, a wrong range.
    from adaptrec.core.catalog import make_catalog
    from adaptrec.core.config import CatalogConfig

    topics = make_catalog(CatalogConfig(n_items=3000, n_topics=20), 1).topics
    sparse = kernel.sparse_topics(topics)
    assert sparse is not None and len(sparse.value) <= 2 * 3000
    rng = np.random.default_rng(n_users)
    preference = rng.normal(0, 2.5, (n_users, 20))
    item_term = rng.normal(-2, 0.5, 3000)
    dense = kernel.utility_rows(preference, np.ascontiguousarray(topics.T), item_term)
    assert np.array_equal(kernel.sparse_utility_rows(preference, sparse, item_term, 0, 3000), dense)
    part = kernel.sparse_utility_rows(preference, sparse, item_term, 700, 1900)
    assert np.array_equal(part, dense[:, 700:1900])
    assert kernel.sparse_topics(rng.random((50, 20))) is None  # dense topics: not sparse
    from adaptrec.core.ranking import top_k

    ties = np.round(item_term, 1)  # many equal utilities: the tie rule decides
    dense = kernel.utility_rows(preference * 0, np.ascontiguousarray(topics.T), ties)
    for lo, end, size in ((0, 3000, 104), (700, 1900, 50), (10, 60, 50)):
        order, utility = kernel.sparse_top_lists(preference * 0, sparse, ties, lo, end, size)
        want = top_k(dense[:, lo:end], size) + lo
        assert np.array_equal(order, want)
        assert np.array_equal(utility, np.take_along_axis(dense, want, axis=1))
    dense = kernel.utility_rows(preference, np.ascontiguousarray(topics.T), item_term)
    order, _ = kernel.sparse_top_lists(preference, sparse, item_term, 0, 3000, 104)
    assert np.array_equal(order, top_k(dense, 104))


@pytest.mark.parametrize("n_users", [5, 70])  # the serial and the parallel path
def test_top_lists_that_skip_topic_groups_are_the_lists_of_every_item(n_users):
    # Catches: a bound that is not an upper bound (a negative preference times the largest
    # value, a group's best item term missed), a group skipped on a tie it could win, a
    # value read from another item or topic, items outside the range kept.
    from adaptrec.core.ranking import top_k

    rng = np.random.default_rng(n_users)
    n, n_topics = 4000, 12
    topics = np.zeros((n, n_topics))
    main = rng.integers(n_topics, size=n)
    secondary = (main + rng.integers(1, n_topics, size=n)) % n_topics
    topics[np.arange(n), main] = rng.uniform(0.5, 1.0, n)
    two = rng.random(n) < 0.7  # items with one topic, two, and none at all
    topics[np.flatnonzero(two), secondary[two]] = -rng.uniform(0.0, 0.5, int(two.sum()))
    topics[rng.random(n) < 0.05] = 0.0
    sparse = kernel.sparse_topics(topics)
    for item_term in (rng.normal(-2, 0.5, n), np.round(rng.normal(-2, 0.5, n), 1)):
        groups = kernel.topic_groups(sparse, item_term)
        assert groups is not None and len(groups.start) - 1 <= n // 8
        for scale in (2.5, 0.0):  # 0: utilities are the (rounded, tied) item terms
            preference = rng.normal(0, 2.5, (n_users, n_topics)) * scale
            dense = kernel.utility_rows(preference, np.ascontiguousarray(topics.T), item_term)
            for lo, end, size in ((0, n, 104), (500, 3900, 50), (0, n, n)):
                order, utility = kernel.sparse_top_lists(
                    preference, sparse, item_term, lo, end, size, groups=groups
                )
                want = top_k(dense[:, lo:end], size) + lo
                assert np.array_equal(order, want)
                assert np.array_equal(
                    utility.view(np.int64), np.take_along_axis(dense, want, axis=1).view(np.int64)
                )
    # A topic set per item: groups of one item would not pay.
    assert kernel.topic_groups(kernel.sparse_topics(np.eye(64)), np.zeros(64)) is None


@pytest.mark.parametrize("drift", ["abrupt", "gradual"])
def test_forgetting_fatigue_leaves_every_trajectory_bit_identical(monkeypatch, drift):
    # The same users twice: with tables that start small (rebuilt and grown, entries
    # forgotten) and with tables of 2N slots (never rebuilt, nothing forgotten). Every output
    # must have the same bits, through drift, session breaks and 600 steps of mostly new items.
    def run(capacity):
        monkeypatch.setattr(users_module, "INITIAL_TABLE_CAPACITY", capacity)
        pop = population(
            n_items=3000, drift=drift, drift_step=200, drift_duration=100, drift_fraction=1.0
        )
        rng = np.random.default_rng(5)
        outputs = []
        for t in range(600):
            if t % 3 == 0:
                slates = pop.oracle_slates()
            else:
                slates = np.stack(
                    [rng.choice(3000, pop.slate_size, replace=False) for _ in range(6)]
                )
            o = pop.step(slates)
            outputs.append((o.clicked, o.dwell, o.click_probability, o.oracle_expected_clicks))
        return outputs, pop._table.shape[1]

    small, small_capacity = run(8)
    full, full_capacity = run(8192)
    assert small_capacity < 3000 < 6000 <= full_capacity  # the first run did forget
    for a, b in zip(small, full, strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)


def test_the_parallel_path_gives_every_user_the_bits_of_the_serial_path(monkeypatch):
    # 70 users step through the chunked parallel kernels, then the same users again on one
    # thread: every output and the whole state must match bit for bit. Small tables, mostly
    # new items and a fast fatigue decay make the tables rebuild and forget on the way (the
    # parallel rebuild once forgot nothing: its writes were dropped, see the kernel's notes).
    def run(parallel_min_users):
        monkeypatch.setattr(kernel, "PARALLEL_MIN_USERS", parallel_min_users)
        monkeypatch.setattr(users_module, "INITIAL_TABLE_CAPACITY", 8)
        pop = population(n_items=3000, n_users=70, fatigue_decay=0.3, drift="abrupt", drift_step=40)
        rng = np.random.default_rng(3)
        outputs, shown = [], [set() for _ in range(70)]
        for t in range(80):
            slates = (
                pop.oracle_slates()
                if t % 4 == 0
                else rng.permuted(np.tile(np.arange(3000), (70, 1)), axis=1)[:, : pop.slate_size]
            )
            for user, slate in zip(shown, slates, strict=True):
                user.update(slate.tolist())
            o = pop.step(slates)
            outputs += [o.clicked, o.skipped, o.dwell, o.click_probability, o.reward]
            outputs += [o.expected_clicks, o.oracle_expected_clicks, o.session_end]
            outputs += list(pop.observations().values())
        forgotten = sum(map(len, shown)) - pop._table_count.sum()
        state = [value for value in vars(pop).values() if isinstance(value, np.ndarray)]
        return outputs + state, forgotten

    (parallel, _), (serial, forgotten) = run(1), run(10**9)
    assert forgotten > 1000  # the rebuilds did forget
    assert len(parallel) == len(serial)
    for a, b in zip(parallel, serial, strict=True):
        assert np.array_equal(a, b)


def test_the_per_user_loops_do_no_reference_counting():
    # The spans are compiled with _nrt=False (see the kernel's module notes): with reference
    # counting a step ran 2-3x slower, a silent slowdown if the option were dropped or numba
    # stopped honouring it. Numba emits counting as calls to NRT_incref/NRT_decref in the
    # LLVM IR. Cached code cannot be inspected, so each span is recompiled uncached with its
    # own options, and once more with counting (the check must be able to fail).
    pop = population(n_users=3)
    k, rows = pop.slate_size, np.arange(3)
    outputs = kernel.StepOutputs(
        *(np.empty((3, k), dtype) for dtype in (bool, bool, np.float32, np.float64)),
        *(np.empty(3, dtype) for dtype in (np.float64, np.float64, np.float64, bool)),
    )
    calls = {
        kernel._step_span: (0, 3, rows, pop.oracle_slates(), pop._arrays, pop._model,
                            pop._params, outputs, np.empty(k), np.empty(k, np.int64),
                            np.empty((3, k))),
        kernel._oracle_span: (rows, pop._arrays, pop._model, 1.0, np.empty(k),
                              np.empty((3, k), np.int64)),
        kernel.mark_top_shown: (rows, pop._arrays),
        kernel._make_room_span: (0, 3, rows, pop._arrays, pop._model, 1.0, 0,
                                 np.empty((pop._table.shape[1], 3))),
    }  # fmt: skip

    def counting_calls(span, args, **options):
        own = {key: value for key, value in span.targetoptions.items() if key != "nopython"}
        compiled = nb.njit(**{**own, "cache": False, **options})(span.py_func)
        compiled(*args)
        return re.findall(
            r"call \w+ @NRT_(?:incref|decref)", compiled.inspect_llvm(compiled.signatures[0])
        )

    for span, args in calls.items():
        assert span.targetoptions.get("_nrt") is False, span
        assert counting_calls(span, args) == [], span
    assert counting_calls(kernel._oracle_span, calls[kernel._oracle_span], _nrt=True)
