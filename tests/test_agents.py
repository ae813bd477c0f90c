import numpy as np
import pytest

from adaptrec.agents import (
    LLMCosineAgent,
    OracleAgent,
    PopularityAgent,
    RandomAgent,
    StepBatch,
    batch_observation,
    make_agent,
)
from adaptrec.agents.base import explore, random_slates, shown_in_history
from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import (
    CatalogConfig,
    EnvConfig,
    LLMCosineConfig,
    UserConfig,
    seed_agent_config,
)
from adaptrec.core.rng import Component, user_keys
from adaptrec.envs import SlateRecEnv, UserPopulation


def valid(slates, n_items, k):
    return (
        slates.shape[1] == k
        and slates.dtype == np.int64
        and ((slates >= 0) & (slates < n_items)).all()
        and all(len(set(row)) == k for row in slates.tolist())
    )


def test_random_slates_are_distinct_uniform_and_batch_invariant():
    keys = user_keys(0, Component.AGENT_USER, np.arange(500))
    counts = np.zeros(20)
    for step in range(40):
        slates = random_slates(keys, np.full(500, step), 20, 6, lane=0)
        assert valid(slates, 20, 6)
        np.add.at(counts, slates.ravel(), 1)
        alone = random_slates(keys[7:8], np.array([step]), 20, 6, lane=0)
        assert np.array_equal(alone, slates[7:8])
    expected = 500 * 40 * 6 / 20
    assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)


def test_exploration_replaces_slots_with_items_outside_the_slate():
    keys = user_keys(0, Component.AGENT_USER, np.arange(300))
    greedy = np.tile(np.arange(5), (300, 1))
    explored = explore(greedy, keys, np.zeros(300), 50, epsilon=0.3, lane=1)
    assert valid(explored, 50, 5)
    share = (explored != greedy).mean()
    assert 0.2 < share < 0.4
    assert np.array_equal(explore(greedy, keys, np.zeros(300), 50, 0.0, 1), greedy)


def test_history_mask_marks_exactly_the_shown_items():
    history = np.array([[[3, 4], [-1, -1]], [[0, 9], [9, 1]]])
    mask = shown_in_history(history, 10)
    assert np.nonzero(mask[0])[0].tolist() == [3, 4]
    assert np.nonzero(mask[1])[0].tolist() == [0, 1, 9]


@pytest.fixture
def small_world():
    catalog = make_catalog(CatalogConfig(n_items=80), 0)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(80, 16)).astype(np.float32)
    population = UserPopulation(catalog, UserConfig(drift="none"), EnvConfig(max_steps=50))
    population.reset(np.arange(6), 0)
    return catalog, vectors, population


def drive(agent, population, steps):
    slates_seen = []
    for _ in range(steps):
        observation = population.observations()
        slates = agent.act(observation)
        assert valid(slates, population.n_items, population.slate_size)
        step = population.step_.copy()
        outcome = population.step(slates)
        metrics = agent.update(
            StepBatch(
                population.user_ids_,
                step,
                slates,
                outcome.clicked,
                outcome.skipped,
                outcome.dwell,
                outcome.reward,
            )
        )
        assert isinstance(metrics, dict)
        slates_seen.append(slates)
    return np.stack(slates_seen)


def test_seed_agent_cold_start_gives_valid_slates_not_nan(small_world):
    _, vectors, population = small_world
    agent = LLMCosineAgent(vectors, 5, seed_agent_config(candidates=20), seed=0)
    observation = population.observations()
    users = agent.user_vectors(observation["user_id"])
    assert np.isfinite(users).all() and np.linalg.norm(users, axis=1).min() > 0
    drive(agent, population, 5)


def test_improved_agent_cold_start_follows_the_population(small_world):
    # Catches: a new user not given the population's prior mean (a zero vector: every score
    # ties), or NaN from the empty ridge model.
    _, vectors, population = small_world
    agent = LLMCosineAgent(vectors, 5, LLMCosineConfig(candidates=20), seed=0)
    slates = drive(agent, population, 4)
    assert ((slates >= 0) & (slates < 80)).all()
    assert all(len(set(row.tolist())) == 5 for row in slates.reshape(-1, 5))
    newcomer = agent.user_vectors(np.array([50]))[0]
    assert np.isfinite(newcomer).all() and np.linalg.norm(newcomer) > 0.99


def test_seed_agent_survives_all_zero_item_vectors(small_world):
    _, _, population = small_world
    agent = LLMCosineAgent(np.zeros((80, 16), np.float32), 5, seed=0)
    drive(agent, population, 3)


def test_seed_agent_is_deterministic_given_its_seed(small_world):
    catalog, vectors, _ = small_world

    def trace(seed):
        population = UserPopulation(catalog, UserConfig(drift="none"), EnvConfig(max_steps=50))
        population.reset(np.arange(6), 0)
        agent = LLMCosineAgent(vectors, 5, LLMCosineConfig(epsilon=0.2), seed=seed)
        return drive(agent, population, 15)

    assert np.array_equal(trace(3), trace(3))
    assert not np.array_equal(trace(3), trace(4))


def test_a_click_pulls_the_user_vector_towards_the_item_and_a_skip_pushes_it_away(small_world):
    _, vectors, _ = small_world
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ids, slate = np.array([0]), np.array([[10, 20]])

    def cos_after(clicked, skipped):
        agent = LLMCosineAgent(vectors, 2, seed_agent_config(updates_per_step=0), seed=0)
        if clicked is not None:
            agent.update(
                StepBatch(
                    ids,
                    np.array([0]),
                    slate,
                    np.array([clicked]),
                    np.array([skipped]),
                    np.zeros((1, 2), np.float32),
                    np.ones(1),
                )
            )
        user = agent.user_vectors(ids)[0]
        return user @ unit[10] / np.linalg.norm(user), user @ unit[20] / np.linalg.norm(user)

    prior = cos_after(None, None)
    click_only = cos_after([True, False], [False, False])
    click_and_skip = cos_after([True, False], [False, True])
    assert click_only[0] > prior[0]
    assert click_and_skip[1] < click_only[1]


def test_predictor_learns_after_every_step(small_world):
    _, vectors, population = small_world
    agent = LLMCosineAgent(vectors, 5, seed=0)
    weights = [p.detach().clone() for p in agent.predictor.parameters()]
    drive(agent, population, 1)
    assert any(
        not np.array_equal(a, b.detach())
        for a, b in zip(weights, agent.predictor.parameters(), strict=True)
    )


def test_recently_shown_items_are_not_repeated_by_the_seed_agent(small_world):
    _, vectors, population = small_world
    agent = LLMCosineAgent(vectors, 5, LLMCosineConfig(epsilon=0.0), seed=0)
    slates = drive(agent, population, 3)
    for user in range(6):
        assert len(set(slates[:, user].ravel().tolist())) == 15


def test_popularity_ranks_by_clicks_and_oracle_matches_the_population(small_world):
    _, _, population = small_world
    agent = PopularityAgent(80, 5, epsilon=0.0)
    agent.clicks_[[7, 3, 9]] = [5, 9, 1]
    observation = {"user_id": np.array([0]), "step": np.array([0])}
    assert agent.act(observation)[0, :3].tolist() == [3, 7, 9]
    oracle = OracleAgent(population)
    assert np.array_equal(oracle.act(population.observations()), population.oracle_slates())


def test_agents_work_with_the_single_env_through_batch_observation():
    env = SlateRecEnv(catalog={"n_items": 60})
    obs, _ = env.reset(seed=0)
    agent = RandomAgent(60, 5, seed=0)
    for _ in range(5):
        action = agent.act(batch_observation(obs))[0]
        obs, *_ = env.step(action)


def test_bad_inputs_at_the_agent_boundary_are_named():
    with pytest.raises(ValueError, match="item_vectors must be finite, got 1 NaN/inf"):
        LLMCosineAgent(np.array([[np.nan, 0.0], [1.0, 0.0]]), 1)
    with pytest.raises(ValueError, match="slate_size must be <= 2, got 3"):
        LLMCosineAgent(np.ones((2, 2), np.float32), 3)
    with pytest.raises(ValueError, match="observation must be a dict with a 'user_id' entry"):
        RandomAgent(10, 2).act({"step": np.array([0])})
    with pytest.raises(ValueError, match=r"agent must name a built-in agent .* got 'bandit'"):
        make_agent("bandit", None, np.ones((3, 2)), None)


def test_seed_agent_training_is_bitwise_reproducible_at_full_batch_size():
    # Catches order-dependent float accumulation in the backward pass (e.g. a scatter-add
    # from indexing parameters), which only shows with batches big enough to run in parallel.
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 64)).astype(np.float32)
    slates = np.stack([rng.choice(500, 5, replace=False) for _ in range(800)])
    clicked = rng.random((800, 5)) < 0.3
    batch = StepBatch(
        np.arange(800),
        np.zeros(800, np.int64),
        slates,
        clicked,
        ~clicked & (rng.random((800, 5)) < 0.5),
        np.zeros((800, 5), np.float32),
        clicked.sum(axis=1).astype(float),
    )

    def weights_after_updates():
        agent = LLMCosineAgent(vectors, 5, LLMCosineConfig(updates_per_step=3), seed=0)
        for _ in range(3):
            agent.update(batch)
        return [p.detach().clone() for p in agent.predictor.parameters()]

    reference = weights_after_updates()
    for _ in range(4):
        assert all(
            np.array_equal(a, b) for a, b in zip(reference, weights_after_updates(), strict=True)
        )


def test_centred_item_vectors_ignore_a_direction_shared_by_every_item(small_world):
    """With center_items, adding one vector to every item's embedding (a shared template
    direction) changes nothing the agent does; without it, it does."""
    catalog, vectors, _ = small_world
    shared = 4.0 * np.random.default_rng(1).normal(size=vectors.shape[1]).astype(np.float32)

    def trace(item_vectors, centre):
        population = UserPopulation(catalog, UserConfig(drift="none"), EnvConfig(max_steps=50))
        population.reset(np.arange(6), 0)
        config = seed_agent_config(center_items=centre, updates_per_step=0, candidates=0)
        agent = LLMCosineAgent(item_vectors, 5, config, seed=0)
        return drive(agent, population, 12)

    assert np.array_equal(trace(vectors, True), trace(vectors + shared, True))
    assert not np.array_equal(trace(vectors, False), trace(vectors + shared, False))
