"""Simulated users as arrays over users, and the one step kernel every environment uses.

A user has a hidden preference over the catalog's hidden topics (not the agents' embedding
space, so no agent is favoured by construction): a taste shared by the population plus the
user's own. Facing a slate, the user examines slot ``p``
with probability ``(1 + p) ** -position_decay`` and clicks an examined item with probability

    attractiveness = sigmoid(click_intercept + pref . topics_i
                             + quality_weight * (quality_i - 0.5) - fatigue_weight * fatigue_i)

A click has a dwell time (exponential, longer for more attractive items); an examined item not
clicked is a *skip*. Every exposure adds 1 to the user's fatigue with that item, and fatigue
decays by ``fatigue_decay`` per step, so repeats get tiresome and then recover. The oracle is
the myopic optimum: the k items of highest ``utility - fatigue_weight * fatigue``, best first.
After each step the user may end the session (more likely after a slate without clicks); the
user comes back for the next session with the same hidden state, fatigue mostly recovered. A
fraction of users drifts to a new preference at ``drift_step``: abruptly, or linearly over
``drift_duration`` steps.

Calibrated catalogs (:mod:`adaptrec.data.calibration`) replace the synthetic tastes: each
simulated user is one real person's fitted preference over the catalog's hidden features, the
item term is the catalog's ``item_bias``, and drift moves towards another real person.

Randomness: the initial state of user ``i`` comes from its own ``SeedSequence`` stream; per-step
draws come from a counter-based generator keyed by user and step
(:func:`adaptrec.core.rng.uniforms`). The step itself is a compiled per-user loop
(:mod:`adaptrec.envs.kernel`), so a user's trajectory is bit-identical whether it is simulated
alone or in a batch of thousands.
"""

from __future__ import annotations

import numpy as np

from adaptrec.core.arrivals import arrival_steps, live_table
from adaptrec.core.catalog import Catalog
from adaptrec.core.config import EnvConfig, UserConfig
from adaptrec.core.ranking import top_k
from adaptrec.core.rng import Component, generator, user_generators, user_keys
from adaptrec.core.validation import check_array, check_slate_fits
from adaptrec.envs import kernel
from adaptrec.envs.model import change_now, change_steps, preference_at_steps
from adaptrec.envs.population import StepOutcome

INITIAL_TABLE_CAPACITY = 32
"""Fatigue-table slots per user at reset (a power of two; 768 bytes)."""

UTILITY_CHUNK_CELLS = 1 << 22
"""Dense utilities computed at a time when top lists are rebuilt (32 MB of float64)."""

LIST_LOOKAHEAD = 50
"""Steps of arrivals a top list of a growing catalog (no expiry) covers ahead."""


class UserPopulation:
    """B simulated users stepping together (struct of arrays): the
    :class:`~adaptrec.envs.population.Population` of synthetic and calibrated users.

    Args:
        catalog: the items (hidden topics and quality are read here, never by agents).
        users: user-model parameters.
        env: slate size, history length, episode length and reward.

    Call :meth:`reset` with the user ids and root seed, then :meth:`step` with ``(B, k)`` slates.
    Learned/state attributes end in ``_``. With a calibrated catalog (one with a
    ``user_pool``), ``real_user_`` and ``drift_real_user_`` are ``(B,)`` int64 rows of the pool:
    the real person each user is, and the one it drifts towards.
    """

    def __init__(self, catalog: Catalog, users: UserConfig, env: EnvConfig) -> None:
        check_slate_fits(env.slate_size, catalog.n_items)
        self.catalog, self.users, self.env = catalog, users, env
        self.n_items, self.slate_size = catalog.n_items, env.slate_size
        self.examination = (1.0 + np.arange(env.slate_size)) ** -users.position_decay
        # Columns of the topic matrix, contiguous: utility is a per-user elementwise sum over
        # topics, so the result does not depend on the batch (a BLAS matmul's rounding can).
        self._topic_columns = np.ascontiguousarray(catalog.topics.T)
        # Mostly-zero topics (synthetic items have two each): utilities from the nonzero
        # ones, with the same bits and a fraction of the work (the top lists' rebuilds).
        self._sparse = kernel.sparse_topics(np.asarray(catalog.topics, dtype=np.float64))
        # (N,) float64: each item's term of the base utility, the same for every user.
        if catalog.item_bias is not None:
            self.item_term = np.asarray(catalog.item_bias, dtype=np.float64)
        else:
            self.item_term = users.click_intercept + users.quality_weight * (catalog.quality - 0.5)
        # Items grouped by their topic set, so a top list skips the groups that cannot enter
        # it (kernel.sparse_top_lists; None where groups would be too small to pay).
        self._groups = (
            kernel.topic_groups(self._sparse, self.item_term) if self._sparse is not None else None
        )
        # Length of each user's list of items by decreasing base utility, which the oracle walks
        # before it would fall back to a full scan (only when many top items are fatigued).
        self.order_length = min(self.n_items, 4 * env.slate_size + 64)
        # The item side of the base utility, row-major for the kernel's per-item sums.
        # A changing catalog (core.arrivals): the live ids of every step of an episode, and
        # how far ahead a top list looks (its range covers every item live until then, so
        # lists are rebuilt every `lookahead` steps, not every step).
        self.live_table_ = live_table(catalog.arrivals, self.n_items, env.max_steps)
        lifetime = catalog.arrivals.lifetime
        self.lookahead = max(1, lifetime // 2) if lifetime else LIST_LOOKAHEAD
        self._model = kernel.ItemModel(
            topic_rows=np.ascontiguousarray(catalog.topics, dtype=np.float64),
            item_term=self.item_term,
            live=self.live_table_,
        )
        self._params = kernel.StepParams(
            examination=self.examination,
            fatigue_weight=float(users.fatigue_weight),
            log_decay=float(np.log(users.fatigue_decay)),
            log_recovery=float(np.log(users.session_break_recovery)),
            leave_probability=float(users.leave_probability),
            leave_if_no_click=float(users.leave_if_no_click),
            dwell_scale=float(users.dwell_scale),
            dwell_reward=env.reward == "dwell",
        )

    # ---- sample -------------------------------------------------------------------------
    def reset(self, user_ids: np.ndarray, root_seed: int) -> None:
        """Sample users ``user_ids`` (``(B,)`` int) from their own streams of ``root_seed``."""
        user_ids = np.asarray(user_ids)
        check_array("user_ids", user_ids, shape=(None,), kind="iu")
        b, n_topics, cfg = len(user_ids), self.catalog.n_topics, self.users
        self.root_seed_ = int(root_seed)
        # The taste every user shares, from the population's own stream of the root seed.
        population = generator(root_seed, Component.POPULATION)
        pool = self.catalog.user_pool
        if pool is None:
            self.shared_preference_ = population.normal(
                0.0, cfg.population_preference_scale, n_topics
            )
        else:
            # Calibrated users: simulated user i is real user pool_order_[i % R]; the order is
            # a seeded shuffle, so each root seed meets a different sample of real people.
            self.shared_preference_ = np.zeros(n_topics)
            self.pool_order_ = population.permutation(pool.n_users)
        self.real_user_ = np.full(b, -1, dtype=np.int64)
        self.drift_real_user_ = np.full(b, -1, dtype=np.int64)
        h, k = self.env.history_length, self.slate_size
        self.user_ids_ = np.zeros(b, dtype=np.int64)
        self.initial_preference_ = np.empty((b, n_topics))
        self.drift_preference_ = np.empty((b, n_topics))
        self.drifts_ = np.empty(b, dtype=bool)
        self.keys_ = np.empty(b, dtype=np.uint64)
        self.step_ = np.zeros(b, dtype=np.int64)
        self.session_ = np.zeros(b, dtype=np.int64)
        self.session_step_ = np.zeros(b, dtype=np.int64)
        self.clock_ = np.zeros(b)
        self.order_ = np.zeros((b, self.order_length), dtype=np.int32)
        self.top_utility_ = np.zeros((b, self.order_length))
        self.list_size_ = np.zeros(b, dtype=np.int64)
        self.list_full_ = np.zeros(b, dtype=bool)
        self.list_end_ = np.zeros(b, dtype=np.int64)  # the list's range ends before this id
        self._top_shown = np.zeros((b, self.order_length), dtype=bool)
        # Observed histories as slot-major ring buffers, (h, B, k): step t's slate sits in slot
        # t % h (the kernel writes one slot per step instead of shifting h slates, and users in
        # step write adjacent rows; observations() unrolls them, see kernel.history_in_order).
        self._ring_items = np.full((h, b, k), -1, dtype=np.int64)
        self._ring_clicks = np.zeros((h, b, k), dtype=np.int8)
        self._ring_skips = np.zeros((h, b, k), dtype=np.int8)
        self._ring_dwell = np.zeros((h, b, k), dtype=np.float32)
        self.preference_ = np.empty((b, n_topics))
        self.drift_now_ = np.zeros(b, dtype=bool)
        # Fatigue tables (see envs.kernel): start small, doubled for every row when one row's
        # recent items need more room.
        self._new_tables(b, INITIAL_TABLE_CAPACITY)
        self.reset_rows(np.arange(b), user_ids)

    def reset_rows(self, rows: np.ndarray, user_ids: np.ndarray) -> None:
        """Put fresh users ``user_ids`` into ``rows`` (same root seed); other rows are untouched.

        Row ``r`` then holds exactly the state a population of that one user would have after
        :meth:`reset`, which is what lets a vector env reset one user at a time.
        """
        rows, user_ids = np.asarray(rows, dtype=np.int64), np.asarray(user_ids, dtype=np.int64)
        cfg, n_topics = self.users, self.catalog.n_topics
        if len(rows) != len(user_ids):
            raise ValueError(f"user_ids must have {len(rows)} entries, got {len(user_ids)}")
        if user_ids.size and user_ids.min() < 0:
            raise ValueError(f"user_ids must be >= 0, got {int(user_ids.min())}")
        pool = self.catalog.user_pool
        streams = user_generators(self.root_seed_, Component.USER_INIT, user_ids)
        for row, user, rng in zip(rows, user_ids, streams, strict=True):
            if pool is None:
                own = rng.normal(0, cfg.preference_scale, n_topics)
                self.initial_preference_[row] = self.shared_preference_ + own
                own = rng.normal(0, cfg.preference_scale, n_topics)
                self.drift_preference_[row] = self.shared_preference_ + own
            else:
                real = int(self.pool_order_[user % pool.n_users])
                # Drift towards another real person, drawn from the user's own stream.
                other = real
                if pool.n_users > 1:
                    other = (real + 1 + int(rng.integers(pool.n_users - 1))) % pool.n_users
                self.real_user_[row], self.drift_real_user_[row] = real, other
                self.initial_preference_[row] = pool.preferences[real]
                self.drift_preference_[row] = pool.preferences[other]
            self.drifts_[row] = cfg.drift != "none" and rng.random() < cfg.drift_fraction
        self.user_ids_[rows] = user_ids
        self.keys_[rows] = user_keys(self.root_seed_, Component.USER_STEP, user_ids)
        for array, value in (
            (self.step_, 0),
            (self.session_, 0),
            (self.session_step_, 0),
            (self._table[:, :, kernel.ITEM], kernel.EMPTY),
            (self._table_count, 0),
            (self.clock_, 0.0),
            (self.drift_now_, False),
        ):
            array[rows] = value
        for ring, value in (
            (self._ring_items, -1),
            (self._ring_clicks, 0),
            (self._ring_skips, 0),
            (self._ring_dwell, 0.0),
        ):
            ring[:, rows] = value
        self.preference_[rows] = self.initial_preference_[rows]
        self._set_utility(rows)

    def _set_utility(self, rows: np.ndarray) -> None:
        """Rebuild the top lists of ``rows`` (after a taste change, or when items arrive that
        their lists do not cover): the ``order_length`` items of highest base utility among
        the ids live now or arriving within :attr:`lookahead` steps, and their utilities.
        The dense ``(rows, range)`` utilities exist only a chunk of rows at a time."""
        rows = np.asarray(rows, dtype=np.int64)
        if not self.catalog.changes:
            self._set_lists(rows, 0, self.n_items)
        else:
            steps = self.step_[rows]
            for step in np.unique(steps):
                part = rows[steps == step]
                lo = int(self.catalog.live_bounds(np.array([step]))[0][0])
                end = int(self.catalog.live_bounds(np.array([step + self.lookahead]))[1][0])
                self._set_lists(part, lo, end)
        kernel.mark_top_shown(rows, self._arrays)

    def _set_lists(self, rows: np.ndarray, lo: int, end: int) -> None:
        """Top lists of ``rows`` over the ids ``lo <= i < end``."""
        width = end - lo
        size = min(self.order_length, width)
        topic_columns, item_term = self._topic_columns, self.item_term
        if self._sparse is None and (lo, end) != (0, self.n_items):
            topic_columns = np.ascontiguousarray(self._topic_columns[:, lo:end])
            item_term = np.ascontiguousarray(self.item_term[lo:end])
        # Sparse topics need no (rows, N) utilities at all, so no chunks either.
        chunk = len(rows) if self._sparse is not None else UTILITY_CHUNK_CELLS // max(1, width)
        for start in range(0, len(rows), max(1, chunk)):
            part = rows[start : start + max(1, chunk)]
            if self._sparse is not None:
                order, utility = kernel.sparse_top_lists(
                    self.preference_[part],
                    self._sparse,
                    self.item_term,
                    lo,
                    end,
                    size,
                    groups=self._groups,
                )
                self.order_[part, :size] = order
                self.top_utility_[part, :size] = utility
                continue
            utility = kernel.utility_rows(self.preference_[part], topic_columns, item_term)
            order = top_k(utility, size, validate=False)
            self.order_[part, :size] = order + lo
            self.top_utility_[part, :size] = np.take_along_axis(utility, order, axis=1)
        self.order_[rows, size:] = -1
        self.top_utility_[rows, size:] = -np.inf
        self.list_size_[rows] = size
        self.list_full_[rows] = size == width
        self.list_end_[rows] = end

    def _new_tables(self, n_rows: int, capacity: int) -> None:
        self._table = np.zeros((n_rows, capacity, 3))
        self._table[:, :, kernel.ITEM] = kernel.EMPTY
        self._table_count = np.zeros(n_rows, dtype=np.int64)
        self._bind_arrays()

    def _bind_arrays(self) -> None:
        """The kernel's view of the state arrays (updated in place by steps and resets)."""
        self._arrays = kernel.UserArrays(
            preference=self.preference_,
            top_utility=self.top_utility_,
            order=self.order_,
            list_size=self.list_size_,
            list_full=self.list_full_,
            top_shown=self._top_shown,
            table=self._table,
            table_count=self._table_count,
            clock=self.clock_,
            keys=self.keys_,
            step=self.step_,
            session=self.session_,
            session_step=self.session_step_,
            history_items=self._ring_items,
            history_clicks=self._ring_clicks,
            history_skips=self._ring_skips,
            history_dwell=self._ring_dwell,
        )

    @property
    def drift_step_(self) -> np.ndarray:
        """``(B,)`` int64: the first step at which each user's taste changes, -1 if never:
        the drift step of a drifting user, else the start of a trend (every user's)."""
        return change_steps(self.users, self.drifts_)

    def _utility(self, preference: np.ndarray) -> np.ndarray:
        # Per user, topic by topic in order (envs.model.base_utility): batch-independent; the
        # compiled form has the bits of the numpy sum (tested) at a third of its time.
        return kernel.utility_rows(preference, self._topic_columns, self.item_term)

    # ---- respond ------------------------------------------------------------------------
    def _rows(self, rows: np.ndarray | None) -> np.ndarray:
        return np.arange(len(self.user_ids_)) if rows is None else np.asarray(rows, np.int64)

    @property
    def utility_(self) -> np.ndarray:
        """``(B, N)`` float64 base utility of each user for each item at the current taste.
        Dense, O(B*N), computed on demand: for inspection; steps never build it."""
        return self._utility(self.preference_)

    def _dense(self, rows: np.ndarray | None, field: int) -> np.ndarray:
        rows = self._rows(rows)
        return kernel.dense_rows(rows, self._arrays, self._model, self.users.fatigue_weight)[field]

    def attractiveness(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``(B, N)`` float64: probability that each user (of ``rows``) clicks each item once
        examined. Dense, O(B*N): for inspection; steps never build it."""
        return self._dense(rows, 2)

    def fatigue(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``(B, N)`` float64 current fatigue of each user (of ``rows``) with each item (0 for
        an item whose fatigue no longer counts, see :func:`adaptrec.envs.kernel._negligible`)."""
        return self._dense(rows, 1)

    def oracle_slates(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``(B, k)`` int64: the slate of highest expected clicks (best item in the top slot):
        the k items of highest ``utility - fatigue_weight * fatigue``, ties to the lower id."""
        return kernel.oracle_slates(
            self._rows(rows), self._arrays, self._model, self.users.fatigue_weight, self.slate_size
        )

    def _make_room(self, rows: np.ndarray) -> None:
        """Give every row of ``rows`` room for k new fatigue entries: rebuild full tables
        without their negligible entries, and double every table's capacity if one is still
        too full. A table of capacity >= 2N can never pass half full, so needs no check."""
        capacity = self._table.shape[1]
        if capacity >= 2 * self.n_items:
            return
        limit = capacity // 2 - self.slate_size
        if self._table_count[rows].max(initial=0) <= limit:
            return
        largest = kernel.make_room(
            rows, self._arrays, self._model, self.users.fatigue_weight, limit
        )
        while largest > limit:
            old, count = self._table, self._table_count
            capacity *= 2
            self._new_tables(len(count), capacity)
            self._table_count[:] = count
            kernel.copy_tables(old, self._table)
            limit = capacity // 2 - self.slate_size

    def validate_slates(
        self,
        slates: np.ndarray,
        name: str = "slates",
        n_rows: int | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Check a ``(n_rows, k)`` batch of slates of distinct items live at the step of each
        row (``rows`` of the population, default all)."""
        if not isinstance(slates, np.ndarray):
            slates = np.asarray(slates)
        b = len(self.user_ids_) if n_rows is None else n_rows
        k = self.slate_size
        check_array(name, slates, shape=(b, k), kind="iu")
        steps = self.step_ if rows is None else self.step_[rows]
        lo, hi = self.catalog.live_bounds(steps)
        bad = kernel.first_invalid_slate(slates, lo, hi) if slates.size else -1
        if bad >= 0:
            row = slates[bad]
            outside = row[(row < 0) | (row >= self.n_items)]
            if outside.size:
                raise ValueError(
                    f"{name} must hold item indices in [0, {self.n_items - 1}], "
                    f"got {int(outside[0])}"
                )
            gone = row[(row < lo[bad]) | (row >= hi[bad])]
            if gone.size:
                item = int(gone[0])
                arrive = int(arrival_steps(self.catalog.arrivals, self.n_items)[item])
                raise ValueError(
                    f"{name} must hold items live at step {int(steps[bad])} (ids "
                    f"[{int(lo[bad])}, {int(hi[bad])})), got item {item}, which "
                    + (f"arrives at step {arrive}" if item >= hi[bad] else "has expired")
                )
            ordered = np.sort(row)
            item = int(ordered[1:][ordered[1:] == ordered[:-1]][0])
            raise ValueError(
                f"{name} must hold {k} distinct items per slate, got item {item} twice in "
                f"{row.tolist()}"
            )
        return slates.astype(np.int64, copy=False)

    def step(
        self, slates: np.ndarray, name: str = "slates", rows: np.ndarray | None = None
    ) -> StepOutcome:
        """Show ``slates`` to the users; return feedback and move time on.

        Args:
            slates: ``(B, k)`` int item indices, one distinct-item slate per stepped user.
            name: what error messages call ``slates``.
            rows: the rows to step (``(B,)`` int, distinct); ``None`` = every row. Other rows
                keep their state (a vector env resetting some users steps the rest).

        Invalid slates raise ``ValueError`` before any state changes, so the population stays
        usable. The outcome's arrays have one entry per stepped row. The work per user is
        O(k) (see :mod:`adaptrec.envs.kernel`), independent of the catalog size.
        """
        rows = self._rows(rows)
        n, k = len(rows), self.slate_size
        slates = np.ascontiguousarray(self.validate_slates(slates, name, n, rows))
        out = kernel.StepOutputs(
            clicked=np.empty((n, k), dtype=bool),
            skipped=np.empty((n, k), dtype=bool),
            dwell=np.empty((n, k), dtype=np.float32),
            click_probability=np.empty((n, k)),
            expected=np.empty(n),
            oracle=np.empty(n),
            reward=np.empty(n),
            session_end=np.empty(n, dtype=bool),
        )
        drift = self.drift_now_[rows].copy()
        self._make_room(rows)
        kernel.step_rows(rows, slates, self._arrays, self._model, self._params, out)
        self._apply_drift(rows)
        return StepOutcome(
            clicked=out.clicked,
            skipped=out.skipped,
            dwell=out.dwell,
            reward=out.reward,
            expected_clicks=out.expected,
            oracle_expected_clicks=out.oracle,
            click_probability=out.click_probability,
            drift=drift,
            session_end=out.session_end,
            truncated=self.step_[rows] >= self.env.max_steps,
        )

    # ---- transition ---------------------------------------------------------------------
    def _apply_drift(self, r) -> None:
        """Set each user's preference for the (new) current step of rows ``r``: a drift (of
        a drifting user) and a trend (of everyone) change it; changed rows get new top lists,
        as do rows whose lists no longer cover the items that have arrived."""
        cfg = self.users
        step, drifts = self.step_[r], self.drifts_[r]
        rows = np.arange(len(self.user_ids_))[r]
        self.drift_now_[r] = change_now(cfg, step, drifts)
        changed = np.zeros(len(rows), dtype=bool)
        if cfg.drift != "none" or cfg.has_trend:
            new = preference_at_steps(
                cfg, step, self.initial_preference_[rows], self.drift_preference_[rows], drifts
            )
            changed = (new != self.preference_[rows]).any(axis=1)
            self.preference_[rows[changed]] = new[changed]
        if self.catalog.changes:
            arrived = self.catalog.live_bounds(step)[1]
            changed |= arrived > self.list_end_[rows]
        if changed.any():
            self._set_utility(rows[changed])

    # ---- observe ------------------------------------------------------------------------
    def agent_user_ids(self) -> np.ndarray:
        """``(B,)`` int64: the user ids agents observe (here: the users' own ids)."""
        return self.user_ids_

    def observations(self) -> dict[str, np.ndarray]:
        """The users' observations, batched: each value has a leading axis of size B (copies).
        A changing catalog adds ``live`` ``(B, 2)`` int64: the ids ``[lo, hi)`` live now."""
        extra = {}
        if self.catalog.changes:
            extra["live"] = np.stack(self.catalog.live_bounds(self.step_), axis=1)
        return {
            **extra,
            "user_id": self.user_ids_.copy(),
            "step": self.step_.copy(),
            "session_step": self.session_step_.copy(),
            "items": kernel.history_in_order(self._ring_items, self.step_),
            "clicks": kernel.history_in_order(self._ring_clicks, self.step_),
            "skips": kernel.history_in_order(self._ring_skips, self.step_),
            "dwell": kernel.history_in_order(self._ring_dwell, self.step_),
        }
