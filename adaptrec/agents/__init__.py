"""Agents: one batched protocol (act, update), the seed recommender and baselines."""

from __future__ import annotations

import numpy as np

from adaptrec.agents.bandits import EpsilonGreedyAgent, LinearBanditAgent, ThompsonAgent
from adaptrec.agents.base import Agent, StepBatch, batch_observation
from adaptrec.agents.baselines import OracleAgent, PopularityAgent, RandomAgent
from adaptrec.agents.llm_cosine import LLMCosineAgent
from adaptrec.core.config import AGENT_NAMES, RunConfig
from adaptrec.core.rng import Component, generator
from adaptrec.core.validation import check_choice
from adaptrec.envs.population import Population

__all__ = [
    "Agent",
    "EpsilonGreedyAgent",
    "LLMCosineAgent",
    "LinearBanditAgent",
    "OracleAgent",
    "PopularityAgent",
    "RandomAgent",
    "StepBatch",
    "ThompsonAgent",
    "batch_observation",
    "make_agent",
]


def ablation_vectors(name: str, texts, dim: int, config: RunConfig) -> np.ndarray:
    """Item vectors of an ablation: the hashing encoder's, or seeded random unit vectors."""
    if name == "llm-cosine-hashing":
        from adaptrec.core.encoders import HashingEncoder

        return HashingEncoder(dim).encode(list(texts))
    rng = generator(config.seed, Component.AGENT, AGENT_NAMES.index(name))
    vectors = rng.normal(size=(len(texts), dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_agent(
    name: str, config: RunConfig, item_vectors: np.ndarray, population: Population
) -> Agent:
    """Build agent ``name`` for a run. ``population`` is the run's Population (the oracle
    reads its hidden state; no other agent sees it)."""
    check_choice("agent", name, AGENT_NAMES)
    index = AGENT_NAMES.index(name)  # a stable stream per agent, whatever else runs beside it
    n_items, k = len(item_vectors), config.env.slate_size
    if name == "llm-cosine":
        return LLMCosineAgent(item_vectors, k, config.llm_cosine, config.seed, index)
    if name == "llm-cosine-seed":
        agent = LLMCosineAgent(item_vectors, k, config.llm_cosine_seed, config.seed, index)
        agent.name = name
        return agent
    if name in ("llm-cosine-hashing", "llm-cosine-random"):
        # Ablations: the same agent on item vectors without the language model's prior.
        vectors = ablation_vectors(name, population.catalog.texts, item_vectors.shape[1], config)
        agent = LLMCosineAgent(vectors, k, config.llm_cosine, config.seed, index)
        agent.name = name
        return agent
    if name == "egreedy":
        return EpsilonGreedyAgent(n_items, k, config.bandits, config.seed, index)
    if name == "thompson":
        return ThompsonAgent(n_items, k, config.bandits, config.seed, index)
    if name in ("linucb", "lin-ts"):
        mode = "ucb" if name == "linucb" else "ts"
        return LinearBanditAgent(item_vectors, k, mode, config.bandits, config.seed, index)
    if name == "vw":
        from adaptrec.agents.vw import VowpalWabbitAgent

        return VowpalWabbitAgent(item_vectors, k, config.bandits, config.seed, index)
    if name == "popularity":
        return PopularityAgent(
            n_items,
            k,
            config.popularity.epsilon,
            config.seed,
            index,
            config.popularity.avoid_recent,
        )
    if name == "random":
        return RandomAgent(n_items, k, config.seed, index)
    return OracleAgent(population)
