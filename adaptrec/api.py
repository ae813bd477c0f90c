"""``adaptrec.run``: measure agents from Python (a notebook, a script) in a few lines.

>>> import adaptrec
>>> result = adaptrec.run({"n_users": 20, "n_steps": 30, "encoder": "hashing"},
...                       agents=["popularity", "random"], out="runs/doctest")  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP

The run is the one ``adaptrec run`` makes (same folder, same Parquet logs, same report,
resumable); agents may be built-in names, names of installed plugins, or ``(name, factory)``
pairs that are registered for the run (:func:`adaptrec.agents.register`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaptrec.core.config import RunConfig, default_run_config, resolve, set_path

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

AgentSpec = str | tuple[str, Callable[..., Any]]


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder, summary and logs.

    Attributes:
        out_dir: the run folder (``config.json``, ``steps/<agent>.parquet``, ``report.md``,
            ``summary.json``, plots).
        summary: the report's summary dict (as in ``summary.json``).
        config: the run's :class:`RunConfig`.
    """

    out_dir: Path
    summary: dict[str, Any]
    config: RunConfig

    @property
    def agents(self) -> tuple[str, ...]:
        """The run's agents, in the config's order (the report shows them in display order)."""
        return self.config.agents

    @property
    def paths(self) -> dict[str, Path]:
        """Every output file by name: ``report``, ``summary``, ``config``, plots, and
        ``steps/<agent>`` for each agent's Parquet log."""
        from adaptrec.logs import steps_path

        paths = {
            "report": self.out_dir / "report.md",
            "summary": self.out_dir / "summary.json",
            "config": self.out_dir / "config.json",
            "adaptation_plot": self.out_dir / "adaptation.png",
            "survival_plot": self.out_dir / "survival.png",
            "ctr_plot": self.out_dir / "ctr.png",
        }
        for agent in self.config.agents:
            paths[f"steps/{agent}"] = steps_path(self.out_dir, agent)
        return paths

    def logs(
        self, agents: Iterable[str] | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        """The step logs of ``agents`` (default all) as one pyarrow Table, one row per
        (agent, user, step, slot), with an ``agent`` column; ``columns`` selects columns."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for agent in agents or self.config.agents:
            tables.append(pq.read_table(self.paths[f"steps/{agent}"], columns=columns))
        return pa.concat_tables(tables, promote_options="default")

    def to_pandas(self, agents: Iterable[str] | None = None) -> pd.DataFrame:
        """:meth:`logs` as a pandas DataFrame."""
        return self.logs(agents).to_pandas()

    def table(self) -> str:
        """The adaptation table (as the report's Markdown): one row per agent."""
        from adaptrec.analysis.text import TABLE_COLUMNS, markdown_table, table_rows

        return "\n".join(markdown_table(TABLE_COLUMNS, table_rows(self.summary)))


def _base_config(config: RunConfig | Mapping[str, Any] | str | os.PathLike[str] | None) -> dict:
    if config is None:
        return default_run_config().to_dict()
    if isinstance(config, RunConfig):
        return config.to_dict()
    if isinstance(config, Mapping):
        return json.loads(json.dumps(dict(config)))  # a deep copy the overrides may change
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        if not path.is_file():
            raise ValueError(
                f"config must be a RunConfig, a dict or a JSON file, got {str(path)!r}"
            )
        return RunConfig.from_json(path.read_text()).to_dict()
    raise TypeError(
        f"config must be a RunConfig, a dict, a JSON file or None, got {type(config).__name__}"
    )


def _agent_names(agents: Iterable[AgentSpec] | None) -> list[str] | None:
    from adaptrec.agents.registry import register

    if agents is None:
        return None
    if isinstance(agents, str):
        raise TypeError(f"agents must be a list of names or (name, factory) pairs, got {agents!r}")
    names = []
    for spec in agents:
        if isinstance(spec, str):
            names.append(spec)
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
            register(spec[0], spec[1], replace=True)
            names.append(spec[0])
        else:
            raise TypeError(
                f"agents must hold names or (name, factory) pairs, got {type(spec).__name__} "
                f"{spec!r}"
            )
    return names


def run(
    config: RunConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    agents: Iterable[AgentSpec] | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    workers: int = 1,
    address: str | None = None,
    overwrite: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    tensorboard: str | os.PathLike[str] | None = None,
) -> RunResult:
    """Run ``agents`` on the users of ``config`` and return the result.

    Args:
        config: a :class:`RunConfig`, a (partial) config dict as in ``config.json``, a JSON
            file, or ``None`` for the embedded default (``adaptrec run``'s).
        agents: names (built in, registered or installed plugins) and/or ``(name, factory)``
            pairs, registered for this run; default: the config's agents.
        out: run folder (default ``runs/run-<config digest>``); a rerun continues it.
        overrides: dotted fields to set, e.g. ``{"env.slate_size": 10, "n_users": 50}``.
        workers: Ray CPUs for the shards (a run of one shard runs in this process); results
            are identical for any number.
        address: join this Ray cluster instead of starting a local one.
        overwrite: replace a different run already in ``out``.
        cache_dir: embedding and calibration cache (default ``~/.cache/adaptrec``).
        tensorboard: write each agent's learning there while it runs (:mod:`adaptrec.live`).
    """
    from adaptrec.parallel import shard_runner_for
    from adaptrec.run_folder import default_out_dir
    from adaptrec.runner import run_experiment

    tree = _base_config(config)
    explicit = []
    names = _agent_names(agents)
    if names is not None:
        tree["agents"] = names
        explicit.append("agents")
    for dotted, value in (overrides or {}).items():
        set_path(tree, dotted, value)
        explicit.append(dotted)
    resolved = resolve(tree, explicit=explicit)
    shard_runner = shard_runner_for(resolved, workers, address, tensorboard)
    out_dir = Path(out) if out is not None else default_out_dir(resolved)
    summary = run_experiment(
        resolved,
        out_dir,
        overwrite=overwrite,
        cache_dir=cache_dir,
        shard_runner=shard_runner,
        live_dir=tensorboard,
    )
    return RunResult(out_dir=out_dir, summary=summary, config=resolved)
