"""Simulated users as arrays over users, and the one step kernel every environment uses.

A user has a hidden preference over the catalog's hidden topics (not the agents' embedding
space, so no agent is favoured by construction): a taste shared by the population plus the
user's own. Facing a slate, the user examines slot ``p``
with probability ``(1 + p) ** -position_decay`` and clicks an examined item with probability

    attractiveness = sigmoid(click_intercept + pref . topics_i
                             + quality_weight * (quality_i - 0.5) - fatigue_weight * fatigue_i)

A click has a dwell time (exponential, longer for more attractive items); an examined item not
clicked is a *skip*. Every exposure adds 1 to the user's fatigue with that item, and fatigue
decays by ``fatigue_decay`` per step, so repeats get tiresome and then recover. After each step
the user may end the session (more likely after a slate without clicks); the user comes back
for the next session with the same hidden state, fatigue mostly recovered. A fraction of users
drifts to a new preference at ``drift_step``: abruptly, or linearly over ``drift_duration``.

Randomness: the initial state of user ``i`` comes from its own ``SeedSequence`` stream; per-step
draws come from a counter-based generator keyed by user and step
(:func:`adaptrec.core.rng.uniforms`).
Every operation is elementwise per user, so a user's trajectory is bit-identical whether it is
simulated alone or in a batch of thousands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adaptrec.core.catalog import Catalog
from adaptrec.core.config import EnvConfig, UserConfig
from adaptrec.core.rng import Component, generator, uniforms, user_keys
from adaptrec.core.scoring import _top_k
from adaptrec.core.validation import check_array

# Lanes of the per-step counter RNG (append only: changing them changes every trajectory).
_LANE_EXAMINE, _LANE_CLICK, _LANE_DWELL, _LANE_LEAVE = 0, 1, 2, 3


@dataclass(frozen=True)
class StepOutcome:
    """What one step of B users produced.

    Attributes:
        clicked, skipped: ``(B, k)`` bool; skipped = examined and not clicked.
        dwell: ``(B, k)`` float32 seconds, 0 where not clicked.
        reward: ``(B,)`` float64 - clicks or dwell seconds, as configured.
        expected_clicks: ``(B,)`` float64 expected clicks of the shown slate.
        oracle_expected_clicks: ``(B,)`` float64 expected clicks of the best slate.
        click_probability: ``(B, k)`` float64 probability of a click in each shown slot.
        drift: ``(B,)`` bool - the user's preference changed at this step.
        session_end: ``(B,)`` bool - the user ended the session after this step.
        truncated: ``(B,)`` bool - the user reached ``max_steps``.
    """

    clicked: np.ndarray
    skipped: np.ndarray
    dwell: np.ndarray
    reward: np.ndarray
    expected_clicks: np.ndarray
    oracle_expected_clicks: np.ndarray
    click_probability: np.ndarray
    drift: np.ndarray
    session_end: np.ndarray
    truncated: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


class UserPopulation:
    """B simulated users stepping together (struct of arrays).

    Args:
        catalog: the items (hidden topics and quality are read here, never by agents).
        users: user-model parameters.
        env: slate size, history length, episode length and reward.

    Call :meth:`reset` with the user ids and root seed, then :meth:`step` with ``(B, k)`` slates.
    Learned/state attributes end in ``_``.
    """

    def __init__(self, catalog: Catalog, users: UserConfig, env: EnvConfig) -> None:
        if env.slate_size > catalog.n_items:
            raise ValueError(
                f"env.slate_size must be <= the catalog's {catalog.n_items} items, "
                f"got {env.slate_size}"
            )
        self.catalog, self.users, self.env = catalog, users, env
        self.n_items, self.slate_size = catalog.n_items, env.slate_size
        self.examination = (1.0 + np.arange(env.slate_size)) ** -users.position_decay
        # Columns of the topic matrix, contiguous: utility is a per-user elementwise sum over
        # topics, so the result does not depend on the batch (a BLAS matmul's rounding can).
        self._topic_columns = np.ascontiguousarray(catalog.topics.T)
        self._item_bias = users.click_intercept + users.quality_weight * (catalog.quality - 0.5)

    # ---- sample -------------------------------------------------------------------------
    def reset(self, user_ids: np.ndarray, root_seed: int) -> None:
        """Sample users ``user_ids`` (``(B,)`` int) from their own streams of ``root_seed``."""
        user_ids = np.asarray(user_ids)
        check_array("user_ids", user_ids, shape=(None,), kind="iu")
        b, n_topics, cfg = len(user_ids), self.catalog.n_topics, self.users
        self.root_seed_ = int(root_seed)
        # The taste every user shares, from the population's own stream of the root seed.
        self.shared_preference_ = generator(root_seed, Component.POPULATION).normal(
            0.0, cfg.population_preference_scale, n_topics
        )
        h, k = self.env.history_length, self.slate_size
        self.user_ids_ = np.zeros(b, dtype=np.int64)
        self.initial_preference_ = np.empty((b, n_topics))
        self.drift_preference_ = np.empty((b, n_topics))
        self.drifts_ = np.empty(b, dtype=bool)
        self.keys_ = np.empty(b, dtype=np.uint64)
        self.step_ = np.zeros(b, dtype=np.int64)
        self.session_ = np.zeros(b, dtype=np.int64)
        self.session_step_ = np.zeros(b, dtype=np.int64)
        self.fatigue_ = np.zeros((b, self.n_items))
        self.history_items_ = np.full((b, h, k), -1, dtype=np.int64)
        self.history_clicks_ = np.zeros((b, h, k), dtype=np.int8)
        self.history_skips_ = np.zeros((b, h, k), dtype=np.int8)
        self.history_dwell_ = np.zeros((b, h, k), dtype=np.float32)
        self.preference_ = np.empty((b, n_topics))
        self.utility_ = np.empty((b, self.n_items))
        self.drift_now_ = np.zeros(b, dtype=bool)
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
        for row, user in zip(rows, user_ids, strict=True):
            rng = generator(self.root_seed_, Component.USER_INIT, int(user))
            own = rng.normal(0, cfg.preference_scale, n_topics)
            self.initial_preference_[row] = self.shared_preference_ + own
            own = rng.normal(0, cfg.preference_scale, n_topics)
            self.drift_preference_[row] = self.shared_preference_ + own
            self.drifts_[row] = cfg.drift != "none" and rng.random() < cfg.drift_fraction
        self.user_ids_[rows] = user_ids
        self.keys_[rows] = user_keys(self.root_seed_, Component.USER_STEP, user_ids)
        for array, value in (
            (self.step_, 0),
            (self.session_, 0),
            (self.session_step_, 0),
            (self.fatigue_, 0.0),
            (self.history_items_, -1),
            (self.history_clicks_, 0),
            (self.history_skips_, 0),
            (self.history_dwell_, 0.0),
            (self.drift_now_, False),
        ):
            array[rows] = value
        self.preference_[rows] = self.initial_preference_[rows]
        self.utility_[rows] = self._utility(self.preference_[rows])

    @property
    def drift_step_(self) -> np.ndarray:
        """``(B,)`` int64: the step at which each user's taste starts to change, -1 if never."""
        return np.where(self.drifts_, self.users.drift_step, -1)

    def _utility(self, preference: np.ndarray) -> np.ndarray:
        utility = np.broadcast_to(self._item_bias, (len(preference), self.n_items)).copy()
        for topic, column in enumerate(self._topic_columns):
            utility += preference[:, topic : topic + 1] * column
        return utility

    # ---- respond ------------------------------------------------------------------------
    def attractiveness(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``(B, N)`` float64: probability that each user (of ``rows``) clicks each item once
        examined."""
        return _sigmoid(self.utility_[rows] - self.users.fatigue_weight * self.fatigue_[rows])

    def oracle_slates(self, attractiveness: np.ndarray | None = None) -> np.ndarray:
        """``(B, k)`` int64: the slate of highest expected clicks (best item in the top slot)."""
        attractiveness = self.attractiveness() if attractiveness is None else attractiveness
        return _top_k(attractiveness, self.slate_size)

    def validate_slates(
        self, slates: np.ndarray, name: str = "slates", n_rows: int | None = None
    ) -> np.ndarray:
        """Check a ``(n_rows, k)`` batch of slates of distinct, in-range item indices."""
        if not isinstance(slates, np.ndarray):
            slates = np.asarray(slates)
        b = len(self.user_ids_) if n_rows is None else n_rows
        k = self.slate_size
        check_array(name, slates, shape=(b, k), kind="iu")
        if slates.size and (slates.min() < 0 or slates.max() >= self.n_items):
            bad = slates[(slates < 0) | (slates >= self.n_items)][0]
            raise ValueError(
                f"{name} must hold item indices in [0, {self.n_items - 1}], got {int(bad)}"
            )
        ordered = np.sort(slates, axis=1)
        repeated = ordered[:, 1:] == ordered[:, :-1]
        if repeated.any():
            row = int(np.nonzero(repeated.any(axis=1))[0][0])
            item = int(ordered[row, 1:][repeated[row]][0])
            raise ValueError(
                f"{name} must hold {k} distinct items per slate, got item {item} twice in "
                f"{slates[row].tolist()}"
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
        usable. The outcome's arrays have one entry per stepped row.
        """
        r = slice(None) if rows is None else np.asarray(rows, dtype=np.int64)
        n = len(self.user_ids_) if rows is None else len(r)
        slates = self.validate_slates(slates, name, n)
        local = np.arange(n)[:, None]
        k, cfg = self.slate_size, self.users
        keys, step = self.keys_[r], self.step_[r]

        # respond: click probabilities of this slate and of the best possible one
        attractiveness = self.attractiveness(r)
        shown = attractiveness[local, slates]
        click_probability = self.examination * shown
        expected = click_probability.sum(axis=1)
        best = np.take_along_axis(attractiveness, self.oracle_slates(attractiveness), axis=1)
        oracle = (self.examination * best).sum(axis=1)

        # respond: sample examination, clicks and dwell from the users' own streams
        examined = uniforms(keys, step, _LANE_EXAMINE, k) < self.examination
        clicked = examined & (uniforms(keys, step, _LANE_CLICK, k) < shown)
        skipped = examined & ~clicked
        exponential = -np.log1p(-uniforms(keys, step, _LANE_DWELL, k))
        dwell = np.where(clicked, cfg.dwell_scale * (0.5 + shown) * exponential, 0.0)
        dwell = dwell.astype(np.float32)
        n_clicks = clicked.sum(axis=1)
        if self.env.reward == "clicks":
            reward = n_clicks.astype(np.float64)
        else:
            reward = dwell.sum(axis=1, dtype=np.float64)
        leave = cfg.leave_probability + cfg.leave_if_no_click * (n_clicks == 0)
        session_end = uniforms(keys, step, _LANE_LEAVE, 1)[:, 0] < leave
        drift = self.drift_now_[r].copy()

        # transition: fatigue, sessions, history, time, drift
        fatigue = self.fatigue_[r]  # a view for all rows, a copy (written back) for some
        fatigue *= cfg.fatigue_decay
        fatigue[local, slates] += 1.0
        fatigue[session_end] *= cfg.session_break_recovery
        if rows is not None:
            self.fatigue_[r] = fatigue
        self.session_[r] += session_end
        self.session_step_[r] = np.where(session_end, 0, self.session_step_[r] + 1)
        self._push_history(r, slates, clicked, skipped, dwell)
        self.step_[r] += 1
        self._apply_drift(r)
        return StepOutcome(
            clicked=clicked,
            skipped=skipped,
            dwell=dwell,
            reward=reward,
            expected_clicks=expected,
            oracle_expected_clicks=oracle,
            click_probability=click_probability,
            drift=drift,
            session_end=session_end,
            truncated=self.step_[r] >= self.env.max_steps,
        )

    # ---- transition ---------------------------------------------------------------------
    def _push_history(self, r, slates, clicked, skipped, dwell) -> None:
        for array, new in (
            (self.history_items_, slates),
            (self.history_clicks_, clicked),
            (self.history_skips_, skipped),
            (self.history_dwell_, dwell),
        ):
            array[r, 1:] = array[r, :-1]  # index 0 is the most recent step
            array[r, 0] = new

    def _apply_drift(self, r) -> None:
        """Set each drifting user's preference for the (new) current step of rows ``r``."""
        cfg = self.users
        step, drifts = self.step_[r], self.drifts_[r]
        self.drift_now_[r] = drifts & (step == cfg.drift_step)
        if cfg.drift == "abrupt":
            moving = drifts & (step == cfg.drift_step)
            fraction = np.ones(len(moving))
        elif cfg.drift == "gradual":
            elapsed = step - cfg.drift_step + 1
            moving = drifts & (elapsed >= 1) & (elapsed <= cfg.drift_duration)
            fraction = np.minimum(elapsed / cfg.drift_duration, 1.0)
        else:
            return
        if moving.any():
            target = np.arange(len(self.user_ids_))[r][moving]
            start, end = self.initial_preference_[target], self.drift_preference_[target]
            share = fraction[moving, None]
            # At share 1 take the new preference itself, not start + (end - start) rounded.
            self.preference_[target] = np.where(share >= 1, end, start + share * (end - start))
            self.utility_[target] = self._utility(self.preference_[target])

    # ---- observe ------------------------------------------------------------------------
    def observations(self) -> dict[str, np.ndarray]:
        """The users' observations, batched: each value has a leading axis of size B (copies)."""
        return {
            "user_id": self.user_ids_.copy(),
            "step": self.step_.copy(),
            "session_step": self.session_step_.copy(),
            "items": self.history_items_.copy(),
            "clicks": self.history_clicks_.copy(),
            "skips": self.history_skips_.copy(),
            "dwell": self.history_dwell_.copy(),
        }
