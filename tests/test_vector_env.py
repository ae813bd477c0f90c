import gymnasium as gym
import numpy as np
import pytest

import adaptrec  # noqa: F401 - registers the env ids
from adaptrec.envs import SlateRecEnv, SlateRecVectorEnv

KW = {"catalog": {"n_items": 90}, "env": {"max_steps": 12}, "users": {"drift_step": 5}}
B = 5


def native():
    return gym.make_vec(
        "adaptrec/SlateRec-v0", num_envs=B, vectorization_mode="vector_entry_point", **KW
    )


def sync():
    envs = gym.make_vec("adaptrec/SlateRec-v0", num_envs=B, vectorization_mode="sync", **KW)
    envs.set_attr("first_user", list(range(B)))  # sub-env b is user b, then b + B, ...
    envs.set_attr("user_stride", B)
    return envs


def test_native_vector_env_equals_the_sync_vector_env_across_autoresets():
    fast, slow = native(), sync()
    assert fast.metadata["autoreset_mode"] == slow.metadata["autoreset_mode"]
    obs_fast, info_fast = fast.reset(seed=7)
    obs_slow, _ = slow.reset(seed=[7] * B)  # one root seed, as the native env uses
    rng = np.random.default_rng(0)
    truncations = 0
    for _ in range(30):
        for key in obs_slow:
            assert np.array_equal(obs_fast[key], obs_slow[key]), key
        actions = np.stack([rng.choice(90, 5, replace=False) for _ in range(B)])
        obs_fast, r_fast, term_fast, trunc_fast, info_fast = fast.step(actions)
        obs_slow, r_slow, term_slow, trunc_slow, info_slow = slow.step(actions)
        assert np.array_equal(r_fast, r_slow)
        assert np.array_equal(term_fast, term_slow) and np.array_equal(trunc_fast, trunc_slow)
        truncations += int(trunc_fast.sum())
        for key in ("expected_clicks", "oracle_expected_clicks", "drift", "session_end"):
            mask = info_fast[f"_{key}"]
            assert np.array_equal(mask, info_slow.get(f"_{key}", np.zeros(B, bool))), key
            if mask.any():
                assert np.array_equal(info_fast[key][mask], info_slow[key][mask]), key
    assert truncations == 2 * B  # every user finished two episodes and started a third
    assert sorted(obs_fast["user_id"].tolist()) == list(range(2 * B, 3 * B))


def test_vector_spaces_hold_what_the_env_returns_and_samples_are_valid():
    envs = native()
    obs, _ = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    for _ in range(20):
        actions = envs.action_space.sample()
        assert envs.action_space.contains(actions)
        obs, *_ = envs.step(actions)
        assert envs.observation_space.contains(obs)
    assert not envs.action_space.contains(np.tile([1, 1, 2, 3, 4], (B, 1)))


def test_reset_mask_resets_only_the_chosen_users():
    envs = SlateRecVectorEnv(num_envs=3, **KW)
    envs.reset(seed=1)
    for _ in range(3):
        envs.step(envs.action_space.sample())
    obs, info = envs.reset(options={"reset_mask": np.array([False, True, False])})
    assert obs["step"].tolist() == [3, 0, 3]
    assert obs["user_id"].tolist() == [0, 4, 2]
    assert info["_user_id"].tolist() == [False, True, False]


def test_bad_actions_and_seeds_are_named_and_leave_the_env_usable():
    envs = SlateRecVectorEnv(num_envs=2, **KW)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \(2, 5\), got \(5,\)"):
        envs.step(np.arange(5))
    with pytest.raises(ValueError, match="actions must hold 5 distinct items"):
        envs.step(np.array([[0, 1, 2, 3, 4], [7, 7, 1, 2, 3]]))
    with pytest.raises(ValueError, match="seed must be one root seed for the whole population"):
        envs.reset(seed=[1, 2])
    obs, *_ = envs.step(np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]))
    assert obs["step"].tolist() == [1, 1]


def test_single_env_user_stride_gives_the_next_users():
    env = SlateRecEnv(user_id=2, user_stride=10, **KW)
    assert [env.reset(seed=0)[1]["user_id"], env.reset()[1]["user_id"]] == [2, 12]
