"""The live view (``--tensorboard DIR``): TensorBoard scalars written while a run goes, read
back from the event files."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import adaptrec
from adaptrec.cli import main
from adaptrec.live import read_scalars

SMALL = {"n_users": 8, "n_steps": 20, "encoder": "hashing", "catalog": {"n_items": 60}}


def log_of(out_dir, agent):
    return pq.read_table(out_dir / "steps" / f"{agent}.parquet")


def test_the_live_view_holds_each_agents_learning_step_by_step(tmp_path):
    # The last running figures are the run's own (computed from its Parquet log), every step
    # is there once, the predictor's loss is there for the learner only, and the run's
    # results do not depend on the view.
    live = tmp_path / "tb"
    watched = adaptrec.run(SMALL, agents=["llm-cosine", "random"], out=tmp_path / "a",
                           tensorboard=live)  # fmt: skip
    plain = adaptrec.run(SMALL, agents=["llm-cosine", "random"], out=tmp_path / "b")
    scalars = read_scalars(live)
    assert sorted(scalars) == ["llm-cosine", "random"]
    for agent in ("llm-cosine", "random"):
        assert log_of(watched.out_dir, agent).equals(log_of(plain.out_dir, agent))
        tags = scalars[agent]
        assert [step for step, _ in tags["ctr/running"]] == list(range(1, 21))
        log = log_of(watched.out_dir, agent).to_pydict()
        clicked = np.array(log["clicked"], dtype=float)
        assert tags["ctr/running"][-1][1] == pytest.approx(clicked.mean(), rel=1e-6)
        last = np.array(log["step"]) == 19
        assert tags["ctr/step"][-1][1] == pytest.approx(clicked[last].mean(), rel=1e-6)
        first_slot = np.array(log["slot"]) == 0
        expected = np.array(log["expected_clicks"])[first_slot].sum()
        oracle = np.array(log["oracle_expected_clicks"])[first_slot].sum()
        share = tags["share_of_oracle/running"][-1][1]
        assert share == pytest.approx(expected / oracle, rel=1e-6)
    assert "train/loss" in scalars["llm-cosine"] and "train/loss" not in scalars["random"]
    losses = [value for _, value in scalars["llm-cosine"]["train/loss"]]
    assert len(losses) == 20 and all(np.isfinite(losses))


def test_sharded_runs_on_ray_write_one_view_per_shard(ray_session, tmp_path):
    live = tmp_path / "tb"
    config = {**SMALL, "shard_size": 3}
    adaptrec.run(config, agents=["popularity"], out=tmp_path / "a", workers=2, tensorboard=live)
    scalars = read_scalars(live)
    assert sorted(scalars) == ["popularity/users-0", "popularity/users-3", "popularity/users-6"]
    assert all(len(tags["ctr/running"]) == 20 for tags in scalars.values())


def test_the_cli_writes_the_view(tmp_path, capsys):
    live = tmp_path / "tb"
    argv = ["run", "--users", "4", "--steps", "10", "--agents", "linucb", "--encoder", "hashing"]
    argv += ["--set", "catalog.n_items=40", "--out", str(tmp_path / "run"), "--quiet"]
    assert main([*argv, "--tensorboard", str(live)]) == 0
    assert [step for step, _ in read_scalars(live)["linucb"]["share_of_oracle/step"]] == list(
        range(1, 11)
    )
