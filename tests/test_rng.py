import numpy as np
from scipy import stats

from adaptrec.core.rng import Component, uniforms, user_keys


def test_a_users_key_does_not_depend_on_the_population():
    alone = user_keys(7, Component.USER_STEP, np.array([5]))
    among = user_keys(7, Component.USER_STEP, np.arange(10))
    assert alone[0] == among[5]
    assert len(set(among.tolist())) == 10
    assert user_keys(8, Component.USER_STEP, np.array([5]))[0] != alone[0]
    assert user_keys(7, Component.AGENT_USER, np.array([5]))[0] != alone[0]


def test_counter_uniforms_are_batch_invariant_and_distinct_per_counter_and_lane():
    keys = user_keys(0, Component.USER_STEP, np.arange(6))
    steps = np.array([0, 3, 3, 9, 1, 2])
    full = uniforms(keys, steps, lane=2, n=4)
    assert np.array_equal(uniforms(keys[3:4], steps[3:4], 2, 4), full[3:4])
    assert not np.allclose(uniforms(keys, steps + 1, 2, 4), full)
    assert not np.allclose(uniforms(keys, steps, 3, 4), full)


def test_counter_uniforms_are_uniform_and_uncorrelated():
    keys = user_keys(1, Component.USER_STEP, np.arange(2000))
    draws = np.concatenate([uniforms(keys, np.full(2000, t), 0, 5) for t in range(20)])
    assert draws.min() >= 0.0 and draws.max() < 1.0
    # Fixed inputs, so this is deterministic: a broken mix gives p ~ 0, a good one does not.
    assert stats.kstest(draws.ravel(), "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(draws[:, 0], draws[:, 1])[0, 1]) < 0.02


def test_an_agents_user_keys_are_made_for_the_ids_it_meets_only():
    # Catches: keys made for every id below the highest one (a million-user run's last shard
    # made a million keys: quadratic), keys that depend on the order ids are met.
    from adaptrec.agents.base import UserKeys
    from adaptrec.core.rng import Component, user_keys

    keys = UserKeys(3, 2)
    first = keys(np.array([990_005, 990_002]))
    later = keys(np.array([990_002, 990_009, 990_005]))
    reference = user_keys(3, Component.AGENT_USER, np.array([990_002, 990_005, 990_009]), 2)
    assert first.tolist() == reference[[1, 0]].tolist()
    assert later.tolist() == reference[[0, 2, 1]].tolist()
    assert len(keys._ids) == 3


def test_the_users_seed_states_are_numpys_seed_sequence_bit_for_bit():
    # Every stream of every run is defined by numpy's SeedSequence; the vectorised form must
    # give its words for small and large roots (one, two and three uint32 words), ids of
    # 2**32 and more (two words) mixed with small ones in one call, and prefixes. Catches a
    # wrong constant, a missed pool padding, the halves of a uint64 swapped, ids misordered.
    import pytest

    from adaptrec.core.rng import seed_sequence, spawn_states

    rng = np.random.default_rng(4)
    ids = np.concatenate([[0, 1, 2**32 - 1, 2**32, 2**40 + 9], rng.integers(0, 10**7, 12)])
    for root in (0, 7, 2**32 - 1, 2**32, 2**70 + 3):
        for prefix in ((), (2,), (0, 2**33)):
            got = spawn_states(root, Component.AGENT_USER, ids, 3, *prefix)
            want = [
                seed_sequence(root, Component.AGENT_USER, *prefix, int(user)).generate_state(
                    3, np.uint64
                )
                for user in ids
            ]
            assert np.array_equal(got, np.array(want))
    with pytest.raises(ValueError, match="user_ids must be >= 0, got -1"):
        spawn_states(0, Component.USER_STEP, np.array([3, -1]), 1)


def test_a_users_reused_generator_draws_what_its_own_generator_draws():
    from adaptrec.core.rng import generator, user_generators

    ids = np.array([0, 5, 2**33, 999_999, 5])
    for rng, user in zip(user_generators(3, Component.USER_INIT, ids), ids, strict=True):
        own = generator(3, Component.USER_INIT, int(user))
        assert np.array_equal(rng.normal(0, 2.5, 20), own.normal(0, 2.5, 20))
        assert rng.random() == own.random()
        assert rng.integers(1000) == own.integers(1000)
