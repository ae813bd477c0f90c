"""Simulated users and the Gymnasium environment built on them.

The names below are loaded on first use (PEP 562), so importing a light submodule such as
:mod:`adaptrec.envs.scenarios` does not compile the simulator's kernels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "SlateRecEnv": "adaptrec.envs.slate_env",
    "SlateSpace": "adaptrec.envs.slate_env",
    "SlateRecVectorEnv": "adaptrec.envs.vector_env",
    "StepOutcome": "adaptrec.envs.population",
    "Population": "adaptrec.envs.population",
    "UserPopulation": "adaptrec.envs.users",
}

if TYPE_CHECKING:
    from adaptrec.envs.population import Population, StepOutcome
    from adaptrec.envs.slate_env import SlateRecEnv, SlateSpace
    from adaptrec.envs.users import UserPopulation
    from adaptrec.envs.vector_env import SlateRecVectorEnv


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'adaptrec.envs' has no attribute {name!r}")


__all__ = [
    "Population",
    "SlateRecEnv",
    "SlateRecVectorEnv",
    "SlateSpace",
    "StepOutcome",
    "UserPopulation",
]
