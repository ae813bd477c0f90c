"""Hypothesis strategies with the shapes and dtypes adaptrec uses.

* :func:`embeddings` - ``(N, d)`` float32 item vectors, with the awkward rows real catalogs
  produce: all-zero rows (empty text), exact duplicates (repeated text), huge and tiny norms.
* :func:`user_vectors` - ``(B, d)`` float32, zero rows included.
* :func:`score_matrices` - ``(B, N)`` float finite scores with frequent exact ties.
* :func:`slates` - ``(B, k)`` int64 slates of distinct items.
* :func:`catalog_configs`, :func:`user_configs`, :func:`env_configs` - small valid configs.
* :func:`populations` - a :class:`~adaptrec.envs.UserPopulation` after a random number of
  steps with random or oracle slates (a reachable user state, best items often tired).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import ArrivalConfig, CatalogConfig, EnvConfig, UserConfig
from adaptrec.envs.users import UserPopulation

_FINITE32 = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def embeddings(draw: st.DrawFn, max_items: int = 40, max_dim: int = 16, dim: int | None = None):
    """``(N, d)`` float32 finite vectors; some rows zero, duplicated, huge or tiny."""
    n = draw(st.integers(1, max_items))
    d = dim if dim is not None else draw(st.integers(1, max_dim))
    vectors = draw(arrays(np.float32, (n, d), elements=_FINITE32))
    for row in range(n):
        kind = draw(st.sampled_from(["plain", "plain", "zero", "duplicate", "huge", "tiny"]))
        if kind == "zero":
            vectors[row] = 0.0
        elif kind == "duplicate" and row > 0:
            vectors[row] = vectors[draw(st.integers(0, row - 1))]
        elif kind == "huge":
            vectors[row] *= np.float32(1e30)
        elif kind == "tiny":
            vectors[row] *= np.float32(1e-30)
    return vectors


@st.composite
def user_vectors(draw: st.DrawFn, dim: int, max_batch: int = 8):
    """``(B, dim)`` float32 finite user vectors, zero rows included."""
    b = draw(st.integers(1, max_batch))
    users = draw(arrays(np.float32, (b, dim), elements=_FINITE32))
    zero = draw(arrays(np.bool_, b))
    users[zero] = 0.0
    return users


@st.composite
def score_matrices(draw: st.DrawFn, max_rows: int = 6, max_columns: int = 40) -> np.ndarray:
    """``(B, N)`` float64 finite scores: half the time drawn from a few values (exact ties
    everywhere), half the time continuous (ties rare)."""
    b, n = draw(st.integers(1, max_rows)), draw(st.integers(1, max_columns))
    if draw(st.booleans()):
        return draw(arrays(np.float64, (b, n), elements=st.floats(-1.0, 1.0)))
    palette = draw(st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=6))
    picks = draw(arrays(np.int64, (b, n), elements=st.integers(0, len(palette) - 1)))
    return np.asarray(palette, dtype=np.float64)[picks]


@st.composite
def slates(draw: st.DrawFn, n_items: int, k: int, batch: int) -> np.ndarray:
    """``(batch, k)`` int64 slates of distinct items in ``[0, n_items)``."""
    item = st.integers(0, n_items - 1)
    rows = [draw(st.lists(item, min_size=k, max_size=k, unique=True)) for _ in range(batch)]
    return np.asarray(rows, dtype=np.int64).reshape(batch, k)


def catalog_configs() -> st.SearchStrategy[CatalogConfig]:
    """Small valid catalogs."""
    return st.builds(
        CatalogConfig,
        n_items=st.integers(12, 60),
        n_topics=st.integers(2, 24),
        secondary_topic_weight=st.floats(0.0, 0.45),
    )


def user_configs() -> st.SearchStrategy[UserConfig]:
    """Valid user models across the parameter ranges, drift of every kind."""
    return st.builds(
        UserConfig,
        preference_scale=st.floats(0.0, 5.0),
        population_preference_scale=st.floats(0.0, 3.0),
        click_intercept=st.floats(-5.0, 5.0),
        quality_weight=st.floats(-3.0, 3.0),
        position_decay=st.floats(0.0, 3.0),
        fatigue_weight=st.floats(0.0, 3.0),
        fatigue_decay=st.floats(0.01, 1.0),
        session_break_recovery=st.floats(0.01, 1.0),
        leave_probability=st.floats(0.0, 1.0),
        leave_if_no_click=st.floats(0.0, 1.0),
        drift=st.sampled_from(["none", "abrupt", "gradual", "recurring"]),
        drift_step=st.integers(1, 8),
        drift_fraction=st.floats(0.0, 1.0),
        drift_duration=st.integers(1, 5),
        cycle_period=st.integers(2, 6),
        trend_topic=st.sampled_from([-1, -1, 0, 1]),  # catalogs have >= 2 topics
        trend_boost=st.floats(-3.0, 3.0),
        trend_start=st.integers(1, 8),
        trend_duration=st.integers(0, 4),
        trend_fade=st.integers(1, 4),
    )


def env_configs(max_slate: int = 5) -> st.SearchStrategy[EnvConfig]:
    """Valid env settings with small slates and histories."""
    return st.builds(
        EnvConfig,
        slate_size=st.integers(1, max_slate),
        history_length=st.integers(1, 4),
        max_steps=st.integers(1, 30),
        reward=st.sampled_from(["clicks", "dwell"]),
    )


def arrival_configs() -> st.SearchStrategy[ArrivalConfig]:
    """Changing catalogs: items arriving (fractional rates too) and expiring, or a growing
    catalog; at least 5 items live at every step."""
    return st.one_of(
        st.builds(
            ArrivalConfig,
            rate=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
            lifetime=st.integers(10, 30),
        ),
        st.builds(ArrivalConfig, rate=st.sampled_from([0.5, 2.0]), initial=st.integers(5, 20)),
    )


@st.composite
def live_slates(draw: st.DrawFn, population: UserPopulation) -> np.ndarray:
    """``(B, k)`` int64 slates of distinct items live at each user's step."""
    lo, hi = population.catalog.live_bounds(population.step_)
    k = population.slate_size
    rows = [
        draw(st.lists(st.integers(int(a), int(b) - 1), min_size=k, max_size=k, unique=True))
        for a, b in zip(lo, hi, strict=True)
    ]
    return np.array(rows, dtype=np.int64).reshape(len(rows), k)


@st.composite
def populations(
    draw: st.DrawFn, max_users: int = 5, min_users: int = 1, changing: bool = False
) -> UserPopulation:
    """A population after 0-12 steps of random or oracle slates: a reachable user state;
    with ``changing``, maybe of a catalog whose items arrive and expire."""
    catalog = make_catalog(draw(catalog_configs()), draw(st.integers(0, 2**16)))
    if changing and draw(st.booleans()):
        arrivals = draw(arrival_configs())
        if catalog.n_items < arrivals.items_needed(100):
            catalog = make_catalog(
                CatalogConfig(n_items=arrivals.items_needed(100), n_topics=catalog.n_topics),
                draw(st.integers(0, 2**16)),
            )
        catalog = dataclasses.replace(catalog, arrivals=arrivals)
    env = draw(env_configs())
    population = UserPopulation(
        catalog,
        draw(user_configs()),
        EnvConfig(
            slate_size=env.slate_size,
            history_length=env.history_length,
            max_steps=100,
            reward=env.reward,
        ),
    )
    n_users = draw(st.integers(min_users, max_users))
    population.reset(np.arange(n_users) * 7, draw(st.integers(0, 2**16)))
    for _ in range(draw(st.integers(0, 12))):
        # Oracle slates tire the users' best items, so states with stale top lists appear.
        if draw(st.booleans()):
            population.step(population.oracle_slates())
        elif catalog.changes:
            population.step(draw(live_slates(population)))
        else:
            population.step(draw(slates(catalog.n_items, env.slate_size, n_users)))
    return population
