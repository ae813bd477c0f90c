import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import RunConfig, default_run_config
from adaptrec.core.encoders import HashingEncoder
from adaptrec.logs import STEP_SCHEMA, StepWriter, read_agent_arrays, read_metadata
from adaptrec.rollout import run_agent
from adaptrec.run_folder import RunDirectoryError, prepare_run_dir
from adaptrec.runner import run_experiment


def small_config(**overrides) -> RunConfig:
    base = dict(
        encoder="hashing", agents=("llm-cosine", "random"), bootstrap_resamples=200, window=8
    )
    base.update(overrides)
    config = default_run_config(12, 16, **base)
    return RunConfig.from_dict({**config.to_dict(), "catalog": {"n_items": 100}})


def vectors_for(config):
    catalog = make_catalog(config.catalog, config.seed)
    return catalog, HashingEncoder().encode(list(catalog.texts))


def test_step_log_has_the_schema_one_row_per_slot_and_the_config(tmp_path):
    config = small_config()
    catalog, vectors = vectors_for(config)
    path = run_agent(config, "llm-cosine", catalog, vectors, tmp_path)
    table = pq.read_table(path)
    assert table.schema.remove_metadata().equals(STEP_SCHEMA)
    assert table.num_rows == 12 * 16 * 5
    meta = read_metadata(path)
    assert RunConfig.from_dict(meta["config"]) == config and meta["agent"] == "llm-cosine"
    arrays = read_agent_arrays(path)
    assert arrays["expected"].shape == (12, 16)
    assert (arrays["expected"] <= arrays["oracle"] + 1e-12).all()
    # rows are written step by step, each step user by user, each slate slot by slot
    per_slot = table["clicked"].to_numpy().reshape(16, 12, 5)
    assert np.array_equal(arrays["clicks"], per_slot.sum(axis=2).T)


def test_identical_seeds_give_identical_logs_and_other_seeds_do_not(tmp_path):
    config = small_config()
    catalog, vectors = vectors_for(config)
    a = pq.read_table(run_agent(config, "llm-cosine", catalog, vectors, tmp_path / "a"))
    b = pq.read_table(run_agent(config, "llm-cosine", catalog, vectors, tmp_path / "b"))
    assert a.equals(b)
    other = small_config(seed=1)
    catalog, vectors = vectors_for(other)
    c = pq.read_table(run_agent(other, "llm-cosine", catalog, vectors, tmp_path / "c"))
    assert not a.drop_columns(["agent"]).equals(c.drop_columns(["agent"]))


def test_an_interrupted_writer_leaves_no_file_that_looks_complete(tmp_path):
    with pytest.raises(RuntimeError), StepWriter(tmp_path, "random", "{}") as writer:
        writer.add({name: np.zeros(3) for name in STEP_SCHEMA.names if name != "agent"})
        raise RuntimeError("killed")
    assert not list((tmp_path / "steps").iterdir())


def _rows(start: int, n: int):
    from adaptrec.logs import step_table

    columns = {name: np.zeros(n) for name in STEP_SCHEMA.names if name != "agent"}
    columns["user"] = np.arange(start, start + n)
    return step_table("random", [columns])


def test_tables_written_in_the_background_land_whole_and_in_order(tmp_path):
    # Catches: a shard's table dropped or written twice when the next arrives, tables out of
    # order, the file renamed before the last background write is done.
    with StepWriter(tmp_path, "random", "{}", row_group_rows=7) as writer:
        for start in (0, 50, 100):
            writer.add_table(_rows(start, 50))
        writer.add({name: np.zeros(3) for name in STEP_SCHEMA.names if name != "agent"})
    users = pq.read_table(tmp_path / "steps" / "random.parquet").column("user").to_numpy()
    np.testing.assert_array_equal(users, np.r_[np.arange(150), np.zeros(3)])


def test_a_failed_background_write_is_raised_and_leaves_no_file(tmp_path):
    # Catches: an error on the writing thread swallowed (a log short of a shard renamed into
    # place as if whole), or raised while the file is still being written.
    bad = _rows(0, 5).drop_columns(["dwell"])  # not the file's schema
    with pytest.raises(ValueError, match="schema"), StepWriter(tmp_path, "random", "{}") as w:
        w.add_table(_rows(0, 5))
        w.add_table(bad)
    assert not list((tmp_path / "steps").iterdir())
    # The caller's error is raised, not the write's it interrupted.
    with pytest.raises(RuntimeError, match="killed"), StepWriter(tmp_path, "random", "{}") as w:
        w.add_table(bad)
        raise RuntimeError("killed")
    assert not list((tmp_path / "steps").iterdir())


def test_a_rerun_continues_keeps_finished_agents_and_never_duplicates_rows(tmp_path):
    config = small_config(agents=("random", "popularity"))
    run_experiment(config, tmp_path)
    kept = tmp_path / "steps" / "random.parquet"
    kept_stat = kept.stat()
    (tmp_path / "steps" / "popularity.parquet").unlink()  # as if killed during popularity
    (tmp_path / "steps" / "popularity.parquet.123-abc.tmp").write_bytes(b"half a file")
    summary = run_experiment(config, tmp_path)
    assert kept.stat().st_mtime_ns == kept_stat.st_mtime_ns  # not run again
    assert not list((tmp_path / "steps").glob("*.tmp"))
    for name in config.agents:
        assert pq.read_metadata(tmp_path / "steps" / f"{name}.parquet").num_rows == 12 * 16 * 5
    assert set(summary["agents"]) == {"random", "popularity"}


def test_a_folder_with_another_config_is_refused_unless_overwritten(tmp_path):
    run_experiment(small_config(agents=("random",)), tmp_path)
    other = small_config(agents=("random",), seed=5)
    with pytest.raises(RunDirectoryError, match="holds a run with a different config"):
        prepare_run_dir(other, tmp_path)
    assert prepare_run_dir(other, tmp_path, overwrite=True) == []
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 5
    assert not (tmp_path / "steps" / "random.parquet").exists()


def test_the_report_of_a_run_uses_its_shards_arrays_and_equals_the_report_from_the_logs(
    tmp_path, monkeypatch
):
    # Catches: shard arrays merged out of order or summed instead of concatenated, new-item
    # events of two shards not combined (first impressions, impressions), and a run that still
    # reads its rows back for the report.
    import adaptrec.analysis.summary as summary_module
    from adaptrec.core.config import ArrivalConfig, CatalogConfig, EnvConfig, UserConfig
    from adaptrec.report import build_report
    from adaptrec.runner import run_experiment

    config = RunConfig(
        n_users=30,
        n_steps=40,
        shard_size=12,
        agents=("popularity", "random", "oracle"),
        encoder="hashing",
        window=5,
        bootstrap_resamples=200,
        catalog=CatalogConfig(n_items=300, n_topics=8),
        arrivals=ArrivalConfig(rate=3, lifetime=20),
        users=UserConfig(drift_step=20),
        env=EnvConfig(max_steps=40),
    )

    def no_reading(path, config=None):
        raise AssertionError(f"the run read {path} back")

    monkeypatch.setattr(summary_module, "read_agent_arrays", no_reading, raising=False)
    import adaptrec.logs as logs_module

    monkeypatch.setattr(logs_module, "read_agent_arrays", no_reading)
    run_experiment(config, tmp_path / "run", cache_dir=tmp_path / "cache")
    from_shards = (tmp_path / "run" / "summary.json").read_bytes()
    monkeypatch.undo()
    build_report(tmp_path / "run")
    assert (tmp_path / "run" / "summary.json").read_bytes() == from_shards
    assert b'"new_items"' in from_shards


def _small_config(**overrides):
    from adaptrec.core.config import CatalogConfig, EnvConfig, UserConfig

    values = dict(
        n_users=24,
        n_steps=30,
        agents=("popularity", "random", "oracle"),
        encoder="hashing",
        window=5,
        bootstrap_resamples=200,
        catalog=CatalogConfig(n_items=200, n_topics=8),
        users=UserConfig(drift_step=15),
        env=EnvConfig(max_steps=30),
    )
    return RunConfig(**{**values, **overrides})


def test_per_step_logs_keep_every_adaptation_figure_in_a_fifth_of_the_rows(tmp_path):
    # Catches: clicks miscounted per step, the slate size lost (CTR off by k), a reader that
    # needs the slot column.
    from adaptrec.runner import run_experiment

    slot = run_experiment(_small_config(), tmp_path / "slot", cache_dir=tmp_path / "cache")
    step = run_experiment(
        _small_config(log_level="step"), tmp_path / "step", cache_dir=tmp_path / "cache"
    )
    for agent in ("popularity", "random", "oracle"):
        assert step["agents"][agent] == slot["agents"][agent]
        rows = [
            pq.read_metadata(tmp_path / level / "steps" / f"{agent}.parquet").num_rows
            for level in ("slot", "step")
        ]
        assert rows == [24 * 30 * 5, 24 * 30]
    from adaptrec.report import build_report

    before = (tmp_path / "step" / "summary.json").read_bytes()
    build_report(tmp_path / "step")  # from the per-step logs alone
    assert (tmp_path / "step" / "summary.json").read_bytes() == before


def test_duckdb_and_polars_read_the_logs_as_they_are(tmp_path):
    # Catches: a schema or encoding other engines cannot read, a CTR defined differently
    # from a plain mean of the clicked column.
    import duckdb
    import polars as pl

    from adaptrec.runner import run_experiment

    summary = run_experiment(_small_config(), tmp_path / "run", cache_dir=tmp_path / "cache")
    logs = str(tmp_path / "run" / "steps" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT agent, avg(clicked::DOUBLE) AS ctr FROM read_parquet('{logs}') GROUP BY agent"
    ).fetchall()
    assert len(rows) == 3
    for agent, ctr in rows:
        assert ctr == pytest.approx(summary["agents"][agent]["ctr"]["estimate"], rel=1e-12)
    frame = pl.scan_parquet(logs).group_by("agent").agg(pl.col("clicked").mean()).collect()
    polars_ctr = dict(zip(frame["agent"].to_list(), frame["clicked"].to_list(), strict=True))
    assert polars_ctr == pytest.approx({a: c for a, c in rows}, rel=1e-12)


def test_ids_and_flags_are_dictionary_encoded_and_floats_are_not(tmp_path):
    # Catches: the writer back on pyarrow's default (every column dictionary-encoded, floats
    # included: a slower write and a larger file, measured in adaptrec.logs), or ids written
    # plain; and a log that no longer reads back as written.
    with StepWriter(tmp_path, "random", "{}") as writer:
        writer.add_table(_rows(0, 50))
    file = pq.ParquetFile(tmp_path / "steps" / "random.parquet")
    columns = file.metadata.row_group(0)
    encodings = {
        columns.column(i).path_in_schema: columns.column(i).encodings
        for i in range(columns.num_columns)
    }
    assert "RLE_DICTIONARY" in encodings["user"] and "RLE_DICTIONARY" in encodings["step"]
    assert "RLE_DICTIONARY" not in encodings["click_probability"]
    assert file.read().equals(_rows(0, 50).replace_schema_metadata(file.schema_arrow.metadata))
