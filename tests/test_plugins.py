"""Agents as plugins: the registry, checks on plugin agents, ``adaptrec.run``, and the README's
example agent through an entry point, the CLI and Ray workers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import adaptrec
from adaptrec.agents import register, stream_index, unregister
from adaptrec.agents.registry import check_known, names
from adaptrec.core.config import AGENT_NAMES

ROOT = Path(__file__).resolve().parents[1]
ADAPTREC = Path(sys.executable).with_name("adaptrec")
SMALL = {"n_users": 6, "n_steps": 20, "encoder": "hashing", "catalog": {"n_items": 50}}
sys.path.insert(0, str(ROOT / "examples"))
from item_knn import ItemKNN, make_item_knn  # noqa: E402


@pytest.fixture
def registry_guard():
    """Plugins registered by a test are forgotten after it."""
    before = set(names())
    yield
    for name in set(names()) - before:
        unregister(name)


def rows(path: Path):
    return pq.read_table(path).drop_columns(["agent"]).to_pylist()


def test_streams_of_builtins_are_their_old_indices_and_of_plugins_their_names(registry_guard):
    assert [stream_index(name) for name in AGENT_NAMES] == list(range(len(AGENT_NAMES)))
    # A plugin's stream depends on its name only: the same in a fresh interpreter, whatever
    # was registered before it, and different for different names.
    code = "from adaptrec.agents import stream_index; print(stream_index('mine'))"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    register("other", make_item_knn)
    register("mine", make_item_knn)
    assert int(fresh.stdout) == stream_index("mine") != stream_index("other")
    assert stream_index("mine") >= 2**16  # never a built-in's


def seeded_random_factory(context):
    rng = context.rng()

    def policy(observation):
        n = len(observation["user_id"])
        return np.stack([rng.choice(context.n_items, context.slate_size, replace=False)
                         for _ in range(n)])  # fmt: skip

    return policy


def test_a_plugins_results_do_not_depend_on_registration_order(tmp_path, registry_guard):
    register("b-agent", seeded_random_factory)
    register("a-agent", seeded_random_factory)
    first = adaptrec.run(SMALL, agents=["a-agent"], out=tmp_path / "1")
    unregister("a-agent")
    unregister("b-agent")
    register("a-agent", seeded_random_factory)  # alone, registered first this time
    second = adaptrec.run(SMALL, agents=["a-agent"], out=tmp_path / "2")
    assert rows(first.paths["steps/a-agent"]) == rows(second.paths["steps/a-agent"])


def test_registration_refuses_builtin_names_bad_names_and_silent_replacement(registry_guard):
    with pytest.raises(ValueError, match="'random' is built in"):
        register("random", make_item_knn)
    with pytest.raises(ValueError, match=r"name must be 1-64 characters .* got 'My Agent'"):
        register("My Agent", make_item_knn)
    with pytest.raises(TypeError, match="factory for agent 'x' must be callable"):
        register("x", ItemKNN(np.eye(3), 2))
    register("knn", make_item_knn)
    with pytest.raises(ValueError, match="'knn' is already registered; pass replace=True"):
        register("knn", seeded_random_factory)
    register("knn", seeded_random_factory, replace=True)
    with pytest.raises(ValueError, match=r"agents must name a built-in agent .* got 'nope'"):
        check_known("nope")


class NoUpdate:
    def act(self, observation):
        return np.zeros((len(observation["user_id"]), 5), np.int64)


@pytest.mark.parametrize(
    ("factory", "error", "message"),
    [
        (lambda c: NoUpdate(), TypeError, "agent 'bad': NoUpdate has no update"),
        (lambda c: 42, TypeError, "agent 'bad': the factory returned int; expected an agent"),
        (lambda c: (lambda obs: np.zeros((len(obs["user_id"]), 4), np.int64)), ValueError,
         r"agent 'bad': act must return a \(6, 5\) integer array .* got shape \(6, 4\)"),
        (lambda c: (lambda obs: np.zeros((6, 5)) + np.arange(5)), ValueError,
         "got dtype float64"),
        (lambda c: (lambda obs: np.tile(np.array([0, 1, 2, 3, 3]), (6, 1))), ValueError,
         "got item 3 twice in row 0"),
        (lambda c: (lambda obs: np.tile(np.arange(46, 51), (6, 1))), ValueError,
         r"in \[0, 50\), got item 50"),
    ],
)  # fmt: skip
def test_bad_plugins_get_one_clear_error_naming_the_agent(
    factory, error, message, tmp_path, registry_guard
):
    register("bad", factory)
    with pytest.raises(error, match=message):
        adaptrec.run(SMALL, agents=["bad"], out=tmp_path)


def test_run_result_gives_the_summary_paths_and_logs(tmp_path, registry_guard):
    result = adaptrec.run(
        SMALL, agents=[("item-knn", make_item_knn), "random"], out=tmp_path, overrides={"seed": 3}
    )
    assert result.agents == ("item-knn", "random")
    assert result.config.seed == 3
    assert all(path.is_file() for path in result.paths.values())
    logs = result.logs()
    assert logs.num_rows == 2 * 6 * 20 * 5
    frame = result.to_pandas(["item-knn"])
    assert set(frame.agent) == {"item-knn"} and len(frame) == 6 * 20 * 5
    assert re.search(r"^\| item-knn \| 0\.\d+ \[", result.table(), re.MULTILINE)
    again = adaptrec.run(SMALL, agents=["item-knn", "random"], out=tmp_path, overrides={"seed": 3})
    assert again.logs().num_rows == logs.num_rows  # a rerun continues: nothing duplicated


def test_item_knn_recommends_neighbours_of_what_the_user_clicked():
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = vectors[0] * 0.8 + vectors[1] * 0.6  # item 1 is close to item 0
    agent = ItemKNN(vectors, 1, prior=0.0)
    observation = {
        "user_id": np.array([0]),
        "items": np.array([[[0], [-1]]]),  # (B, H, k): item 0 shown, then nothing
        "clicks": np.array([[[1], [0]]], np.int8),
    }
    assert agent.act(observation).tolist() == [[1]]  # not 0 itself: recently shown


def test_readme_shows_the_example_agent_verbatim():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "item_knn.py").read_text()
    assert example.strip() in readme


def fake_installed_plugin(tmp_path: Path) -> dict[str, str]:
    """An installed distribution (a dist-info on PYTHONPATH) whose entry point in the group
    adaptrec.agents names the README's example: what `pip install` of a plugin package leaves."""
    site = tmp_path / "site"
    info = site / "item_knn_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: item-knn-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[adaptrec.agents]\nitem-knn = item_knn:make_item_knn\n")
    path = os.pathsep.join([str(site), str(ROOT / "examples")])
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.e2e
@pytest.mark.ray
def test_example_agent_runs_by_entry_point_cli_and_python_with_the_same_rows(
    tmp_path, ray_session, registry_guard
):
    env = fake_installed_plugin(tmp_path)
    size = ["--users", "6", "--steps", "20", "--encoder", "hashing", "--shard-size", "3",
            "--set", "catalog.n_items=50"]  # fmt: skip
    cli = subprocess.run(
        [str(ADAPTREC), "run", "--agents", "item-knn,random", *size, "--quiet",
         "--out", str(tmp_path / "cli")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert re.search(r"item-knn\s*│\s*0\.\d+", cli.stdout)
    config = {**SMALL, "shard_size": 3}
    one = adaptrec.run(config, agents=[("item-knn", make_item_knn)], out=tmp_path / "w1")
    two = adaptrec.run(config, agents=[("item-knn", make_item_knn)], out=tmp_path / "w2", workers=2)
    expected = rows(one.paths["steps/item-knn"])
    assert rows(two.paths["steps/item-knn"]) == expected  # 2 Ray workers, identical rows
    assert rows(tmp_path / "cli" / "steps" / "item-knn.parquet") == expected  # entry point
    compare = subprocess.run(
        [str(ADAPTREC), "compare", "--agents", "item-knn,random", "--scenarios", "cold-start",
         "--smoke", "--seeds", "0", "--out", str(tmp_path / "compare")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert compare.returncode == 0, compare.stderr
    assert re.search(r"^\| item-knn \| 0\.\d+", (tmp_path / "compare" / "compare.md").read_text(),
                     re.MULTILINE)  # fmt: skip
    bad = subprocess.run(
        [str(ADAPTREC), "run", "--agents", "item-knm", *size, "--out", str(tmp_path / "bad")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "got 'item-knm'" in bad.stderr


@pytest.mark.ray
def test_a_sweep_ranks_a_python_registered_agent_on_tune_workers(tmp_path, registry_guard):
    from adaptrec.sweep import load_sweep, run_sweep

    register("item-knn", make_item_knn)
    sweep_file = tmp_path / "knn.toml"
    sweep_file.write_text(
        'name = "knn"\nagent = "item-knn"\n[base]\nn_users = 6\nn_steps = 20\n'
        'encoder = "hashing"\nagents = ["item-knn"]\n[base.catalog]\nn_items = 50\n'
        '[grid]\n"users.preference_scale" = [1.0, 4.0]\n'
    )
    summary = run_sweep(load_sweep(sweep_file), tmp_path / "out", num_cpus=2)
    assert summary["agent"] == "item-knn" and len(summary["points"]) == 2
    estimates = [point["share_of_oracle"]["estimate"] for point in summary["points"]]
    assert all(0 < estimate < 1 for estimate in estimates)
