"""Ray: run a population's shards on many workers, and sweeps' trials on Ray Tune (the only
module that imports ray).

A run's users are split into fixed shards (``RunConfig.shard_size``), each simulated under its
own agent by :func:`adaptrec.rollout.simulate_shard`, a pure function of (config, shard). Ray
tasks run the shards wherever there are CPUs and the driver writes them in shard order, so the
Parquet rows and every metric are identical for 1, 2 or N workers. The catalog and the item
vectors go to the object store once (``ray.put``), not once per task. A task whose worker dies
is retried (``max_retries``); it recomputes the same table.

:func:`tune_grid` runs whole run configs as Tune trials, one CPU each (``adaptrec sweep``).

``connect()`` starts an embedded local Ray sized to the machine (dashboard off) unless an
address (``--address`` or ``RAY_ADDRESS``) names an existing cluster.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from adaptrec.core.catalog import Catalog
from adaptrec.core.config import RunConfig


class ClusterError(ConnectionError):
    """Ray could not be started or reached (the CLI prints it as one line)."""


def connect(address: str | None = None, num_cpus: int | None = None) -> dict:
    """Start or join Ray once per process; returns ``ray.cluster_resources()``.

    Args:
        address: ``None`` = ``$RAY_ADDRESS`` if set, else a new local instance; ``"auto"`` or
            ``"host:port"`` joins a running cluster.
        num_cpus: CPUs of a new local instance (default: all of this machine's).
    """
    import ray

    if ray.is_initialized():
        return ray.cluster_resources()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "auto":
        _check_reachable(address)
    try:
        ray.init(
            # "local": always a new instance of our own. With address=None Ray would attach to
            # any instance already running on the machine (`ray start --head`, another run's)
            # and then refuse num_cpus; joining happens only when an address is given.
            address=address or "local",
            num_cpus=None if address else num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            # Workers import adaptrec from the same environment; keep torch/numba per task.
            runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}},
        )
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = address or "a new local instance"
        raise ClusterError(
            f"--address {where!r} could not be reached ({str(err).splitlines()[0]}); check that "
            "`ray start --head` runs there and that this machine can reach its port, or omit "
            "--address for a local run"
        ) from err
    return ray.cluster_resources()


def shard_runner_for(
    config: RunConfig,
    workers: int = 1,
    address: str | None = None,
    live_dir: str | os.PathLike[str] | None = None,
):
    """The shard runner for ``workers`` CPUs (``None``: in this process), connecting to Ray
    when ``workers > 1`` or an ``address`` is given. A run of one shard (``shard_size`` 0, or
    at least ``n_users``) has nothing to share: it runs in this process, with the same results
    (shards, not workers, define them; :func:`one_shard_note` says so). ``live_dir``: where
    the workers write the live view (:mod:`adaptrec.live`)."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"--workers must be an integer >= 1, got {workers!r}")
    if workers == 1 and not address:
        return None
    if config.shard_size == 0 or config.shard_size >= config.n_users:
        return None
    connect(address, num_cpus=workers if not address else None)
    return ray_shard_runner(live_dir=live_dir)


def one_shard_note(config: RunConfig, workers: int, address: str | None = None) -> str | None:
    """A line for a run asked to use several workers that has one shard, else ``None``."""
    several = workers > 1 or bool(address)
    if several and (config.shard_size == 0 or config.shard_size >= config.n_users):
        return (
            f"--workers {workers}: this run is one shard of {config.n_users} users (shard_size "
            f"{config.shard_size}: one agent learns from every user), so it runs in this "
            f"process; --shard-size {max(1, config.n_users // 4)} would spread it over workers "
            "(results depend on the shards, never on the number of workers)"
        )
    return None


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail fast (Ray itself retries for minutes) when ``host:port`` does not answer."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--address must be 'auto' or host:port, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as err:
        raise ClusterError(
            f"--address {address!r} could not be reached ({err.strerror or err}); check that "
            "`ray start --head` runs there and that this machine can reach its port, or omit "
            "--address for a local run"
        ) from err


def shippable_plugins() -> dict[str, Callable]:
    """The agents registered from Python, ready to travel to Ray workers: a factory whose
    module is not part of an installed distribution (a script, a notebook, a folder on
    ``sys.path``) is pickled by value, since a worker could not import it by name."""
    from importlib.metadata import packages_distributions

    from ray import cloudpickle

    from adaptrec.agents.registry import registered

    plugins = registered()
    installed = packages_distributions()
    for factory in plugins.values():
        module = sys.modules.get(getattr(factory, "__module__", None) or "")
        by_name = module is None or module.__name__ == "__main__"  # __main__ goes by value
        if not by_name and module.__name__.split(".")[0] not in installed:
            cloudpickle.register_pickle_by_value(module)
    return plugins


def _simulate_shard_task(
    config_json, agent_name, catalog, item_vectors, user_ids, plugins, live_dir=None
):
    from adaptrec.agents.registry import register_all
    from adaptrec.rollout import simulate_shard_with_arrays

    register_all(plugins)  # agents registered from Python in the driver (cloudpickled)
    config = RunConfig.from_json(config_json)  # simulate_shard uses its torch_threads
    # The shard's per-user arrays are computed here, on the worker that ran it: the driver
    # merges them instead of reading every row back for the report.
    return simulate_shard_with_arrays(
        config, agent_name, catalog, item_vectors, user_ids, live_dir=live_dir
    )


def ray_shard_runner(max_retries: int = 3, live_dir: str | os.PathLike[str] | None = None):
    """A :data:`adaptrec.rollout.ShardRunner` that runs each shard as a Ray task (1 CPU each);
    with ``live_dir``, each writes its live view there (:mod:`adaptrec.live`)."""
    import ray

    task = ray.remote(num_cpus=1, max_retries=max_retries)(_simulate_shard_task)

    def run(
        config: RunConfig,
        agent_name: str,
        catalog: Catalog,
        item_vectors: np.ndarray,
        shards: list[np.ndarray],
    ) -> Iterator[tuple[pa.Table, dict]]:
        catalog_ref, vectors_ref = ray.put(catalog), ray.put(item_vectors)  # once per run
        config_json, plugins = config.to_json(), shippable_plugins()
        live = None if live_dir is None else str(Path(live_dir).resolve())
        pending = [
            task.remote(config_json, agent_name, catalog_ref, vectors_ref, users, plugins, live)
            for users in shards
        ]
        for reference in pending:  # in shard order, whatever finishes first
            yield ray.get(reference)

    return run


def _tune_trial(
    params: dict, configs: dict[str, str], out_dir: str, metrics: Callable, plugins: dict
) -> None:
    """One Tune trial: the run of ``configs[params["trial"]]`` into ``out_dir/trial=<id>``,
    reporting ``metrics(summary)``."""
    from ray import tune

    from adaptrec.agents.registry import register_all
    from adaptrec.runner import run_experiment

    register_all(plugins)

    trial_id = params["trial"]
    config = RunConfig.from_json(configs[trial_id])
    summary = run_experiment(config, Path(out_dir) / f"trial={trial_id}")
    tune.report(metrics(summary))


def tune_grid(
    configs: dict[str, str],
    out_dir: Path,
    name: str,
    metrics: Callable[[dict], dict],
    metric: str,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
) -> int:
    """Run every config (trial id -> RunConfig JSON) as one Ray Tune trial of one CPU, each
    into ``out_dir/trial=<id>``; Tune's own state goes to ``out_dir/tune``. A failed trial is
    retried up to 3 times (its run folder continues where it stopped).

    Returns:
        How many trials reported ``metric``. Raises ``RuntimeError`` if any trial failed.
    """
    connect(address, num_cpus=num_cpus)
    from ray import tune

    trainable = tune.with_resources(
        tune.with_parameters(
            _tune_trial,
            configs=configs,
            out_dir=str(out_dir.resolve()),
            metrics=metrics,
            plugins=shippable_plugins(),
        ),
        {"cpu": 1},
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(sorted(configs))},
        run_config=tune.RunConfig(
            name=name,
            storage_path=str((out_dir / "tune").resolve()),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=3),
        ),
    )
    results = tuner.fit()
    if results.errors:
        raise RuntimeError(f"{len(results.errors)} trial(s) failed: {results.errors[0]}")
    return sum(r.metrics.get(metric) is not None for r in results)
