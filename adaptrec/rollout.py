"""The rollout loop: a population of users, one agent, every step logged.

All users of a shard step together through a :class:`~adaptrec.envs.population.Population`;
each user's randomness comes from its own seed stream, and every agent meets the same users
(common random numbers), so agents are compared on identical people.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import torch

from adaptrec.agents import Agent, StepBatch, make_agent
from adaptrec.agents.base import propensities_of
from adaptrec.core.catalog import Catalog
from adaptrec.core.config import RunConfig
from adaptrec.envs.population import Population, StepOutcome
from adaptrec.logs import (
    EXPLANATION_FIELDS,
    StepWriter,
    merge_arrays,
    step_table,
    table_arrays,
)
from adaptrec.privacy import RandomizedResponse
from adaptrec.timing import NO_CLOCK
from adaptrec.world import make_population

ProgressCallback = Callable[[str, int], None]


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run a block with ``threads`` torch (and at most that many numba) threads, then
    restore the process's settings.

    Torch's float sums depend on the thread count, so a simulation runs under its config's
    count wherever it runs (this process, a Ray worker, another machine). numba's kernels
    give the same numbers on any number of threads; capping them keeps Ray workers that
    share a machine from oversubscribing its cores.
    """
    previous, previous_numba = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(threads)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
        numba.set_num_threads(previous_numba)


def interact(
    agent: Agent,
    population: Population,
    clock=NO_CLOCK,
    privacy: RandomizedResponse | None = None,
    metrics: dict[str, float] | None = None,
) -> tuple[np.ndarray, StepOutcome]:
    """One step of every user: observe, act, respond, learn.

    Returns the ``(B, k)`` int64 slates shown and the users' (true) :class:`StepOutcome`.
    ``clock`` (:class:`adaptrec.timing.StageClock`) times the simulator and the agent apart.
    With ``privacy``, the agent observes no feedback history and learns from the randomised
    clicks alone (:mod:`adaptrec.privacy`). ``metrics``, if given, receives what the agent's
    ``update`` returned (its training figures).
    """
    with clock("simulate"):
        observation = population.observations()
    with clock("agent"):
        shown = observation if privacy is None else privacy.observation(observation)
        slates = agent.act(shown)
    with clock("simulate"):
        outcome = population.step(slates)
    with clock("agent"):
        batch = StepBatch(
            user_ids=observation["user_id"],
            step=observation["step"],
            slates=slates,
            clicked=outcome.clicked,
            skipped=outcome.skipped,
            dwell=outcome.dwell,
            reward=outcome.reward,
        )
        learned = agent.update(batch if privacy is None else privacy.batch(batch))
    if metrics is not None:
        metrics.clear()
        metrics.update(learned or {})
    return slates, outcome


def log_columns(
    population: Population,
    step: np.ndarray,
    session: np.ndarray,
    slates: np.ndarray,
    outcome: StepOutcome,
    propensity: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The rows of one step in :data:`adaptrec.logs.STEP_SCHEMA` order, one per (user, slot).

    ``step`` and ``session`` are the ``(B,)`` values *before* the step; ``propensity`` is
    ``(B, k)`` (NaN = none; default all NaN).
    """
    if propensity is None:
        propensity = np.full(slates.shape, np.nan)
    n_users, k = slates.shape
    return {
        "user": np.repeat(population.user_ids_.astype(np.int32), k),
        "step": np.repeat(step.astype(np.int32), k),
        "slot": np.tile(np.arange(k, dtype=np.int8), n_users),
        "item": slates.reshape(-1).astype(np.int32),
        "clicked": outcome.clicked.reshape(-1),
        "skipped": outcome.skipped.reshape(-1),
        "dwell": outcome.dwell.reshape(-1),
        "click_probability": outcome.click_probability.reshape(-1),
        "expected_clicks": np.repeat(outcome.expected_clicks, k),
        "oracle_expected_clicks": np.repeat(outcome.oracle_expected_clicks, k),
        "reward": np.repeat(outcome.reward, k),
        "drift": np.repeat(outcome.drift, k),
        "drift_step": np.repeat(population.drift_step_.astype(np.int32), k),
        "session": np.repeat(session.astype(np.int32), k),
        "session_end": np.repeat(outcome.session_end, k),
        "propensity": propensity.reshape(-1),
    }


def explanation_columns(agent: Agent, slates: np.ndarray) -> dict[str, np.ndarray]:
    """:data:`adaptrec.logs.EXPLANATION_FIELDS` of one step, one value per (user, slot), as
    float64 (NaN: null): the agent's ``last_explanation_``, or nulls for an agent that does
    not explain itself."""
    parts = getattr(agent, "last_explanation_", None) if getattr(agent, "explain", False) else None
    return {
        field.name: np.full(slates.size, np.nan)
        if parts is None
        else np.asarray(parts[field.name], dtype=np.float64).reshape(-1)
        for field in EXPLANATION_FIELDS
    }


def step_row_columns(
    population: Population, step: np.ndarray, session: np.ndarray, outcome: StepOutcome
) -> dict[str, np.ndarray]:
    """The rows of one step at ``log_level = "step"`` (:data:`adaptrec.logs.STEP_ROW_SCHEMA`):
    one per user, the slate's clicks counted."""
    return {
        "user": population.user_ids_.astype(np.int32),
        "step": step.astype(np.int32),
        "clicks": outcome.clicked.sum(axis=1).astype(np.int16),
        "expected_clicks": outcome.expected_clicks,
        "oracle_expected_clicks": outcome.oracle_expected_clicks,
        "reward": outcome.reward,
        "drift": outcome.drift,
        "drift_step": population.drift_step_.astype(np.int32),
        "session": session.astype(np.int32),
        "session_end": outcome.session_end,
    }


def shards(config: RunConfig) -> list[np.ndarray]:
    """The run's users split into shards of ``config.shard_size`` (one shard if 0), in order."""
    users = np.arange(config.n_users)
    size = config.shard_size or config.n_users
    return [users[start : start + size] for start in range(0, config.n_users, size)]


def simulate_shard(
    config: RunConfig,
    agent_name: str,
    catalog: Catalog,
    item_vectors: np.ndarray,
    user_ids: np.ndarray,
    progress: Callable[[int], None] | None = None,
) -> pa.Table:
    """Simulate one shard of users for ``config.n_steps`` steps under a fresh agent.

    Returns the shard's step rows (:data:`adaptrec.logs.STEP_SCHEMA` without metadata), step by
    step. A pure function of its arguments: any worker gives the same table.
    """
    return _simulate(config, agent_name, catalog, item_vectors, user_ids, progress)


def simulate_shard_with_arrays(
    config: RunConfig,
    agent_name: str,
    catalog: Catalog,
    item_vectors: np.ndarray,
    user_ids: np.ndarray,
    progress: Callable[[int], None] | None = None,
    clock=NO_CLOCK,
    live_dir: str | os.PathLike[str] | None = None,
) -> tuple[pa.Table, dict]:
    """:func:`simulate_shard` and the shard's per-user arrays for the analysis
    (:func:`adaptrec.logs.table_arrays`), computed where the shard ran: the report merges them
    instead of reading the rows back (the same numbers: tested). With ``live_dir``, the
    shard's learning is also written there as it goes (:mod:`adaptrec.live`)."""
    table = _simulate(
        config, agent_name, catalog, item_vectors, user_ids, progress, clock, live_dir
    )
    with clock("analysis"):
        return table, table_arrays(table, config)


def _simulate(
    config, agent_name, catalog, item_vectors, user_ids, progress, clock=NO_CLOCK, live_dir=None
) -> pa.Table:
    with clock("simulate"):
        population = make_population(config, catalog)
        population.reset(user_ids, config.seed)
    per_step = config.log_level == "step"
    epsilon = config.privacy.epsilon
    privacy = None if epsilon is None else RandomizedResponse(epsilon, config.seed)
    live, metrics = None, {}
    if live_dir is not None:
        from adaptrec.live import LiveView, shard_label

        live = LiveView(live_dir, agent_name, shard_label(user_ids, config.n_users))
    batches = []
    with torch_threads(config.torch_threads):
        with clock("agent"):
            agent = make_agent(agent_name, config, item_vectors, population)
            if config.explain and hasattr(agent, "explain"):
                agent.explain = True
        for done in range(1, config.n_steps + 1):
            step, session = population.step_.copy(), population.session_.copy()
            slates, outcome = interact(agent, population, clock, privacy, metrics)
            if live is not None:
                live.add_step(done, outcome, metrics)
            with clock("log"):
                if per_step:
                    batches.append(step_row_columns(population, step, session, outcome))
                else:
                    propensity = propensities_of(agent, slates)
                    columns = log_columns(population, step, session, slates, outcome, propensity)
                    if config.explain:
                        columns.update(explanation_columns(agent, slates))
                    batches.append(columns)
            if progress is not None:
                progress(done)
    if live is not None:
        live.close()
    extra = EXPLANATION_FIELDS if config.explain else ()
    with clock("log"):
        return step_table(agent_name, batches, extra, level=config.log_level)


ShardRunner = Callable[
    [RunConfig, str, Catalog, np.ndarray, list[np.ndarray]], Iterator[tuple[pa.Table, dict]]
]
"""Runs :func:`simulate_shard_with_arrays` for each shard and yields ``(table, arrays)`` in
shard order."""


def run_agent(
    config: RunConfig,
    agent_name: str,
    catalog: Catalog,
    item_vectors: np.ndarray,
    out_dir: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    shard_runner: ShardRunner | None = None,
    arrays: dict[str, dict] | None = None,
    clock=NO_CLOCK,
    live_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Simulate ``config.n_users`` users for ``config.n_steps`` steps under one agent.

    Users run in shards (``config.shard_size``), each with its own agent; ``shard_runner`` runs
    them (default: one after the other in this process; :mod:`adaptrec.parallel` runs them on
    Ray). Writes ``out_dir/steps/<agent>.parquet`` atomically, shard after shard, and returns
    its path. ``progress`` is called with (agent name, steps done over all shards). With an
    ``arrays`` dict, ``arrays[agent_name]`` receives the per-user arrays the shards computed
    where they ran, merged (what :func:`adaptrec.logs.read_agent_arrays` of the file gives).
    ``live_dir``: write the shards' learning there as they run (:mod:`adaptrec.live`; a Ray
    shard runner takes its own, from :func:`adaptrec.parallel.shard_runner_for`).
    """
    parts = shards(config)
    total = [0]

    def advance(_: int) -> None:
        total[0] += 1
        if progress is not None and total[0] % len(parts) == 0:
            progress(agent_name, total[0] // len(parts))

    if shard_runner is None:
        results: Iterator[tuple[pa.Table, dict]] = (
            simulate_shard_with_arrays(
                config, agent_name, catalog, item_vectors, users, advance, clock, live_dir
            )
            for users in parts
        )
    else:
        results = shard_runner(config, agent_name, catalog, item_vectors, parts)
    records = []
    with StepWriter(
        out_dir,
        agent_name,
        config.to_json(),
        provenance=catalog.provenance,
        extra_fields=EXPLANATION_FIELDS if config.explain else (),
        level=config.log_level,
        clock=clock,
    ) as writer:
        for table, shard_arrays in results:
            writer.add_table(table)
            records.append(shard_arrays)
    if arrays is not None:
        with clock("analysis"):
            arrays[agent_name] = merge_arrays(records)
    if progress is not None:
        progress(agent_name, config.n_steps)
    return writer.path
