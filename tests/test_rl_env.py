"""``adaptrec/SlateRecRL-v0``: library checkers, the decoding rules, the observation's
contents, and that it is the run's own world (a policy scores the same there and in a run)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pyarrow.parquet as pq
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from gymnasium.wrappers import FlattenObservation
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import adaptrec
from adaptrec.envs.rl_env import ACTION_KINDS, SlateDecoder
from adaptrec.rl import env_kwargs, item_vectors_of, policy_factory, rl_run_config

ROOT = Path(__file__).resolve().parents[1]


def unit_vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make(action: str = "query", n_items: int = 40, **kwargs) -> gym.Env:
    return gym.make(
        "adaptrec/SlateRecRL-v0",
        action=action,
        catalog={"n_items": n_items},
        item_vectors=unit_vectors(n_items, 16),
        **kwargs,
    )


@pytest.mark.parametrize("action", ACTION_KINDS)
def test_stable_baselines3_and_gymnasium_checkers_pass_without_warnings(action):
    env = make(action).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning (SB3's "unconventional shape", ...) fails
        sb3_check_env(env)
        sb3_check_env(FlattenObservation(make(action).unwrapped))
        gymnasium_check_env(make(action).unwrapped, skip_render_check=True)


def test_observations_are_one_dimensional_under_keys_that_are_not_attribute_names():
    import torch

    env = make()
    obs, _ = env.reset(seed=0)
    taken = set(dir(dict)) | set(dir(torch.nn.ModuleDict)) | set(dir(torch.nn.Module))
    for key, value in obs.items():
        assert value.ndim == 1, key
        assert key not in taken, key
    assert env.observation_space.contains(obs)


def test_history_embeddings_and_profiles_hold_the_items_shown_and_clicked():
    env = make(n_items=30, history_embeddings=True)
    vectors = env.unwrapped.item_vectors
    obs, _ = env.reset(seed=3)
    assert not obs["hist_embeddings"].any() and (obs["hist_item_ids"] == -1).all()
    clicked_any = False
    for _ in range(12):
        obs, _, _, _, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        ids = obs["hist_item_ids"]
        embedded = obs["hist_embeddings"].reshape(len(ids), -1)
        shown = ids >= 0
        np.testing.assert_array_equal(embedded[shown], vectors[ids[shown]])
        assert not embedded[~shown].any()
        np.testing.assert_array_equal(ids[:5], info["slate"])  # most recent slate first
        clicked = obs["hist_clicks"].astype(bool)
        if clicked.any():
            clicked_any = True
            expected = vectors[ids[clicked]].mean(axis=0)
            np.testing.assert_allclose(obs["profile_clicked"], expected, atol=1e-6)
    assert clicked_any


def test_decoders_follow_their_documented_rules():
    vectors = np.eye(6, dtype=np.float32)[:, :4]  # items 4 and 5 are zero vectors
    scores = SlateDecoder("scores", vectors, 3)
    ties = np.array([[0.5, 0.9, 0.5, 0.9, 0.1, 0.5]], np.float32)
    assert scores(ties).tolist() == [[1, 3, 0]]  # ties to the lower id
    query = SlateDecoder("query", vectors, 3)
    assert query(np.array([[0.0, 0.2, -1.0, 0.7]], np.float32)).tolist() == [[3, 1, 0]]
    # 0 ties with items 4 and 5 (dot product 0) and wins them on id.
    slate = SlateDecoder("slate", vectors, 4)
    out = slate(np.array([[5, 5, 2, 5], [1, 2, 3, 4]]))
    assert out.tolist() == [[5, 0, 2, 1], [1, 2, 3, 4]]  # 5 -> next free id, cyclically
    assert slate.replaced_.tolist() == [[False, True, False, True], [False] * 4]
    for decoder, bad, message in (
        (scores, np.full((1, 6), np.nan, np.float32), "action must be finite"),
        (query, np.zeros((1, 5), np.float32), r"action must have shape \(any, 4\)"),
        (slate, np.array([[0, 1, 2, 6]]), r"action must hold item ids in \[0, 6\), got 6"),
        (slate, np.array([[0.0, 1, 2, 3]]), "action must have a signed int or unsigned int"),
    ):
        with pytest.raises(ValueError, match=message):
            decoder(bad)


def test_multidiscrete_repeats_are_repaired_and_reported_in_info():
    env = make("slate", n_items=10)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([3, 3, 3, 9, 9]))
    assert info["slate"].tolist() == [3, 4, 5, 9, 0]
    assert info["replaced_slots"].tolist() == [False, True, True, False, True]
    assert len(set(info["slate"].tolist())) == 5


def test_episodes_truncate_at_max_steps_and_move_to_the_next_user():
    env = make(env={"max_steps": 7})
    _, info = env.reset(seed=0)
    assert info["user_id"] == 0
    for step in range(7):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated and truncated == (step == 6)
    assert env.reset()[1]["user_id"] == 1
    assert make().unwrapped.user_env.env_config.max_steps == 100  # the id's default


def test_vector_env_runs_the_rl_id_in_sync_mode():
    envs = gym.make_vec(
        "adaptrec/SlateRecRL-v0",
        num_envs=2,
        vectorization_mode="sync",
        catalog={"n_items": 40},
        item_vectors=unit_vectors(40, 16),
    )
    obs, _ = envs.reset(seed=0)
    assert obs["profile_clicked"].shape == (2, 16)
    obs, reward, *_ = envs.step(envs.action_space.sample())
    assert reward.shape == (2,)


def test_the_rl_env_is_the_runs_world_so_a_policy_scores_the_same_in_both(tmp_path):
    """env_kwargs(config) rebuilds the run's catalog, users and env: a deterministic policy run
    by adaptrec.run shows user 1 the same slates, and user 1 clicks the same, as in the env."""
    config = rl_run_config(n_items=40, n_users=3, n_steps=20, encoder="hashing")
    vectors = item_vectors_of(config)

    def policy(observation):  # query = the clicked profile, nudged toward item 0 when empty
        return observation["profile_clicked"] + 0.01 * vectors[0]

    result = adaptrec.run(config, agents=[("taste", policy_factory(policy))], out=tmp_path)
    logs = pq.read_table(result.paths["steps/taste"]).to_pandas()
    user = logs[logs.user == 1].sort_values(["step", "slot"])
    env = gym.make("adaptrec/SlateRecRL-v0", **env_kwargs(config, vectors, first_user=1))
    obs, _ = env.reset(seed=123)  # world_seed, not this seed, picks the users
    for step in range(config.n_steps):
        action = policy({key: value[None] for key, value in obs.items()})[0]
        obs, reward, _, _, info = env.step(action)
        rows = user[user.step == step]
        assert rows.item.tolist() == info["slate"].tolist()
        assert float(rows.reward.iloc[0]) == reward


@pytest.mark.parametrize("action", ACTION_KINDS)
def test_sb3_ppo_builds_and_trains_on_every_action_kind(action):
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    env = make(action, env={"max_steps": 32})
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(128)
    obs, _ = env.reset(seed=1)
    slate_action = model.predict(obs, deterministic=True)[0]
    assert env.action_space.shape == np.asarray(slate_action).shape
    torch.set_num_threads(2)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("script", "agent", "extra"),
    [("ppo_sb3.py", "ppo", []), ("ppo_rllib.py", "ppo-rllib", ["--batch", "400"])],
)
def test_ppo_examples_train_and_print_adaptrecs_table(script, agent, extra, tmp_path):
    """The examples' smoke versions: a short training, then adaptrec's table for PPO beside
    random, the seed agent and the oracle, from the run's own Parquet logs."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / script), "--timesteps", "800", *extra,
         "--items", "40", "--users", "6", "--steps", "20", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split("|")[1].strip() for line in result.stdout.splitlines() if "|" in line}
    assert {agent, "random", "llm-cosine-seed", "oracle"} <= rows
    table = pq.read_table(tmp_path / "run" / "steps" / f"{agent}.parquet")
    assert table.num_rows == 6 * 20 * 5


def test_evaluating_a_retrained_policy_replaces_only_its_own_log(tmp_path):
    from adaptrec.rl import evaluate_policy

    config = rl_run_config(n_items=40, n_users=3, n_steps=20, encoder="hashing")
    vectors = item_vectors_of(config)
    first = evaluate_policy(config, "pi", lambda obs: np.tile(vectors[0], (3, 1)), out=tmp_path)
    baseline = pq.read_table(first.paths["steps/random"])
    before = pq.read_table(first.paths["steps/pi"]).column("item").to_pylist()[:5]
    second = evaluate_policy(config, "pi", lambda obs: np.tile(-vectors[0], (3, 1)), out=tmp_path)
    after = pq.read_table(second.paths["steps/pi"]).column("item").to_pylist()[:5]
    assert before != after  # the new policy was run, not the old log kept
    assert pq.read_table(second.paths["steps/random"]).equals(baseline)
