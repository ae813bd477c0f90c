"""Agents: one batched protocol (act, update), the seed recommender and baselines."""

from __future__ import annotations

import numpy as np

from adaptrec.agents.base import Agent, StepBatch, batch_observation
from adaptrec.agents.baselines import OracleAgent, PopularityAgent, RandomAgent
from adaptrec.agents.llm_cosine import LLMCosineAgent
from adaptrec.core.config import AGENT_NAMES, RunConfig
from adaptrec.core.validation import check_choice
from adaptrec.envs.users import UserPopulation

__all__ = [
    "Agent",
    "LLMCosineAgent",
    "OracleAgent",
    "PopularityAgent",
    "RandomAgent",
    "StepBatch",
    "batch_observation",
    "make_agent",
]


def make_agent(
    name: str, config: RunConfig, item_vectors: np.ndarray, population: UserPopulation
) -> Agent:
    """Build agent ``name`` for a run. ``population`` is the run's UserPopulation (the oracle
    reads its hidden state; no other agent sees it)."""
    check_choice("agent", name, AGENT_NAMES)
    index = AGENT_NAMES.index(name)  # a stable stream per agent, whatever else runs beside it
    n_items, k = len(item_vectors), config.env.slate_size
    if name == "llm-cosine":
        return LLMCosineAgent(item_vectors, k, config.llm_cosine, config.seed, index)
    if name == "popularity":
        return PopularityAgent(n_items, k, config.popularity.epsilon, config.seed, index)
    if name == "random":
        return RandomAgent(n_items, k, config.seed, index)
    return OracleAgent(population)
