"""The user model in plain numpy, one user at a time, RecSim-style: the specification.

This module states what a simulated user does, as directly as numpy allows; it is not used to
simulate (too slow: O(N) per step). :mod:`adaptrec.envs.kernel` computes the same model for
thousands of users at O(k) per step, and the tests check the kernel against these functions
step by step on drawn populations: the same clicks, skips and session ends bit for bit, the
same oracle slates, and dwell times, probabilities and fatigue to float rounding.

A user ``u`` facing a slate ``(i_0, ..., i_{k-1})`` at step ``t``::

    utility(u, i)      = item_term(i) + preference(u, t) . topics(i)          (base utility)
    attractive(u, i)   = sigmoid(utility(u, i) - fatigue_weight * fatigue(u, i))
    examined in slot s   with probability examination[s] = (1 + s) ** -position_decay
    click               = examined and (a uniform draw < attractive)
    skip                = examined and not click
    dwell (seconds)     = dwell_scale * (0.5 + attractive) * Exponential(1), clicks only
    reward              = clicks, or the dwell seconds (env.reward = "dwell")
    expected clicks     = sum_s examination[s] * attractive(u, i_s)

then the transition: every item's fatigue decays (``fatigue_decay`` per step), each shown item
adds 1; the user leaves the session with probability ``leave_probability`` (plus
``leave_if_no_click`` after a slate without a click); leaving multiplies every fatigue by
``session_break_recovery`` (time away) and starts the next session. The *oracle* is the myopic
optimum: the k items of highest ``utility - fatigue_weight * fatigue``, best first, ties to the
lower id (with examination decreasing by slot, this maximises expected clicks). A drifting user's
preference moves from the initial to the drift target at ``drift_step``: at once (abrupt) or
linearly over ``drift_duration`` steps (gradual).

Random draws: uniform ``j`` of lane ``L`` at step ``t`` is :func:`adaptrec.core.rng.uniforms`
of (the user's key, ``t``, ``L``, ``j``); lanes: examination 0, click 1, dwell 2, leaving 3.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from adaptrec.core.config import EnvConfig, UserConfig
from adaptrec.core.ranking import top_k
from adaptrec.core.rng import uniforms

LANE_EXAMINE, LANE_CLICK, LANE_DWELL, LANE_LEAVE = 0, 1, 2, 3


@dataclass(frozen=True)
class ModelParams:
    """The parameters of a step, named.

    Attributes:
        examination: ``(k,)`` float64 probability that each slot is examined.
        fatigue_weight: utility lost per unit of fatigue.
        fatigue_decay: per-step multiplier of fatigue.
        session_break_recovery: fatigue multiplier between sessions.
        leave_probability, leave_if_no_click: chance of ending the session (the second is
            added after a slate without a click).
        dwell_scale: mean dwell seconds of a click at attractiveness 0.5.
        dwell_reward: reward = dwell seconds (True) or clicks (False).
    """

    examination: np.ndarray
    fatigue_weight: float
    fatigue_decay: float
    session_break_recovery: float
    leave_probability: float
    leave_if_no_click: float
    dwell_scale: float
    dwell_reward: bool

    @classmethod
    def from_config(cls, users: UserConfig, env: EnvConfig) -> ModelParams:
        return cls(
            examination=(1.0 + np.arange(env.slate_size)) ** -users.position_decay,
            fatigue_weight=users.fatigue_weight,
            fatigue_decay=users.fatigue_decay,
            session_break_recovery=users.session_break_recovery,
            leave_probability=users.leave_probability,
            leave_if_no_click=users.leave_if_no_click,
            dwell_scale=users.dwell_scale,
            dwell_reward=env.reward == "dwell",
        )


@dataclass(frozen=True)
class UserState:
    """One user's hidden state, dense over the catalog (the kernel keeps it lazily).

    Attributes:
        utility: ``(N,)`` float64 base utility of each item.
        fatigue: ``(N,)`` float64 current fatigue with each item.
        key: the user's counter-based random key (uint64).
        step: steps taken so far (the counter of this step's draws).
        session, session_step: session index and steps into it.
    """

    utility: np.ndarray
    fatigue: np.ndarray
    key: np.uint64
    step: int
    session: int = 0
    session_step: int = 0


@dataclass(frozen=True)
class Response:
    """A user's answer to one slate of ``k`` items.

    Attributes:
        clicked, skipped: ``(k,)`` bool.
        dwell: ``(k,)`` float32 seconds, 0 where not clicked.
        click_probability: ``(k,)`` float64 examination x attractiveness per slot.
        expected_clicks: float, the slate's expected clicks.
        reward: float, clicks or dwell seconds.
    """

    clicked: np.ndarray
    skipped: np.ndarray
    dwell: np.ndarray
    click_probability: np.ndarray
    expected_clicks: float
    reward: float


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def base_utility(preference: np.ndarray, topics: np.ndarray, item_term: np.ndarray) -> np.ndarray:
    """``(N,)`` float64 ``item_term + topics @ preference`` (``preference`` ``(T,)``, ``topics``
    ``(N, T)``, ``item_term`` ``(N,)``), summed topic by topic in order as the simulator does."""
    utility = np.array(item_term, dtype=np.float64)
    for topic in range(topics.shape[1]):
        utility += preference[topic] * topics[:, topic]
    return utility


def attractiveness(params: ModelParams, state: UserState) -> np.ndarray:
    """``(N,)`` float64 probability of a click on each item once examined."""
    return sigmoid(state.utility - params.fatigue_weight * state.fatigue)


def _draws(state: UserState, lane: int, n: int) -> np.ndarray:
    return uniforms(np.array([state.key]), np.array([state.step]), lane, n)[0]


def respond(params: ModelParams, state: UserState, slate: np.ndarray) -> Response:
    """The user's clicks, skips and dwell on ``slate`` (``(k,)`` int, distinct items)."""
    k = len(slate)
    attractive = attractiveness(params, state)[slate]
    examined = _draws(state, LANE_EXAMINE, k) < params.examination
    likes = _draws(state, LANE_CLICK, k) < attractive
    clicked = examined & likes
    exponential = -np.log1p(-_draws(state, LANE_DWELL, k))
    seconds = (params.dwell_scale * (0.5 + attractive) * exponential).astype(np.float32)
    dwell = np.where(clicked, seconds, np.float32(0.0))
    probability = params.examination * attractive
    reward = float(dwell.astype(np.float64).sum()) if params.dwell_reward else float(clicked.sum())
    return Response(
        clicked=clicked,
        skipped=examined & ~likes,
        dwell=dwell,
        click_probability=probability,
        expected_clicks=float(probability.sum()),
        reward=reward,
    )


def oracle(
    params: ModelParams, state: UserState, live: tuple[int, int] | None = None
) -> tuple[np.ndarray, float]:
    """The best slate of the items live now (ids ``live = (lo, hi)``, default all) for the
    user's hidden state (``(k,)`` int64, best first) and its expected clicks."""
    score = state.utility - params.fatigue_weight * state.fatigue
    lo, hi = (0, len(score)) if live is None else (int(live[0]), int(live[1]))
    slate = top_k(score[None, lo:hi], len(params.examination))[0] + lo
    return slate, float((params.examination * sigmoid(score[slate])).sum())


def leaves(params: ModelParams, state: UserState, response: Response) -> bool:
    """Whether the user ends the session after this step."""
    chance = params.leave_probability + (
        0.0 if response.clicked.any() else params.leave_if_no_click
    )
    return bool(_draws(state, LANE_LEAVE, 1)[0] < chance)


def transition(
    params: ModelParams, state: UserState, slate: np.ndarray, response: Response
) -> tuple[UserState, bool]:
    """The state after the step, and whether the session ended."""
    fatigue = state.fatigue * params.fatigue_decay
    fatigue[slate] += 1.0
    ends = leaves(params, state, response)
    if ends:
        fatigue *= params.session_break_recovery
    return (
        replace(
            state,
            fatigue=fatigue,
            step=state.step + 1,
            session=state.session + ends,
            session_step=0 if ends else state.session_step + 1,
        ),
        ends,
    )


def preference_at(
    step: int, initial: np.ndarray, target: np.ndarray, drifts: bool, users: UserConfig
) -> np.ndarray:
    """``(T,)`` a user's preference for step ``step`` (its draws happen at that step)."""
    return preference_at_steps(
        users, np.array([step]), initial[None, :], target[None, :], np.array([drifts])
    )[0]


def preference_at_steps(
    users: UserConfig,
    step: np.ndarray,
    initial: np.ndarray,
    target: np.ndarray,
    drifts: np.ndarray,
) -> np.ndarray:
    """``(B, T)`` float64: each user's preference at its ``step`` (``(B,)``), from its
    ``initial`` and ``target`` tastes (``(B, T)``) and whether it drifts (``(B,)`` bool).

    * abrupt: the target from ``drift_step`` on;
    * gradual: linearly from the initial taste to the target over ``drift_duration`` steps
      from ``drift_step`` (``initial + share (target - initial)``; the target itself at share 1);
    * recurring: from ``drift_step`` on, the target for ``cycle_period // 2`` steps, then the
      initial taste as long, and so on;
    * a trend (``trend_topic`` >= 0) adds :meth:`UserConfig.trend_level` to that topic's weight
      of every user, drifting or not.
    """
    step = np.asarray(step, dtype=np.int64)
    moved = np.asarray(drifts, dtype=bool) & (step >= users.drift_step)
    preference = np.array(initial, dtype=np.float64)
    if users.drift == "abrupt":
        preference[moved] = target[moved]
    elif users.drift == "gradual":
        share = np.minimum((step - users.drift_step + 1) / users.drift_duration, 1.0)[:, None]
        blend = np.where(share >= 1, target, initial + share * (target - initial))
        preference[moved] = blend[moved]
    elif users.drift == "recurring":
        half = max(1, users.cycle_period // 2)
        second = moved & (((step - users.drift_step) // half) % 2 == 0)
        preference[second] = target[second]
    if users.has_trend:
        preference[:, users.trend_topic] += users.trend_level(step)
    return preference


def change_now(users: UserConfig, step: np.ndarray, drifts: np.ndarray) -> np.ndarray:
    """``(B,)`` bool: the user's taste changes (starts to, for a gradual drift) at ``step``:
    its drift step, each switch of a recurring drift, and the start of a trend."""
    step = np.asarray(step, dtype=np.int64)
    drifts = np.asarray(drifts, dtype=bool)
    now = np.zeros(step.shape, dtype=bool)
    if users.drift in ("abrupt", "gradual"):
        now = drifts & (step == users.drift_step)
    elif users.drift == "recurring":
        half = max(1, users.cycle_period // 2)
        now = drifts & (step >= users.drift_step) & ((step - users.drift_step) % half == 0)
    if users.has_trend:
        now = now | (step == users.trend_start)
    return now


def change_steps(users: UserConfig, drifts: np.ndarray) -> np.ndarray:
    """``(B,)`` int64: the first step at which each user's taste changes, -1 if never."""
    drifts = np.asarray(drifts, dtype=bool)
    first = np.where(drifts & (users.drift != "none"), users.drift_step, -1).astype(np.int64)
    if users.has_trend:
        first = np.where(first >= 0, np.minimum(first, users.trend_start), users.trend_start)
    return first
