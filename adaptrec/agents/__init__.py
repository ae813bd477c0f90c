"""Agents: one batched protocol (act, update), the seed recommender, baselines, and a registry
of agents by name that plugins join (:mod:`adaptrec.agents.registry`)."""

from __future__ import annotations

import numpy as np

from adaptrec.agents import registry
from adaptrec.agents.bandits import EpsilonGreedyAgent, LinearBanditAgent, ThompsonAgent
from adaptrec.agents.base import Agent, StepBatch, batch_observation
from adaptrec.agents.baselines import OracleAgent, PopularityAgent, RandomAgent
from adaptrec.agents.llm_cosine import LLMCosineAgent
from adaptrec.agents.registry import AgentContext, register, stream_index, unregister
from adaptrec.core.config import RunConfig
from adaptrec.envs.population import Population

__all__ = [
    "Agent",
    "AgentContext",
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
    "register",
    "stream_index",
    "unregister",
]


def make_agent(
    name: str, config: RunConfig, item_vectors: np.ndarray, population: Population
) -> Agent:
    """Build agent ``name`` (built in, registered or a plugin) for a run. ``population`` is
    the run's Population (the oracle reads its hidden state; no other agent sees it)."""
    return registry.make_agent(name, config, item_vectors, population)
