"""The built-in agents' factory (one for all names in :data:`~adaptrec.core.config.AGENT_NAMES`)."""

from __future__ import annotations

import numpy as np

from adaptrec.agents.bandits import EpsilonGreedyAgent, LinearBanditAgent, ThompsonAgent
from adaptrec.agents.base import Agent
from adaptrec.agents.baselines import OracleAgent, PopularityAgent, RandomAgent
from adaptrec.agents.llm_cosine import LLMCosineAgent
from adaptrec.agents.registry import AgentContext, stream_index
from adaptrec.core.config import RunConfig
from adaptrec.core.encoders import text_encoder
from adaptrec.core.rng import Component, generator


def ablation_vectors(name: str, texts, dim: int, config: RunConfig) -> np.ndarray:
    """Item vectors of an ablation: the hashing encoder's, or seeded random unit vectors."""
    if name == "llm-cosine-hashing":
        from adaptrec.core.encoders import HashingEncoder

        return HashingEncoder(dim).encode(list(texts))
    rng = generator(config.seed, Component.AGENT, stream_index(name))
    vectors = rng.normal(size=(len(texts), dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_builtin(context: AgentContext) -> Agent:
    """Build built-in agent ``context.name``."""
    name, config, item_vectors = context.name, context.config, context.item_vectors
    index = context.stream  # a stable stream per agent, whatever else runs beside it
    n_items, k, seed = context.n_items, context.slate_size, context.seed
    if name in ("llm-cosine", "llm-cosine-seed"):
        settings = config.llm_cosine if name == "llm-cosine" else config.llm_cosine_seed
        texts = encoder = None
        if settings.text_profile > 0:  # the run's language model reads the user's history
            texts, encoder = context.catalog.texts, text_encoder(config.encoder)
        agent = LLMCosineAgent(item_vectors, k, settings, seed, index, texts, encoder)
        agent.name = name
        return agent
    if name in ("llm-cosine-hashing", "llm-cosine-random"):
        # Ablations: the same agent on item vectors without the language model's prior.
        vectors = ablation_vectors(name, context.catalog.texts, item_vectors.shape[1], config)
        agent = LLMCosineAgent(vectors, k, config.llm_cosine, seed, index)
        agent.name = name
        return agent
    if name == "egreedy":
        return EpsilonGreedyAgent(n_items, k, config.bandits, seed, index)
    if name == "thompson":
        return ThompsonAgent(n_items, k, config.bandits, seed, index)
    if name in ("linucb", "lin-ts"):
        mode = "ucb" if name == "linucb" else "ts"
        return LinearBanditAgent(item_vectors, k, mode, config.bandits, seed, index)
    if name in ("d-linucb", "sw-linucb", "glr-linucb"):
        from adaptrec.agents.nonstationary import (
            DiscountedLinUCB,
            GLRLinUCB,
            SlidingWindowLinUCB,
        )

        kind = {"d-linucb": DiscountedLinUCB, "sw-linucb": SlidingWindowLinUCB}.get(name, GLRLinUCB)
        return kind(item_vectors, k, config.bandits, seed, index)
    if name == "vw":
        from adaptrec.agents.vw import VowpalWabbitAgent

        return VowpalWabbitAgent(item_vectors, k, config.bandits, seed, index)
    if name == "popularity":
        popularity = config.popularity
        return PopularityAgent(n_items, k, popularity.epsilon, seed, index, popularity.avoid_recent)
    if name == "random":
        return RandomAgent(n_items, k, seed, index)
    if name == "oracle":
        return OracleAgent(context.population)
    raise ValueError(f"agent must be a built-in agent, got {name!r}")  # registry routes others
