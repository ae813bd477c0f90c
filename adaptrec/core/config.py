"""Frozen, validated, JSON-round-trippable configuration.

Every config is a frozen dataclass whose fields carry a docstring-style comment; construction
validates (bad values raise ``ValueError``/``TypeError`` naming the field), ``to_dict`` /
``from_dict`` round-trip through JSON, and unknown keys are rejected with the allowed names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import sys
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from adaptrec.core.validation import check_agent_name, check_choice, check_float, check_int

AGENT_NAMES = (
    "llm-cosine-seed",
    "popularity",
    "random",
    "oracle",
    "egreedy",
    "thompson",
    "linucb",
    "lin-ts",
    "llm-cosine-hashing",
    "llm-cosine-random",
    "vw",
    "llm-cosine",
    "d-linucb",
    "sw-linucb",
    "glr-linucb",
)
"""Every agent; an agent's position is its random-stream index (new agents go at the end, so
adding one never changes another's results; the literal seed keeps the first agent's streams,
which it had when it was called 'llm-cosine')."""
DISPLAY_ORDER = ("llm-cosine", *(name for name in AGENT_NAMES if name != "llm-cosine"))
"""The order of agents in tables and plots."""
DEFAULT_AGENTS = ("llm-cosine", "llm-cosine-seed", "popularity", "random", "oracle")
ENCODER_KINDS = ("minilm", "hashing")

COMPARE_AGENTS = (
    "llm-cosine",
    "llm-cosine-seed",
    "llm-cosine-hashing",
    "llm-cosine-random",
    "egreedy",
    "thompson",
    "linucb",
    "lin-ts",
    "d-linucb",
    "sw-linucb",
    "glr-linucb",
    "vw",
    "popularity",
    "random",
    "oracle",
)
"""The agents ``adaptrec compare`` runs by default, in its display order."""

C = TypeVar("C", bound="_Config")


class _Config:
    """Mixin: JSON round trip and validated construction from plain dicts."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def digest(self) -> str:
        """A short content hash: equal configs give equal digests."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], *, where: str = "") -> C:
        if not isinstance(data, dict):
            raise TypeError(f"{where or cls.__name__} must be a mapping, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(names))
        if unknown:
            prefix = f"{where}." if where else ""
            raise ValueError(
                f"unknown config field {prefix}{unknown[0]}; allowed: {', '.join(names)}"
            )
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            hint = hints[name]
            path = f"{where}.{name}" if where else name
            if isinstance(hint, type) and issubclass(hint, _Config):
                value = hint.from_dict(value, where=path)
            elif typing.get_origin(hint) is tuple and isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class CatalogConfig(_Config):
    n_items: int = 2000
    """Number of items in the synthetic catalog."""
    n_topics: int = 20
    """Hidden topics (10-24); each item's text is written from its topics."""
    secondary_topic_weight: float = 0.3
    """Mean share of an item's topic mass outside its main topic (0 = single-topic items)."""
    quality_alpha: float = 2.0
    """Beta(alpha, beta) prior of the hidden item quality in [0, 1]."""
    quality_beta: float = 2.0

    def __post_init__(self) -> None:
        check_int("catalog.n_items", self.n_items, low=2, high=10_000_000)
        check_int("catalog.n_topics", self.n_topics, low=2, high=24)
        check_float("catalog.secondary_topic_weight", self.secondary_topic_weight, low=0, high=0.45)
        check_float("catalog.quality_alpha", self.quality_alpha, low=0, low_open=True)
        check_float("catalog.quality_beta", self.quality_beta, low=0, low_open=True)


@dataclass(frozen=True)
class ArrivalConfig(_Config):
    """A changing catalog: items that arrive during the run and expire (every data source).

    Item ids are in order of arrival and every item stays equally long, so the items live at
    a step are one range of ids. Item ``i`` arrives at step ``floor((i - initial) / rate) + 1``
    (the first ``initial`` items are there at step 0, their arrivals staggered back in time at
    the same rate so that they expire one after another) and expires ``lifetime`` steps after
    it arrives.
    """

    rate: float = 0.0
    """New items per step (0 = a fixed catalog: every item live at every step)."""
    lifetime: int = 0
    """Steps an item stays live after it arrives (0 = forever: a growing catalog)."""
    initial: int = 0
    """Items live at step 0 (0 = rate x lifetime, the steady state; required without a
    lifetime)."""

    def __post_init__(self) -> None:
        check_float("arrivals.rate", self.rate, low=0, high=1_000_000)
        check_int("arrivals.lifetime", self.lifetime, low=0)
        check_int("arrivals.initial", self.initial, low=0)
        if self.rate > 0 and self.lifetime == 0 and self.initial == 0:
            raise ValueError(
                "arrivals.initial must be > 0 for a growing catalog (arrivals.lifetime=0), got 0"
            )

    @property
    def changes(self) -> bool:
        """Whether the catalog changes during a run."""
        return self.rate > 0

    @property
    def initial_items(self) -> int:
        """Items live at step 0."""
        return self.initial or round(self.rate * self.lifetime)

    def items_needed(self, n_steps: int) -> int:
        """Catalog size for arrivals to go on until step ``n_steps - 1``."""
        return self.initial_items + math.ceil(self.rate * max(0, n_steps - 1))


@dataclass(frozen=True)
class UserConfig(_Config):
    preference_scale: float = 2.5
    """Std of each user's own topic weights: larger = pickier users, bigger gap to random."""
    population_preference_scale: float = 1.0
    """Std of the topic weights all users share (the population's taste; 0 = none)."""
    click_intercept: float = -2.0
    """Logit of clicking an examined item of zero utility."""
    quality_weight: float = 1.0
    """Utility per unit of (quality - 0.5)."""
    position_decay: float = 0.7
    """Examination probability of slot p is (1 + p) ** -position_decay."""
    fatigue_weight: float = 0.3
    """Utility lost per unit of fatigue with an item."""
    fatigue_decay: float = 0.8
    """Per-step multiplier of fatigue (it recovers geometrically); +1 per exposure."""
    session_break_recovery: float = 0.2
    """Fatigue multiplier between sessions (time away)."""
    leave_probability: float = 0.02
    """Chance per step of ending the session regardless of the slate."""
    leave_if_no_click: float = 0.1
    """Extra chance to end the session after a slate with no click."""
    dwell_scale: float = 30.0
    """Mean dwell time in seconds of a click on an item of attractiveness 0.5."""
    drift: str = "abrupt"
    """'none', 'abrupt' (switch at drift_step), 'gradual' (linear over drift_duration steps) or
    'recurring' (from drift_step on, the user's taste alternates between the second and the
    first one every cycle_period / 2 steps: interests that follow the time of day)."""
    drift_step: int = 150
    """Step at which drift starts; must be >= 1."""
    drift_fraction: float = 0.5
    """Fraction of users whose preference drifts."""
    drift_duration: int = 50
    """Steps over which a gradual drift moves to the new preference."""
    cycle_period: int = 50
    """Steps of one cycle of a 'recurring' drift (each taste holds for half of it)."""
    trend_topic: int = -1
    """A trend: hidden topic that becomes more attractive to every user for a while (-1 =
    none); its weight in every user's preference rises by trend_boost at trend_start, holds
    for trend_duration steps, then fades linearly to nothing over trend_fade steps."""
    trend_boost: float = 3.0
    """Utility added to the trending topic's weight at the trend's height."""
    trend_start: int = 100
    """Step at which the trend starts (for every user: it is the users' change step)."""
    trend_duration: int = 50
    """Steps the trend holds at full strength."""
    trend_fade: int = 50
    """Steps over which the trend fades out (1 = at once)."""

    def __post_init__(self) -> None:
        check_float("users.preference_scale", self.preference_scale, low=0)
        check_float("users.population_preference_scale", self.population_preference_scale, low=0)
        check_float("users.click_intercept", self.click_intercept, low=-20, high=20)
        check_float("users.quality_weight", self.quality_weight, low=-20, high=20)
        check_float("users.position_decay", self.position_decay, low=0, high=10)
        check_float("users.fatigue_weight", self.fatigue_weight, low=0)
        # Open at 0: fatigue decays on a log clock (log 0 is undefined; use a tiny value instead).
        check_float("users.fatigue_decay", self.fatigue_decay, low=0, low_open=True, high=1)
        check_float(
            "users.session_break_recovery",
            self.session_break_recovery,
            low=0,
            low_open=True,
            high=1,
        )
        check_float("users.leave_probability", self.leave_probability, low=0, high=1)
        check_float("users.leave_if_no_click", self.leave_if_no_click, low=0, high=1)
        check_float("users.dwell_scale", self.dwell_scale, low=0, low_open=True)
        check_choice("users.drift", self.drift, ("none", "abrupt", "gradual", "recurring"))
        check_int("users.drift_step", self.drift_step, low=1)
        check_float("users.drift_fraction", self.drift_fraction, low=0, high=1)
        check_int("users.drift_duration", self.drift_duration, low=1)
        check_int("users.cycle_period", self.cycle_period, low=2)
        check_int("users.trend_topic", self.trend_topic, low=-1, high=1023)
        check_float("users.trend_boost", self.trend_boost, low=-20, high=20)
        check_int("users.trend_start", self.trend_start, low=1)
        check_int("users.trend_duration", self.trend_duration, low=0)
        check_int("users.trend_fade", self.trend_fade, low=1)

    @property
    def has_trend(self) -> bool:
        return self.trend_topic >= 0

    def trend_level(self, step: np.ndarray) -> np.ndarray:
        """``(B,)`` float64: the trend's boost at each user's ``step`` (0 without a trend)."""
        step = np.asarray(step)
        if not self.has_trend:
            return np.zeros(step.shape)
        since = step - self.trend_start
        fading = since - self.trend_duration
        level = np.where(since < 0, 0.0, 1.0)
        level = np.where(
            fading >= 0, np.clip(1.0 - (fading + 1) / self.trend_fade, 0.0, 1.0), level
        )
        return self.trend_boost * level


@dataclass(frozen=True)
class EnvConfig(_Config):
    slate_size: int = 5
    """Items per slate (k)."""
    history_length: int = 10
    """Past steps of (slate, clicks, dwell) in the observation."""
    max_steps: int = 300
    """Steps per episode (one user's stream of sessions); the episode is truncated there."""
    reward: str = "clicks"
    """'clicks' (number of clicks) or 'dwell' (seconds of dwell) per step."""

    def __post_init__(self) -> None:
        check_int("env.slate_size", self.slate_size, low=1, high=1000)
        check_int("env.history_length", self.history_length, low=1, high=10_000)
        check_int("env.max_steps", self.max_steps, low=1)
        check_choice("env.reward", self.reward, ("clicks", "dwell"))


@dataclass(frozen=True)
class LLMCosineConfig(_Config):
    learning_rate: float = 3e-3
    """Adam step size of the behaviour predictor."""
    hidden: int = 64
    """Hidden units of the predictor MLP."""
    projection_dim: int = 32
    """Width of the learned projections of user and item vectors fed to the MLP."""
    epsilon: float = 0.0
    """Per-slot probability of showing a uniformly random item instead (exploration)."""
    user_decay: float = 0.9
    """Forgetting factor of the user-vector estimate per step (lower adapts faster to drift)."""
    skip_weight: float = 1.0
    """Weight of an examined-but-skipped item, pushed away from the user vector: the user vector
    moves towards a topic whose click rate once examined exceeds skip_weight / (1 + skip_weight)."""
    prior_weight: float = 1.0
    """Weight of the population prior in the user vector (cold start), in clicks."""
    candidates: int = 200
    """Items retrieved by cosine before re-ranking by cos x P (0 = the whole catalog)."""
    avoid_recent: bool = True
    """Rank items shown in the observed history (last history_length slates) below all others,
    so a liked item is not shown until the user is tired of it and skips it as if disliked."""
    updates_per_step: int = 1
    """Optimiser steps on each step's feedback."""
    user_model: str = "ridge"
    """How the user vector u is estimated: 'ridge' (a Bayesian ridge regression per user of
    click on the item's language-model vector, in its top ``ridge_dim`` whitened principal
    directions, with the population's regression as prior mean;
    :mod:`adaptrec.agents.llm_cosine.user_model`) or 'rocchio' (the seed's decayed sum of
    clicked minus skipped item vectors plus the population's click direction)."""
    ridge_dim: int = 32
    """Principal directions of the item vectors the ridge user model works in."""
    ridge: float = 30.0
    """Prior precision of the ridge user model: weight, in examined items, of the population
    prior mean."""
    ridge_prior: str = "empirical"
    """Covariance of the ridge user model's population prior: 'isotropic' (precision ``ridge``
    in every direction) or 'empirical' (empirical Bayes: re-estimated after every step from
    how the users' estimates spread around the population's, so the prior is weak along the
    directions in which users differ; it starts isotropic). See the README's measurements."""
    noise_variance: float = 0.25
    """The 'empirical' prior's variance of a click around its predicted rate (at most 1/4 for
    a 0/1 outcome): the scale between a user's evidence and the prior."""
    prior_smoothing: float = 0.9
    """The 'empirical' prior's weight of its previous estimate at each step's update."""
    forgetting: float = 0.99
    """Per-step forgetting of the ridge user model (1 = never): evidence older than about
    1 / (1 - forgetting) steps fades, so a changed taste is relearned without being announced."""
    change_detector: str = "two-speed"
    """How the ridge user model notices a changed taste besides forgetting: 'none'
    (forgetting alone), 'cusum' (a one-sided CUSUM of clicks falling short of the estimate's
    predictions, ``sum(clip(x . theta, 0, 1) - y - change_slack)``; past ``change_threshold``
    the user restarts from the population prior), 'two-speed' (each user also keeps a fast
    posterior forgetting at ``fast_forgetting``; a CUSUM of the fast posterior's predictive
    log-likelihood ratio over the slow one's on the examined items, past ``change_threshold``
    nats, replaces the slow posterior by the fast one) or 'glr' (a one-sided Bernoulli GLR test
    on the user's clicks, confidence ``glr_delta``, looking back ``glr_window`` steps; an alarm
    replaces the slow posterior by the fast one). See the README's measurements."""
    change_threshold: float = 3.0
    """Threshold of the CUSUM detectors ('cusum': clicks; 'two-speed': nats)."""
    change_slack: float = 0.25
    """Per examined item, the shortfall of clicks that the 'cusum' detector ignores."""
    fast_forgetting: float = 0.9
    """Per-step forgetting of the fast posterior of the 'two-speed' and 'glr' detectors."""
    glr_delta: float = 0.01
    """Confidence of the 'glr' detector's test (smaller: later and rarer alarms)."""
    glr_window: int = 200
    """Steps the 'glr' detector looks back over."""
    ts_scale: float = 0.0
    """Thompson sampling: the cosine uses a draw of the ridge user model's coefficients from
    their posterior, scaled by this (0 = the posterior mean, no draw). Uniform ``epsilon``
    exploration comes on top."""
    item_bias: float = 5.0
    """Per-item term in P(y|x): the item's shrunk log-odds of a click once examined, pooled
    over users, added to the predictor's logit (which learns the rest). The value is the
    shrinkage, in pseudo-examinations at the global click rate; 0 turns the term off."""
    text_profile: float = 0.0
    """Weight of a user profile written by the language model in the user vector: the
    embedding of the texts of the user's last ``profile_items`` clicked items, blended as
    ``u = normalise((1 - w) u + w profile)`` (:mod:`adaptrec.agents.llm_cosine.profile`);
    0 = off (the README's measurements: it did not pay)."""
    profile_items: int = 3
    """Clicked items a text profile lists, newest first."""
    profile_every: int = 10
    """Steps between rebuilds of a user's text profile (each is one language-model pass)."""
    center_items: bool = True
    """Subtract the catalog's mean item vector before the cosine. Texts written to one template
    (movie records, one-word topics) share a large common direction; with it, skips push the
    user vector against that direction until every cosine is negative and cos x P ranks the
    least likely items first. Centring removes it (see the README's measurements)."""

    def __post_init__(self) -> None:
        check_float("llm_cosine.learning_rate", self.learning_rate, low=0, low_open=True, high=1)
        check_int("llm_cosine.hidden", self.hidden, low=1, high=4096)
        check_int("llm_cosine.projection_dim", self.projection_dim, low=1, high=4096)
        check_float("llm_cosine.epsilon", self.epsilon, low=0, high=1)
        check_float("llm_cosine.user_decay", self.user_decay, low=0, high=1)
        check_float("llm_cosine.skip_weight", self.skip_weight, low=0)
        check_float("llm_cosine.prior_weight", self.prior_weight, low=0)
        check_int("llm_cosine.candidates", self.candidates, low=0)
        check_int("llm_cosine.updates_per_step", self.updates_per_step, low=0, high=100)
        check_choice("llm_cosine.user_model", self.user_model, ("ridge", "rocchio"))
        check_int("llm_cosine.ridge_dim", self.ridge_dim, low=1, high=4096)
        check_float("llm_cosine.ridge", self.ridge, low=0, low_open=True)
        check_choice("llm_cosine.ridge_prior", self.ridge_prior, ("isotropic", "empirical"))
        check_float(
            "llm_cosine.noise_variance", self.noise_variance, low=0, low_open=True, high=0.25
        )
        check_float(
            "llm_cosine.prior_smoothing", self.prior_smoothing, low=0, high=1, high_open=True
        )
        check_float("llm_cosine.forgetting", self.forgetting, low=0, low_open=True, high=1)
        check_float("llm_cosine.ts_scale", self.ts_scale, low=0)
        check_choice(
            "llm_cosine.change_detector",
            self.change_detector,
            ("none", "cusum", "two-speed", "glr"),
        )
        check_float("llm_cosine.change_threshold", self.change_threshold, low=0, low_open=True)
        check_float("llm_cosine.change_slack", self.change_slack, low=0, high=1)
        check_float(
            "llm_cosine.fast_forgetting", self.fast_forgetting, low=0, low_open=True, high=1
        )
        check_float(
            "llm_cosine.glr_delta", self.glr_delta, low=0, low_open=True, high=1, high_open=True
        )
        check_int("llm_cosine.glr_window", self.glr_window, low=2, high=100_000)
        check_float("llm_cosine.item_bias", self.item_bias, low=0)
        check_float("llm_cosine.text_profile", self.text_profile, low=0, high=1)
        check_int("llm_cosine.profile_items", self.profile_items, low=1, high=100)
        check_int("llm_cosine.profile_every", self.profile_every, low=1)
        if not isinstance(self.center_items, bool):
            raise TypeError(f"llm_cosine.center_items must be a bool, got {self.center_items!r}")
        if not isinstance(self.avoid_recent, bool):
            raise TypeError(f"llm_cosine.avoid_recent must be a bool, got {self.avoid_recent!r}")


def seed_agent_config(**overrides: Any) -> LLMCosineConfig:
    """The seed agent as first built: a Rocchio user vector (decayed sum of clicked minus
    skipped item vectors plus the population's click direction), no per-item term, 5% uniform
    exploration; ``overrides`` replace further fields."""
    values: dict[str, Any] = {
        "user_model": "rocchio",
        "item_bias": 0.0,
        "ts_scale": 0.0,
        "epsilon": 0.05,
    }
    return LLMCosineConfig(**{**values, **overrides})


@dataclass(frozen=True)
class PopularityConfig(_Config):
    epsilon: float = 0.1
    """Per-slot exploration probability (without it the first slate locks in forever)."""
    avoid_recent: bool = True
    """Skip items shown in the observed history (otherwise every user tires of one slate)."""

    def __post_init__(self) -> None:
        check_float("popularity.epsilon", self.epsilon, low=0, high=1)
        if not isinstance(self.avoid_recent, bool):
            raise TypeError(f"popularity.avoid_recent must be a bool, got {self.avoid_recent!r}")


@dataclass(frozen=True)
class CalibrationConfig(_Config):
    """How users are calibrated from real ratings (used when ``data`` is not synthetic)."""

    factors: int = 32
    """Latent factors of the rating model (matrix factorisation with user and item biases)."""
    iterations: int = 15
    """Alternating-least-squares sweeps (each solves every user, then every item, exactly)."""
    regularization: float = 0.15
    """L2 weight per rating of a user's or item's factors and bias (weighted-lambda ALS)."""
    test_fraction: float = 0.1
    """Share of ratings held out (seeded) to measure RMSE and AUC; the model is fit on the rest."""
    link_slope: float = 2.0
    """Click logit per predicted star: P(click | examined) = sigmoid(slope * (rating - center))."""
    link_center: float = 4.0
    """Predicted rating clicked half the time when examined (4 = MovieLens' "liked")."""
    tags_per_item: int = 3
    """Most frequent user tags written into each movie's text."""
    seed: int = 0
    """Seed of the split and the initial factors: the fitted users are a fixed data set,
    whatever the run's seed."""

    def __post_init__(self) -> None:
        check_int("calibration.factors", self.factors, low=1, high=512)
        check_int("calibration.iterations", self.iterations, low=1, high=1000)
        check_float("calibration.regularization", self.regularization, low=0, low_open=True)
        check_float("calibration.test_fraction", self.test_fraction, low=0, high=0.5)
        check_float("calibration.link_slope", self.link_slope, low=0, low_open=True, high=100)
        check_float("calibration.link_center", self.link_center, low=-10, high=10)
        check_int("calibration.tags_per_item", self.tags_per_item, low=0, high=100)
        check_int("calibration.seed", self.seed, low=0, high=2**63 - 1)


class DataSource(typing.NamedTuple):
    """Where a run's catalog and users come from: ``kind`` is ``"synthetic"``,
    ``"news-switch"``, ``"movielens"`` or ``"coat"`` (then ``path`` is the data directory)."""

    kind: str
    path: str | None = None


DATA_KINDS = ("movielens", "coat")
"""Real data sets read from a directory: ``KIND:PATH``."""


def parse_data(value: Any) -> DataSource:
    """``RunConfig.data`` (``'synthetic'``, ``'news-switch'``, ``'movielens:PATH'`` or
    ``'coat:PATH'``), parsed once; a bad value raises ``ValueError`` naming the accepted forms."""
    if isinstance(value, str):
        if value in ("synthetic", "news-switch"):
            return DataSource(value)
        kind, _, path = value.partition(":")
        if kind in DATA_KINDS and path:
            return DataSource(kind, path)
    raise ValueError(
        "data must be 'synthetic', 'news-switch', 'movielens:PATH' (a MovieLens directory) or "
        f"'coat:PATH' (the Coat shopping data), got {value!r}"
    )


def check_data(value: Any) -> str:
    """``data`` is one of the forms :func:`parse_data` accepts; returns it."""
    parse_data(value)
    return value


@dataclass(frozen=True)
class PrivacyConfig(_Config):
    """Local differential privacy of the feedback agents learn from (:mod:`adaptrec.privacy`)."""

    epsilon: float | None = None
    """Randomised response on every shown slot's click, each bit epsilon-LDP (a user's step of
    k slots k * epsilon, a run of T steps T * k * epsilon); agents see no skips, dwell or
    feedback history and learn from unbiased estimates of the clicks. null: no privacy."""

    def __post_init__(self) -> None:
        if self.epsilon is not None:
            check_float("privacy.epsilon", self.epsilon, low=0, low_open=True, high=100)


@dataclass(frozen=True)
class BanditConfig(_Config):
    """The bandit baselines (egreedy, thompson, linucb, lin-ts; epsilon also for vw)."""

    epsilon: float = 0.05
    """Per-slot probability of a uniformly random item (epsilon-greedy; extra exploration for
    the others, 0 to rely on their own)."""
    prior_strength: float = 2.0
    """Trials' worth of the population's click rate on an item in a user's estimate (count
    bandits); 0 = the user's own counts only."""
    forgetting: float = 1.0
    """Per-step multiplier of past evidence (1 = keep everything; e.g. 0.98 for drift)."""
    dim: int = 32
    """Principal components of the item vectors used as linear-bandit features."""
    ridge: float = 1.0
    """Ridge (prior precision) of the linear bandits."""
    alpha: float = 0.5
    """LinUCB's width of the confidence bonus."""
    ts_scale: float = 0.5
    """Linear Thompson sampling's posterior scale v."""
    avoid_recent: bool = True
    """Rank items shown in the observed history below all others (as the seed agent does)."""
    discount: float = 0.99
    """D-LinUCB's discount gamma of past evidence per step of a user."""
    window: int = 100
    """SW-LinUCB's sliding window, in steps of a user."""
    glr_delta: float = 0.01
    """GLR-LinUCB's change test confidence (smaller: later and rarer restarts)."""
    glr_window: int = 200
    """Steps GLR-LinUCB's change test looks back over."""

    def __post_init__(self) -> None:
        check_float("bandits.discount", self.discount, low=0, low_open=True, high=1)
        check_int("bandits.window", self.window, low=1, high=100_000)
        check_float(
            "bandits.glr_delta", self.glr_delta, low=0, low_open=True, high=1, high_open=True
        )
        check_int("bandits.glr_window", self.glr_window, low=2, high=100_000)
        check_float("bandits.epsilon", self.epsilon, low=0, high=1)
        check_float("bandits.prior_strength", self.prior_strength, low=0)
        check_float("bandits.forgetting", self.forgetting, low=0, low_open=True, high=1)
        check_int("bandits.dim", self.dim, low=1, high=4096)
        check_float("bandits.ridge", self.ridge, low=0, low_open=True)
        check_float("bandits.alpha", self.alpha, low=0)
        check_float("bandits.ts_scale", self.ts_scale, low=0)
        if not isinstance(self.avoid_recent, bool):
            raise TypeError(f"bandits.avoid_recent must be a bool, got {self.avoid_recent!r}")


@dataclass(frozen=True)
class RunConfig(_Config):
    n_users: int = 400
    """Simulated users (each with its own seed stream)."""
    n_steps: int = 300
    """Steps per user."""
    seed: int = 0
    """Root seed: reproduces the run exactly."""
    agents: tuple[str, ...] = DEFAULT_AGENTS
    """Agents to run, each on the same users."""
    encoder: str = "minilm"
    """'minilm' (bundled all-MiniLM-L6-v2), 'hashing', or a local sentence-transformers dir."""
    window: int = 20
    """Trailing window (steps) of time-to-adapt and recovery."""
    threshold: float = 0.9
    """Fraction of the oracle's expected clicks that counts as adapted."""
    bootstrap_resamples: int = 2000
    """Resamples of the 95% bootstrap intervals over users."""
    torch_threads: int = 1
    """Torch threads while simulating. Torch's float sums depend on the thread count, so this is
    part of the run's definition: with 1 (the default) a seed reproduces a run on any machine;
    more is faster on big batches but reproduces only with the same count."""
    shard_size: int = 0
    """Users per shard (0 = one shard of all users). Each shard has its own agent instance, so
    results depend on the shards, never on how many workers run them."""
    log_level: str = "slot"
    """What the step logs hold: 'slot' (one row per user, step and slot: items, clicks, skips,
    dwell, propensities; every figure) or 'step' (one row per user and step, clicks counted,
    no items: every adaptation figure, but no new-item figures or off-policy evaluation; for
    huge runs)."""
    explain: bool = False
    """Log why each item was shown: the score's parts (cosine, click probability, item term,
    recent-item penalty), its ranks before and after re-ranking, and exploration, as extra
    step-log columns (llm-cosine agents; null for others). For 'slot' logs; read them with
    ``adaptrec explain``."""
    data: str = "synthetic"
    """'synthetic' (generated catalog and tastes), 'movielens:PATH' (real movies and users
    calibrated from the MovieLens ratings in directory PATH) or 'news-switch' (Vowpal Wabbit's
    two-reader tutorial world, :mod:`adaptrec.envs.news_switch`); ``catalog`` is used only by
    'synthetic'."""
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    arrivals: ArrivalConfig = field(default_factory=ArrivalConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    users: UserConfig = field(default_factory=UserConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    llm_cosine: LLMCosineConfig = field(default_factory=LLMCosineConfig)
    llm_cosine_seed: LLMCosineConfig = field(default_factory=lambda: seed_agent_config())
    """The literal seed agent ('llm-cosine-seed'): Rocchio user vector, no item term, uniform
    epsilon exploration (:func:`seed_agent_config`)."""
    popularity: PopularityConfig = field(default_factory=PopularityConfig)
    bandits: BanditConfig = field(default_factory=BanditConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)

    def __post_init__(self) -> None:
        check_int("n_users", self.n_users, low=1, high=10_000_000)
        check_int("n_steps", self.n_steps, low=1, high=10_000_000)
        check_int("seed", self.seed, low=0, high=2**63 - 1)
        if isinstance(self.agents, str) or not isinstance(self.agents, tuple) or not self.agents:
            raise TypeError(f"agents must be a non-empty tuple of names, got {self.agents!r}")
        for name in self.agents:  # which names exist is the registry's to say, at run time
            check_agent_name(name, "agents")
        if len(set(self.agents)) != len(self.agents):
            raise ValueError(f"agents must not repeat a name, got {self.agents!r}")
        if not isinstance(self.encoder, str) or not self.encoder:
            raise TypeError(f"encoder must be 'minilm', 'hashing' or a path, got {self.encoder!r}")
        check_int("window", self.window, low=1)
        check_float("threshold", self.threshold, low=0, low_open=True, high=1)
        check_int("bootstrap_resamples", self.bootstrap_resamples, low=100)
        check_int("torch_threads", self.torch_threads, low=1, high=256)
        check_int("shard_size", self.shard_size, low=0)
        check_choice("log_level", self.log_level, ("slot", "step"))
        if not isinstance(self.explain, bool):
            raise TypeError(f"explain must be true or false, got {self.explain!r}")
        if self.explain and self.log_level != "slot":
            raise ValueError(
                f"explain needs log_level 'slot' (one row per shown item), got {self.log_level!r}"
            )
        check_data(self.data)
        for name, kind in (
            ("catalog", CatalogConfig),
            ("arrivals", ArrivalConfig),
            ("calibration", CalibrationConfig),
            ("users", UserConfig),
            ("env", EnvConfig),
            ("llm_cosine", LLMCosineConfig),
            ("llm_cosine_seed", LLMCosineConfig),
            ("popularity", PopularityConfig),
            ("bandits", BanditConfig),
            ("privacy", PrivacyConfig),
        ):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        if self.env.max_steps < self.n_steps:
            raise ValueError(
                f"env.max_steps must be >= n_steps={self.n_steps}, got {self.env.max_steps}"
            )
        if self.source.kind == "synthetic" and self.env.slate_size > self.catalog.n_items:
            raise ValueError(
                f"env.slate_size must be <= catalog.n_items={self.catalog.n_items}, "
                f"got {self.env.slate_size}"
            )
        synthetic = self.source.kind == "synthetic"
        if "vw" in self.agents and synthetic and self.catalog.n_items > 1000:
            raise ValueError(
                "agents: vw scores one Vowpal Wabbit example line per item and takes catalogs "
                f"of at most 1000 items; got catalog.n_items={self.catalog.n_items}"
            )
        if self.window > self.n_steps:
            raise ValueError(f"window must be <= n_steps={self.n_steps}, got {self.window}")
        self._check_arrivals()

    def _check_arrivals(self) -> None:
        arrivals, k = self.arrivals, self.env.slate_size
        if not arrivals.changes:
            return
        if self.source.kind == "news-switch":
            raise ValueError("arrivals.rate must be 0 for data 'news-switch' (seven fixed topics)")
        live = arrivals.initial_items
        if arrivals.lifetime:
            live = min(live, math.floor(arrivals.rate * arrivals.lifetime))
        if live < k:
            raise ValueError(
                f"arrivals must keep at least env.slate_size={k} items live, got "
                f"{live} (rate {arrivals.rate:g} x lifetime {arrivals.lifetime}, initial "
                f"{arrivals.initial_items})"
            )
        needed = arrivals.items_needed(self.n_steps)
        if self.source.kind == "synthetic" and self.catalog.n_items < needed:
            raise ValueError(
                f"catalog.n_items must be >= {needed} for arrivals to last the run "
                f"({arrivals.initial_items} initial + {arrivals.rate:g} per step for "
                f"{self.n_steps - 1} steps), got {self.catalog.n_items}"
            )

    @property
    def source(self) -> DataSource:
        """:attr:`data` parsed (the config keeps the string form, so its JSON and digest stay
        what they were)."""
        return parse_data(self.data)


def halfway(n_steps: int) -> int:
    """The default drift step of a run of ``n_steps`` steps."""
    return max(1, n_steps // 2)


def default_run_config(
    n_users: int = RunConfig.n_users, n_steps: int = RunConfig.n_steps, **overrides: Any
) -> RunConfig:
    """The embedded default of ``adaptrec run``: drift halfway, episode as long as the run."""
    users = overrides.pop("users", UserConfig(drift_step=halfway(n_steps)))
    env = overrides.pop("env", EnvConfig(max_steps=n_steps))
    overrides.setdefault("window", min(RunConfig.window, n_steps))  # fits a short run
    return RunConfig(n_users=n_users, n_steps=n_steps, users=users, env=env, **overrides)


def set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``tree["a"]["b"] = value`` for ``dotted`` = ``"a.b"``, creating tables on the way."""
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
        if not isinstance(tree, dict):
            raise ValueError(f"config field {dotted!r} goes through {part!r}, which is not a table")
    tree[leaf] = value


def merge_trees(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``into`` updated in place with ``extra``, nested tables merged key by key."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge_trees(into[key], value)
        else:
            into[key] = value
    return into


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"section.field=value"`` -> ``("section.field", value)``; the value is read as JSON
    (numbers, true/false, lists, quoted strings) and otherwise kept as the plain string, so
    ``llm_cosine.epsilon=0.1``, ``env.avoid_repeats=false``, ``agents=["random","oracle"]`` and
    ``data=movielens:../ml`` all work."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name or any(not part.isidentifier() for part in name.split(".")):
        raise ValueError(f"--set must look like section.field=value, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name, value


def resolve(tree: dict[str, Any], explicit: Iterable[str] = ()) -> RunConfig:
    """The one place where defaults that follow other fields are derived, then validated.

    ``tree`` is a (possibly partial) :meth:`RunConfig.to_dict` tree; ``explicit`` names the
    dotted fields the user set. A drift step that was not set explicitly and does not fall
    inside the run moves to :func:`halfway` (one that was set is refused: the drift would never
    happen), a window that was not set shrinks to a short run, a trend's start that was not
    set moves inside the run, and ``env.max_steps`` (the episode length) grows to at least
    ``n_steps``.
    """
    explicit = set(explicit)
    steps = tree.get("n_steps", RunConfig.n_steps)
    users = tree.setdefault("users", {})
    drift_step = users.get("drift_step", UserConfig.drift_step)
    if "users.drift_step" not in explicit and drift_step >= steps:
        users["drift_step"] = halfway(steps)
    elif users.get("drift", UserConfig.drift) != "none" and drift_step >= steps:
        raise ValueError(
            f"users.drift_step must be below n_steps={steps} for a drift to happen, got "
            f"{drift_step} (use --drift none for a run without one)"
        )
    if "window" not in explicit and tree.get("window", RunConfig.window) > steps:
        tree["window"] = steps  # a window you did not set fits a short run
    trend_start = users.get("trend_start", UserConfig.trend_start)
    if users.get("trend_topic", -1) >= 0 and trend_start >= steps:
        if "users.trend_start" in explicit:
            raise ValueError(
                f"users.trend_start must be below n_steps={steps} for the trend to happen, "
                f"got {trend_start}"
            )
        users["trend_start"] = max(1, steps // 3)
    env = tree.setdefault("env", {})
    if "env.max_steps" not in explicit:
        env["max_steps"] = max(env.get("max_steps", steps), steps)
    return RunConfig.from_dict(tree)


def field_docs() -> list[tuple[str, str, str]]:
    """Every settable field of :class:`RunConfig` as ``(dotted name, default as JSON, doc)``,
    in declaration order: the docs are the string literals under each field in this module's
    source (read with :mod:`ast`), so ``adaptrec run --help`` and the code cannot disagree."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(sys.modules[__name__]))
    docs: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            body = node.body
            for here, after in itertools.pairwise(body):
                if (
                    isinstance(here, ast.AnnAssign)
                    and isinstance(here.target, ast.Name)
                    and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)
                ):
                    docs[node.name, here.target.id] = " ".join(after.value.value.split())
    rows: list[tuple[str, str, str]] = []

    def walk(config: _Config, prefix: str) -> None:
        for f in dataclasses.fields(config):  # type: ignore[arg-type]
            value = getattr(config, f.name)
            if isinstance(value, _Config):
                walk(value, f"{prefix}{f.name}.")
            else:
                doc = docs.get((type(config).__name__, f.name), "")
                rows.append((f"{prefix}{f.name}", json.dumps(value), doc))

    walk(RunConfig(), "")
    return rows
