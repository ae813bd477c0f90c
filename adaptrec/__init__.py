"""adaptrec: how quickly does a recommender personalise?"""

__version__ = "0.1.0"

import gymnasium as _gymnasium

if "adaptrec/SlateRec-v0" not in _gymnasium.registry:
    _gymnasium.register(
        id="adaptrec/SlateRec-v0",
        entry_point="adaptrec.envs.slate_env:SlateRecEnv",
        vector_entry_point="adaptrec.envs.vector_env:SlateRecVectorEnv",
        max_episode_steps=None,
    )
