"""Named scenarios: run configs for the questions adaptrec asks, selectable by name.

============== ==========================================================================
name           what it isolates
============== ==========================================================================
cold-start     no drift: how fast a recommender personalises from a user's first visit
abrupt-drift   half the users switch to a new taste halfway (the default run)
gradual-drift  half the users move to a new taste linearly over a sixth of the run
fatigue-heavy  strong, slowly recovering fatigue: repeats hurt, variety matters
fresh-content  the catalog turns over: 5 new items arrive per step with their text and each
               expires 100 steps after it arrived (500 live at a time); no taste drift. With
               data movielens:PATH, movies arrive in order of release, 20 per step
recurring      half the users' interests follow a cycle (the time of day): from step 25 they
               switch between two tastes every 25 steps
trend-shock    one topic becomes much more attractive to everyone at step 100 (+3 to its
               weight), holds for 50 steps, then fades out over 50
news-switch    Vowpal Wabbit's content-personalisation tutorial (two readers, two times of
               day, seven topics, preferences switched at step 5,000 of 10,000); every agent
               explores with the tutorial's epsilon 0.2, bandits forget at 0.97 per visit,
               and a replicate counts as adapted
               when its trailing 100-step CTR reaches 90% of the best CTR that epsilon allows
============== ==========================================================================

:func:`scenario_config` returns the :class:`~adaptrec.core.config.RunConfig` of a scenario;
anything passed as ``overrides`` (e.g. ``n_users``, ``agents``, ``seed``, ``data``) replaces the
scenario's value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from adaptrec.core.config import (
    ArrivalConfig,
    BanditConfig,
    EnvConfig,
    LLMCosineConfig,
    PopularityConfig,
    RunConfig,
    UserConfig,
    default_run_config,
    halfway,
    seed_agent_config,
)
from adaptrec.core.validation import check_choice

SCENARIOS = (
    "cold-start",
    "abrupt-drift",
    "gradual-drift",
    "fatigue-heavy",
    "news-switch",
    "fresh-content",
    "recurring",
    "trend-shock",
)
FRESH_RATE, FRESH_LIFETIME = 5.0, 100
"""fresh-content's arrivals: new items per step and steps each stays (synthetic catalog)."""
FRESH_RATE_MOVIELENS = 20.0
"""fresh-content's movies per step on MovieLens (9,742 movies: 2,000 at the start and 20 a
step last 300 steps)."""
TREND_TOPIC = 0
"""trend-shock's trending topic (0: crime; a topic, not a user, so every seed's population
meets the same trend)."""
NEWS_EPSILON = 0.2
NEWS_TOPICS = 7
NEWS_CEILING = (1 - NEWS_EPSILON) + NEWS_EPSILON / NEWS_TOPICS
"""Best expected CTR of any policy that explores uniformly with probability 0.2 (0.829)."""
NEWS_FORGETTING = 0.97
"""The bandits' forgetting in news-switch (without it their counts never let go of the old
preferences: measured, they stay censored)."""


def scenario_config(
    name: str, n_users: int | None = None, n_steps: int | None = None, **overrides: Any
) -> RunConfig:
    """The run config of scenario ``name`` (one of :data:`SCENARIOS`).

    ``n_users`` / ``n_steps`` default to 400 x 300 (news-switch: 10 replicates x 10,000 steps);
    drift happens halfway. ``overrides`` are further :class:`RunConfig` fields.
    """
    check_choice("scenario", name, SCENARIOS)
    if name == "news-switch":
        return _news_switch(n_users or 10, n_steps or 10_000, overrides)
    n_users, n_steps = n_users or RunConfig.n_users, n_steps or RunConfig.n_steps
    config = default_run_config(n_users, n_steps)
    users = config.users
    if name == "cold-start":
        users = dataclasses.replace(users, drift="none")
    elif name == "gradual-drift":
        users = dataclasses.replace(users, drift="gradual", drift_duration=max(1, n_steps // 6))
    elif name == "fatigue-heavy":
        users = dataclasses.replace(users, fatigue_weight=1.0, fatigue_decay=0.95)
    elif name == "recurring":
        period = max(2, min(50, n_steps // 6))
        users = dataclasses.replace(
            users, drift="recurring", cycle_period=period, drift_step=max(1, period // 2)
        )
    elif name == "trend-shock":
        start = max(1, n_steps // 3)
        users = dataclasses.replace(
            users,
            drift="none",
            trend_topic=TREND_TOPIC,
            trend_start=start,
            trend_duration=max(0, n_steps // 6),
            trend_fade=max(1, n_steps // 6),
        )
    elif name == "fresh-content":
        users = dataclasses.replace(users, drift="none")
        movielens = str(overrides.get("data", "synthetic")).startswith("movielens:")
        rate = FRESH_RATE_MOVIELENS if movielens else FRESH_RATE
        lifetime = min(FRESH_LIFETIME, n_steps)
        arrivals = ArrivalConfig(rate=rate, lifetime=lifetime)
        catalog = dataclasses.replace(
            config.catalog,
            n_items=max(config.catalog.n_items, arrivals.items_needed(n_steps)),
        )
        config = dataclasses.replace(config, arrivals=arrivals, catalog=catalog)
    return dataclasses.replace(config, users=users, **overrides)


def _news_switch(n_users: int, n_steps: int, overrides: dict[str, Any]) -> RunConfig:
    window = min(100, n_steps)
    return RunConfig(
        **{
            "n_users": n_users,
            "n_steps": n_steps,
            "data": "news-switch",
            # One agent per replicate: replicates are independent repetitions of the tutorial.
            "shard_size": 1,
            "window": window,
            # Relative to the oracle's CTR of 1: 90% of the epsilon-0.2 ceiling.
            "threshold": round(0.9 * NEWS_CEILING, 6),
            "users": UserConfig(drift="abrupt", drift_step=halfway(n_steps), drift_fraction=1.0),
            "env": EnvConfig(slate_size=1, history_length=10, max_steps=n_steps),
            # No fatigue here, so no agent skips what it showed recently.
            "llm_cosine": LLMCosineConfig(epsilon=NEWS_EPSILON, candidates=0, avoid_recent=False),
            "llm_cosine_seed": seed_agent_config(
                epsilon=NEWS_EPSILON, candidates=0, avoid_recent=False
            ),
            "popularity": PopularityConfig(epsilon=NEWS_EPSILON, avoid_recent=False),
            # Drift: the bandits forget (per visit of a reader at a time of day); the seed
            # agent's user vector already decays (llm_cosine.user_decay).
            "bandits": BanditConfig(
                epsilon=NEWS_EPSILON, avoid_recent=False, forgetting=NEWS_FORGETTING
            ),
            **overrides,
        }
    )
