"""Simulated users and the Gymnasium environment built on them."""

from adaptrec.envs.slate_env import SlateRecEnv, SlateSpace
from adaptrec.envs.users import StepOutcome, UserPopulation

__all__ = ["SlateRecEnv", "SlateSpace", "StepOutcome", "UserPopulation"]
