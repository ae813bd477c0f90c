import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import adaptrec  # noqa: F401 - registers the env ids
from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import CatalogConfig, EnvConfig, UserConfig
from adaptrec.envs import SlateRecEnv, UserPopulation

SMALL = {"n_items": 120}


def rollout(env, seed, steps, actions_seed=0):
    rng = np.random.default_rng(actions_seed)
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    for _ in range(steps):
        action = rng.choice(env.unwrapped.catalog.n_items, 5, replace=False)
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info["expected_clicks"]))
    return trace


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(a, b)


def test_gymnasium_check_env_passes_without_warnings():
    env = gym.make("adaptrec/SlateRec-v0", catalog=SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)


def test_same_seed_same_trajectory_and_different_seed_different():
    first = rollout(gym.make("adaptrec/SlateRec-v0", catalog=SMALL), 11, 60)
    second = rollout(gym.make("adaptrec/SlateRec-v0", catalog=SMALL), 11, 60)
    other = rollout(gym.make("adaptrec/SlateRec-v0", catalog=SMALL), 12, 60)
    assert all(same(a, b) for a, b in zip(first, second, strict=True))
    assert not all(same(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ([3, 3, 1, 2, 4], r"action must hold 5 distinct items per slate, got item 3 twice"),
        ([0, 1, 2, 3, 120], r"action must hold item indices in \[0, 119\], got 120"),
        ([-1, 1, 2, 3, 4], r"action must hold item indices in \[0, 119\], got -1"),
        ([0, 1, 2], r"action must have shape \(5,\), got \(3,\)"),
        (
            [0.0, 1.0, 2.0, 3.0, 4.0],
            "action must have a signed int or unsigned int dtype, got float64",
        ),
    ],
)
def test_invalid_actions_are_rejected_and_leave_the_env_usable(action, message):
    env = SlateRecEnv(catalog=SMALL)
    env.reset(seed=0)
    env.step(np.array([5, 6, 7, 8, 9]))
    with pytest.raises(ValueError, match=message):
        env.step(np.array(action))
    obs, *_ = env.step(np.array([0, 1, 2, 3, 4]))
    assert obs["step"] == 2  # the invalid step did not count
    assert obs["items"][1].tolist() == [5, 6, 7, 8, 9]


def test_sampled_actions_are_always_valid():
    space = SlateRecEnv(catalog={"n_items": 6}).action_space
    space.seed(0)
    for _ in range(200):
        assert space.contains(space.sample())
    assert not space.contains(np.array([1, 1, 2, 3, 4]))


def test_single_env_is_row_of_the_batched_population():
    catalog = make_catalog(CatalogConfig(n_items=150), 0)
    users, env_cfg = UserConfig(drift_step=10), EnvConfig(max_steps=30)
    population = UserPopulation(catalog, users, env_cfg)
    population.reset(np.arange(8), root_seed=4)
    env = SlateRecEnv(env=env_cfg, users=users, catalog=catalog)
    env.reset(seed=4, options={"user_id": 3})
    rng = np.random.default_rng(1)
    for _ in range(30):
        slates = np.stack([rng.choice(150, 5, replace=False) for _ in range(8)])
        batch = population.step(slates)
        _, reward, _, _, info = env.step(slates[3])
        assert reward == batch.reward[3]
        assert info["expected_clicks"] == batch.expected_clicks[3]
        assert info["oracle_expected_clicks"] == batch.oracle_expected_clicks[3]
        assert info["drift"] == batch.drift[3]
        assert info["session_end"] == batch.session_end[3]


def test_expected_clicks_never_exceed_the_oracle_and_probabilities_are_valid():
    env = SlateRecEnv(catalog=SMALL)
    env.reset(seed=2)
    for _ in range(100):
        _, _, _, _, info = env.step(env.action_space.sample())
        assert info["expected_clicks"] <= info["oracle_expected_clicks"] + 1e-12
        assert ((info["click_probability"] >= 0) & (info["click_probability"] <= 1)).all()


def test_the_oracle_slate_is_the_best_slate():
    catalog = make_catalog(CatalogConfig(n_items=8), 0)
    population = UserPopulation(catalog, UserConfig(), EnvConfig(slate_size=2))
    population.reset(np.array([0]), 0)
    attractiveness = population.attractiveness()[0]
    best = max(
        population.examination @ attractiveness[[a, b]]
        for a in range(8)
        for b in range(8)
        if a != b
    )
    assert population.step(population.oracle_slates()).oracle_expected_clicks[0] == (
        pytest.approx(best)
    )


def test_abrupt_drift_switches_preference_at_the_drift_step_only():
    catalog = make_catalog(CatalogConfig(n_items=50), 0)
    population = UserPopulation(
        catalog, UserConfig(drift_step=5, drift_fraction=1.0), EnvConfig(max_steps=10)
    )
    population.reset(np.arange(4), 0)
    before = population.preference_.copy()
    flags = []
    for _ in range(10):
        flags.append(population.step(np.tile(np.arange(5), (4, 1))).drift.copy())
    assert [bool(f.all()) for f in flags] == [t == 5 for t in range(10)]
    np.testing.assert_array_equal(population.preference_, population.drift_preference_)
    assert not np.allclose(before, population.preference_)


def test_gradual_drift_moves_linearly_to_the_new_preference():
    catalog = make_catalog(CatalogConfig(n_items=50), 0)
    users = UserConfig(drift="gradual", drift_step=2, drift_duration=4, drift_fraction=1.0)
    population = UserPopulation(catalog, users, EnvConfig(max_steps=10))
    population.reset(np.arange(3), 0)
    start, end = population.initial_preference_.copy(), population.drift_preference_
    for step in range(1, 9):
        population.step(np.tile(np.arange(5), (3, 1)))
        share = min(max(step - 2 + 1, 0) / 4, 1.0)
        np.testing.assert_allclose(population.preference_, start + share * (end - start))


def test_repeated_items_tire_the_user_and_fatigue_recovers():
    catalog = make_catalog(CatalogConfig(n_items=60), 0)
    users = UserConfig(leave_probability=0.0, leave_if_no_click=0.0, drift="none")
    population = UserPopulation(catalog, users, EnvConfig(max_steps=100))
    population.reset(np.array([0]), 0)
    same_slate, other = np.array([[0, 1, 2, 3, 4]]), np.array([[10, 11, 12, 13, 14]])
    expected = [population.step(same_slate).expected_clicks[0] for _ in range(6)]
    assert all(a > b for a, b in itertools.pairwise(expected))
    for _ in range(30):
        population.step(other)
    assert population.step(same_slate).expected_clicks[0] == pytest.approx(expected[0], rel=1e-3)


def test_sessions_end_and_the_user_comes_back_with_the_same_taste():
    env = SlateRecEnv(catalog=SMALL, users={"leave_if_no_click": 1.0, "drift": "none"})
    obs, _ = env.reset(seed=0)
    preference = env.population.preference_.copy()
    ends = 0
    for _ in range(50):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert not terminated and not truncated
        if info["session_end"]:
            ends += 1
            assert obs["session_step"] == 0
    assert ends > 5
    assert np.array_equal(preference, env.population.preference_)


def test_dwell_reward_is_the_dwell_of_the_clicks():
    env = SlateRecEnv(catalog=SMALL, env={"reward": "dwell"})
    env.reset(seed=3)
    total = 0.0
    for _ in range(40):
        obs, reward, *_ = env.step(env.action_space.sample())
        assert reward == pytest.approx(float(obs["dwell"][0].sum()), rel=1e-6)
        assert (obs["dwell"][0] > 0).tolist() == obs["clicks"][0].astype(bool).tolist()
        total += reward
    assert total > 0


def test_unseeded_resets_move_on_to_the_next_user_and_options_pick_one():
    env = SlateRecEnv(catalog=SMALL)
    assert env.reset(seed=1)[1]["user_id"] == 0
    assert env.reset()[1]["user_id"] == 1
    assert env.reset(options={"user_id": 42})[0]["user_id"] == 42
    with pytest.raises(ValueError, match=r"options may only hold 'user_id', got \['user'\]"):
        env.reset(options={"user": 1})


def test_truncation_after_max_steps_and_step_without_reset_is_refused():
    env = SlateRecEnv(catalog=SMALL, env={"max_steps": 3})
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        env.step(np.arange(5))
    env.reset(seed=0)
    assert [env.step(np.arange(5))[3] for _ in range(3)] == [False, False, True]


def test_bad_constructor_arguments_name_the_argument():
    with pytest.raises(
        ValueError, match=r"env\.slate_size must be <= the catalog's 4 items, got 5"
    ):
        SlateRecEnv(catalog={"n_items": 4})
    with pytest.raises(TypeError, match="users must be a UserConfig or a dict, got str"):
        SlateRecEnv(users="picky")
