"""The world a run simulates: its catalog (synthetic, MovieLens-calibrated or news-switch) and
its population of users, from the run config."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from adaptrec.core.catalog import Catalog
from adaptrec.core.config import RunConfig
from adaptrec.envs.population import Population
from adaptrec.envs.users import UserPopulation


def make_population(config: RunConfig, catalog: Catalog) -> Population:
    """The users of ``config``'s world (call ``reset`` before stepping)."""
    if config.source.kind == "news-switch":
        from adaptrec.envs.news_switch import NewsSwitchPopulation

        return NewsSwitchPopulation(catalog, config.users, config.env)
    return UserPopulation(catalog, config.users, config.env)


def build_catalog(
    config: RunConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> Catalog:
    """The run's catalog: synthetic from ``config.catalog``, or real movies with users
    calibrated from MovieLens (``config.data = 'movielens:PATH'``; cached in ``cache_dir``)."""
    source = config.source
    if source.kind == "synthetic":
        from adaptrec.core.catalog import make_catalog

        catalog = make_catalog(config.catalog, config.seed)
    elif source.kind == "news-switch":
        from adaptrec.envs.news_switch import news_catalog

        return news_catalog()
    elif source.kind == "coat":
        from adaptrec.data.coat import coat_catalog

        catalog = coat_catalog(source.path, config.calibration)
    else:
        from adaptrec.data.calibration import calibrated_catalog

        catalog = calibrated_catalog(source.path, config.calibration, cache_dir, on_event)
        if config.arrivals.changes:  # movies come out in order of release
            from adaptrec.data.movielens import in_release_order

            catalog = in_release_order(catalog)
    if not config.arrivals.changes:
        return catalog
    needed = config.arrivals.items_needed(config.n_steps)
    if catalog.n_items < needed:
        raise ValueError(
            f"arrivals need {needed} items for the run ({config.arrivals.initial_items} initial + "
            f"{config.arrivals.rate:g} per step for {config.n_steps - 1} steps), but the "
            f"catalog has {catalog.n_items}: lower arrivals.rate or arrivals.lifetime"
        )
    return dataclasses.replace(catalog, arrivals=config.arrivals)
