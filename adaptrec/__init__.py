"""adaptrec: how quickly does a recommender personalise?"""

from typing import Any as _Any

from adaptrec._openmp import limit_spinning as _limit_spinning

_limit_spinning()  # before numba's or torch's OpenMP runtime loads (see adaptrec/_openmp.py)

import gymnasium as _gymnasium  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name: str) -> _Any:  # PEP 562: `import adaptrec` stays light (no torch)
    if name in ("run", "RunResult"):
        from adaptrec import api

        return getattr(api, name)
    raise AttributeError(f"module 'adaptrec' has no attribute {name!r}")


if "adaptrec/SlateRec-v0" not in _gymnasium.registry:
    _gymnasium.register(
        id="adaptrec/SlateRec-v0",
        entry_point="adaptrec.envs.slate_env:SlateRecEnv",
        vector_entry_point="adaptrec.envs.vector_env:SlateRecVectorEnv",
        max_episode_steps=None,
    )
if "adaptrec/SlateRecRL-v0" not in _gymnasium.registry:
    # The same user with spaces generic RL libraries accept; the env truncates itself at
    # env.max_steps (100 by default for this id), so no TimeLimit is added.
    _gymnasium.register(
        id="adaptrec/SlateRecRL-v0",
        entry_point="adaptrec.envs.rl_env:SlateRecRLEnv",
        max_episode_steps=None,
    )
