"""Simulated users and the Gymnasium environment built on them."""

from adaptrec.envs.slate_env import SlateRecEnv, SlateSpace
from adaptrec.envs.users import StepOutcome, UserPopulation
from adaptrec.envs.vector_env import SlateRecVectorEnv

__all__ = ["SlateRecEnv", "SlateRecVectorEnv", "SlateSpace", "StepOutcome", "UserPopulation"]
