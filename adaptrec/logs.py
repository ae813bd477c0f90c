"""The one Parquet schema of step logs, and its writer and reader.

One row per (agent, user, step, slot). Slate-level values (expected clicks of the shown and of
the oracle slate, drift, session end, reward) repeat on each slot of the slate; Parquet's
dictionary/RLE encoding makes the repeats nearly free. The run's config JSON sits in every
file's schema metadata, so every figure of a report can be recomputed from the files alone.

Files are written to a temporary name and renamed when complete: a file with the final name is
always whole, and an interrupted write leaves only a ``*.tmp`` file, which a rerun replaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = "2"
STEPS_DIR = "steps"

STEP_SCHEMA = pa.schema(
    [
        pa.field("agent", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("user", pa.int32(), nullable=False),
        pa.field("step", pa.int32(), nullable=False),
        pa.field("slot", pa.int8(), nullable=False),
        pa.field("item", pa.int32(), nullable=False),
        pa.field("clicked", pa.bool_(), nullable=False),
        pa.field("skipped", pa.bool_(), nullable=False),
        pa.field("dwell", pa.float32(), nullable=False),
        pa.field("click_probability", pa.float64(), nullable=False),
        pa.field("expected_clicks", pa.float64(), nullable=False),
        pa.field("oracle_expected_clicks", pa.float64(), nullable=False),
        pa.field("reward", pa.float64(), nullable=False),
        pa.field("drift", pa.bool_(), nullable=False),
        pa.field("drift_step", pa.int32(), nullable=False),
        pa.field("session", pa.int32(), nullable=False),
        pa.field("session_end", pa.bool_(), nullable=False),
        pa.field("propensity", pa.float64(), nullable=True),
    ]
)
"""Columns: ``agent``; ``user`` id; ``step`` (0-based); ``slot`` (0 = top); ``item`` index;
``clicked``/``skipped``/``dwell`` (seconds) feedback; ``click_probability`` of that slot;
``expected_clicks`` and ``oracle_expected_clicks`` of the slate; ``reward`` of the step;
``drift`` (preference changed at this step); ``drift_step`` of the user (-1 = never);
``session`` index and ``session_end`` (the user left after this step); ``propensity``: the
probability that the agent puts this item in this slot at this step, over its own randomisation
(for off-policy evaluation; null where it has no closed form, e.g. Thompson sampling)."""


STEP_ROW_SCHEMA = pa.schema(
    [
        pa.field("agent", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("user", pa.int32(), nullable=False),
        pa.field("step", pa.int32(), nullable=False),
        pa.field("clicks", pa.int16(), nullable=False),
        pa.field("expected_clicks", pa.float64(), nullable=False),
        pa.field("oracle_expected_clicks", pa.float64(), nullable=False),
        pa.field("reward", pa.float64(), nullable=False),
        pa.field("drift", pa.bool_(), nullable=False),
        pa.field("drift_step", pa.int32(), nullable=False),
        pa.field("session", pa.int32(), nullable=False),
        pa.field("session_end", pa.bool_(), nullable=False),
    ]
)
"""The ``log_level = "step"`` schema: one row per (user, step), the slate's ``clicks`` counted,
no items. It keeps every adaptation figure (curves, Kaplan-Meier, CTR, regret); it loses what
needs items or slots: new-item figures, propensities (off-policy evaluation), per-slot clicks."""

EXPLANATION_FIELDS = (
    pa.field("score", pa.float32(), nullable=True),
    pa.field("score_cosine", pa.float32(), nullable=True),
    pa.field("score_click_probability", pa.float32(), nullable=True),
    pa.field("score_item_term", pa.float32(), nullable=True),
    pa.field("score_recent_penalty", pa.float32(), nullable=True),
    pa.field("rank_first_stage", pa.int16(), nullable=True),
    pa.field("rank_reranked", pa.int16(), nullable=True),
    pa.field("explored", pa.bool_(), nullable=True),
)
"""Columns appended to :data:`STEP_SCHEMA` with ``explain = true``: why each item was shown,
for the agents that explain themselves (the llm-cosine family; null for the others).
``score = score_cosine * score_click_probability - score_recent_penalty`` exactly, in float32,
as the agent ranked; ``score_item_term``: the item's logit offset inside the click
probability; ``rank_first_stage``/``rank_reranked``: the item's 0-based rank among the agent's
candidates by the first stage's score and by ``score`` (-1: explored from outside them);
``explored``: exploration put the item in its slot."""

LOG_LEVELS = ("slot", "step")


def schema_for(level: str) -> pa.Schema:
    """The step-log schema of a log level: ``"slot"`` (:data:`STEP_SCHEMA`) or ``"step"``
    (:data:`STEP_ROW_SCHEMA`)."""
    return STEP_ROW_SCHEMA if level == "step" else STEP_SCHEMA


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns written dictionary-encoded: ids, steps, flags and labels (few distinct
    values, long runs). Floats are written plain and left to zstd: dictionaries of mostly
    distinct floats cost time and bytes (measured on a shard of 500,000 rows: 0.116 s and
    8.4 MB with every column dictionary-encoded, 0.070 s and 7.3 MB like this)."""
    return [field.name for field in schema if not pa.types.is_floating(field.type)]


def steps_path(out_dir: str | os.PathLike[str], agent: str) -> Path:
    return Path(out_dir) / STEPS_DIR / f"{agent}.parquet"


class StepWriter:
    """Writes one agent's step rows to ``steps/<agent>.parquet`` atomically.

    Use as a context manager; rows are buffered and written in row groups of at least
    ``row_group_rows`` rows. The file appears under its final name only on a clean exit.
    A table from :meth:`add_table` (a shard's rows) is encoded and compressed on a
    background thread while the caller simulates the next shard (pyarrow releases the GIL),
    one table at a time and in order, so the file's bytes are those of writing in line; an
    error there is raised by the next call or on exit.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        agent: str,
        config_json: str,
        row_group_rows: int = 262_144,
        provenance: dict[str, Any] | None = None,
        extra_fields: tuple[pa.Field, ...] | list[pa.Field] = (),
        level: str = "slot",
        clock=None,
    ) -> None:
        self.path = steps_path(out_dir, agent)
        # A name of its own: two processes writing the same log (e.g. a worker orphaned by a
        # killed driver and the rerun) never interleave bytes; the last complete rename wins.
        self.tmp_path = self.path.with_name(
            f"{self.path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
        )
        self.agent = agent
        self.row_group_rows = row_group_rows
        metadata = {
            b"adaptrec.schema_version": SCHEMA_VERSION.encode(),
            b"adaptrec.config": config_json.encode(),
            b"adaptrec.agent": agent.encode(),
        }
        if provenance is not None:  # e.g. the data set and fit quality of calibrated users
            metadata[b"adaptrec.data"] = json.dumps(provenance, sort_keys=True).encode()
        self.extra_fields, self.level = tuple(extra_fields), level
        from adaptrec.timing import NO_CLOCK

        self.clock = clock or NO_CLOCK  # times the writes as the "log" stage
        base = schema_for(level)
        self.schema = pa.schema([*base, *self.extra_fields]).with_metadata(metadata)
        self._pending: list[dict[str, np.ndarray]] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._writing: Future | None = None  # the table being written in the background

    def __enter__(self) -> StepWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(
            self.tmp_path,
            self.schema,
            compression="zstd",
            use_dictionary=dictionary_columns(self.schema),
        )
        return self

    def add(self, columns: dict[str, np.ndarray]) -> None:
        """Queue rows: every schema column but ``agent``, as equal-length 1-D arrays."""
        self._pending.append(columns)
        self._pending_rows += len(columns["user"])
        if self._pending_rows >= self.row_group_rows:
            self._flush()

    def add_table(self, table: pa.Table) -> None:
        """Write a table of step rows (e.g. one shard's, from :func:`step_table`) on the
        background thread; returns once the previous table is written (so at most one
        waits in memory)."""
        with self.clock("log"):
            self._flush()
            writer = self._writer
            assert writer is not None
            table = table.replace_schema_metadata(self.schema.metadata)
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="adaptrec-log")
            self._writing = self._thread.submit(
                writer.write_table, table, row_group_size=self.row_group_rows
            )

    def _wait(self) -> None:
        """Block until the background write is done; raise its error, if any."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def _flush(self) -> None:
        self._wait()
        if not self._pending:
            return
        table = step_table(self.agent, self._pending, self.extra_fields, self.level)
        table = table.replace_schema_metadata(self.schema.metadata)
        assert self._writer is not None
        self._writer.write_table(table)
        self._pending, self._pending_rows = [], 0

    def __exit__(self, exc_type, exc, tb) -> None:
        with self.clock("log"):
            self._close(exc_type)

    def _close(self, exc_type) -> None:
        failed = exc_type is not None
        try:
            if failed:  # the caller's error is the one to raise, not a write's it interrupted
                with contextlib.suppress(Exception):
                    self._wait()
            else:
                self._flush()  # waits for the background write and raises its error
        except BaseException:
            failed = True
            raise
        finally:
            if self._thread is not None:
                self._thread.shutdown()  # never close the file under a writing thread
            assert self._writer is not None
            self._writer.close()
            if failed:
                self.tmp_path.unlink(missing_ok=True)
        if not failed:
            os.replace(self.tmp_path, self.path)


def step_table(
    agent: str,
    batches: list[dict[str, np.ndarray]],
    extra: tuple[pa.Field, ...] | list[pa.Field] = (),
    level: str = "slot",
) -> pa.Table:
    """Step rows as a :data:`STEP_SCHEMA` table (``level`` "step": :data:`STEP_ROW_SCHEMA`):
    ``batches`` of columns (all but ``agent``); ``extra`` fields (e.g. ``adaptrec
    validate``'s ``rating``) are appended after the schema's, their columns given as float
    arrays with NaN for null."""
    n_rows = sum(len(batch["user"]) for batch in batches)
    schema = pa.schema([*schema_for(level), *extra])
    arrays = []
    for field in schema:
        if field.name == "agent":
            indices = pa.array(np.zeros(n_rows, dtype=np.int8))
            arrays.append(pa.DictionaryArray.from_arrays(indices, pa.array([agent])))
        else:
            data = np.concatenate([batch[field.name] for batch in batches])
            # NaN marks "no value" (no propensity, no rating): stored as null, not a number.
            mask = None
            if field.name == "propensity" or field in extra:
                mask = np.isnan(data)
                if pa.types.is_integer(field.type):
                    data = np.where(mask, 0, data).astype(field.type.to_pandas_dtype())
                elif pa.types.is_boolean(field.type):
                    data = np.where(mask, 0, data).astype(bool)
            arrays.append(pa.array(data, type=field.type, mask=mask))
    return pa.Table.from_arrays(arrays, schema=schema)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The adaptrec metadata of one step file: schema version, agent, config (dict) and data
    (the catalog's provenance dict, ``None`` for synthetic catalogs)."""
    meta = pq.read_schema(path).metadata or {}
    if b"adaptrec.config" not in meta:
        raise ValueError(f"{path} is not an adaptrec step log (no adaptrec.config metadata)")
    return {
        "schema_version": meta[b"adaptrec.schema_version"].decode(),
        "agent": meta[b"adaptrec.agent"].decode(),
        "config": json.loads(meta[b"adaptrec.config"]),
        "data": json.loads(meta[b"adaptrec.data"]) if b"adaptrec.data" in meta else None,
    }


def step_files(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete step files of a run folder, sorted by name."""
    folder = Path(out_dir) / STEPS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"run folder must contain {STEPS_DIR}/, got {str(out_dir)!r}")
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{folder} holds no .parquet step logs")
    return files


ARRAY_COLUMNS = (
    "user",
    "step",
    "slot",
    "clicked",
    "expected_clicks",
    "oracle_expected_clicks",
    "reward",
    "drift_step",
    "session_end",
)
"""The step-log columns the metrics read."""

READ_BATCH_ROWS = 1 << 20
"""Rows read at a time: a log is read in batches, so reading holds the ``(U, T)`` grids and one
batch, never every row at once (a million users x 10 steps x slate 5 is 50 M rows)."""


def read_agent_arrays(path: str | os.PathLike[str], config=None) -> dict[str, np.ndarray]:
    """Per-(user, step) arrays of one agent's log, for the metrics.

    Returns ``expected``, ``oracle``, ``clicks`` and ``reward`` as ``(U, T)`` float64,
    ``session_end`` ``(U, T)`` bool, ``drift_step`` ``(U,)`` int64 and ``users`` ``(U,)``,
    with users in ascending id order and steps 0..T-1. With the run's ``config`` of a changing
    catalog, also ``new_items``: the per-item arrays of
    :meth:`adaptrec.analysis.new_items.ItemEvents.arrays`. Reads the file in batches of
    :data:`READ_BATCH_ROWS` rows, twice: user ids and steps first, then the values.
    """
    log = pq.ParquetFile(path)

    def batches(columns: list[str]):
        return log.iter_batches(batch_size=READ_BATCH_ROWS, columns=columns)

    per_step = "slot" not in log.schema_arrow.names  # a log_level = "step" log
    slate_size = None
    if per_step:
        slate_size = int(read_metadata(path)["config"]["env"]["slate_size"])
    arrays = arrays_from_batches(batches, str(path), config, slate_size)
    arrays.pop("events", None)
    return arrays


def table_arrays(table: pa.Table, config=None) -> dict[str, np.ndarray]:
    """:func:`read_agent_arrays` of rows held in memory (a shard's table, where it was
    simulated): the same arrays the file of those rows would give."""

    def batches(columns: list[str]):
        return table.select(columns).to_batches(max_chunksize=READ_BATCH_ROWS)

    per_step = "slot" not in table.schema.names
    slate_size = config.env.slate_size if per_step and config is not None else None
    return arrays_from_batches(batches, "the shard's rows", config, slate_size)


def arrays_from_batches(
    batches, where: str, config=None, step_rows_slate: int | None = None
) -> dict[str, np.ndarray]:
    """The arrays of :func:`read_agent_arrays` from ``batches(columns)``, an iterable of
    record batches of those columns (called twice: user ids and steps first, then values).
    ``step_rows_slate``: the slate size of a per-step log (``log_level = "step"``: one row per
    (user, step) with a ``clicks`` count), ``None`` for a per-slot log."""
    events = None
    if config is not None and config.arrivals.changes:
        from adaptrec.analysis.new_items import ItemEvents

        events = ItemEvents(config)
    per_step = step_rows_slate is not None
    user_sets, n_steps = [], 0
    for batch in batches(["user", "step"]):
        if batch.num_rows:
            user_sets.append(np.unique(batch.column("user").to_numpy()))
            n_steps = max(n_steps, int(batch.column("step").to_numpy().max()) + 1)
    users = np.unique(np.concatenate(user_sets)) if user_sets else np.zeros(0, np.int32)
    shape = (len(users), n_steps)
    counts = np.zeros(shape[0] * shape[1], dtype=np.int64)
    clicks = np.zeros(shape[0] * shape[1])
    grids = {
        "expected": np.zeros(shape),
        "oracle": np.zeros(shape),
        "reward": np.zeros(shape),
        "session_end": np.zeros(shape, dtype=bool),
    }
    drift = np.full(len(users), -1, dtype=np.int64)
    columns = [*ARRAY_COLUMNS, "item"] if events is not None else list(ARRAY_COLUMNS)
    if per_step:  # one row per (user, step): clicks counted, no slot (nor item) column
        columns = [c for c in ARRAY_COLUMNS if c not in ("slot", "clicked")] + ["clicks"]
        events = None
    for batch in batches(columns):
        if events is not None:
            events.add(
                batch.column("item").to_numpy(),
                batch.column("step").to_numpy(),
                batch.column("clicked").to_numpy(zero_copy_only=False),
            )
        user_index = np.searchsorted(users, batch.column("user").to_numpy())
        cells = user_index * n_steps + batch.column("step").to_numpy()
        counts += np.bincount(cells, minlength=counts.size)
        if per_step:
            clicked = batch.column("clicks").to_numpy().astype(np.float64)
            top = np.ones(batch.num_rows, dtype=bool)
        else:
            clicked = batch.column("clicked").to_numpy(zero_copy_only=False)
            top = batch.column("slot").to_numpy() == 0
        clicks += np.bincount(cells, weights=clicked, minlength=counts.size)
        for name, column in (
            ("expected", "expected_clicks"),
            ("oracle", "oracle_expected_clicks"),
            ("reward", "reward"),
            ("session_end", "session_end"),
        ):
            values = batch.column(column).to_numpy(zero_copy_only=False)[top]
            grids[name].reshape(-1)[cells[top]] = values
        drift[user_index[top]] = batch.column("drift_step").to_numpy()[top]
    if counts.size == 0 or counts.min() == 0 or len(np.unique(counts)) != 1:
        raise ValueError(f"{where} does not hold every (user, step) exactly once per slot")
    slate_size = step_rows_slate if per_step else int(counts[0])
    out = {"users": users, "clicks": clicks.reshape(shape), "slate_size": slate_size}
    if events is not None:
        out["events"] = events
        out["new_items"] = events.arrays()
    return {**out, **grids, "drift_step": drift}


def merge_arrays(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One agent's arrays from its shards' (:func:`table_arrays`), users in shard order; equal
    to :func:`read_agent_arrays` of the whole log (shards hold ascending, disjoint users)."""
    if len(parts) == 1:
        return {key: value for key, value in parts[0].items() if key != "events"}
    out: dict[str, np.ndarray] = {"slate_size": parts[0]["slate_size"]}
    for key in ("users", "clicks", "expected", "oracle", "reward", "session_end", "drift_step"):
        out[key] = np.concatenate([part[key] for part in parts])
    if "events" in parts[0]:
        events = parts[0]["events"]
        for part in parts[1:]:
            events = events.merged(part["events"])
        out["new_items"] = events.arrays()
    return out
