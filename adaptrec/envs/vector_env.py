"""``SlateRecVectorEnv``: B users stepping together in numpy, a native Gymnasium vector env.

It runs the same :class:`~adaptrec.envs.users.UserPopulation` kernel as the single-user env, so
with the same root seed user ``b`` follows exactly the trajectory of
``SlateRecEnv(user_id=b, user_stride=B)`` reset with that seed - including later episodes, since
after its j-th episode env ``b`` moves on to user ``b + j * B``. Seeding differs from
``SyncVectorEnv``'s ``seed + i`` convention on purpose: ``reset(seed=s)`` means "users
``0..B-1`` of root seed ``s``" (one population), and a list of seeds must repeat one value.

Autoreset is ``NEXT_STEP``: the step after an env's episode ends ignores its action and returns
the first observation of the next user, with reward 0 and no termination or truncation.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from adaptrec.core.validation import check_array, check_int
from adaptrec.envs.slate_env import SlateRecEnv, SlateSpace

_INFO_KEYS = ("expected_clicks", "oracle_expected_clicks", "drift", "user_id", "session_end")


class BatchedSlateSpace(gym.spaces.MultiDiscrete):
    """``(B, k)`` slates: each row ``k`` distinct items; sampling never repeats within a row."""

    def __init__(self, n_items: int, slate_size: int, num_envs: int, seed: Any = None) -> None:
        super().__init__(
            np.full((num_envs, slate_size), n_items, dtype=np.int64), dtype=np.int64, seed=seed
        )
        self.n_items, self.slate_size, self.num_envs = n_items, slate_size, num_envs
        self.live = np.tile(np.array([0, n_items], dtype=np.int64), (num_envs, 1))
        """``(B, 2)``: each row samples from its ids ``[lo, hi)`` (set by a changing
        catalog's vector env to its users' live items)."""

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            raise ValueError("BatchedSlateSpace.sample supports neither mask nor probability")
        return np.stack(
            [
                lo + self.np_random.choice(hi - lo, self.slate_size, replace=False)
                for lo, hi in self.live
            ]
        ).astype(np.int64)

    def contains(self, x: Any) -> bool:
        if not super().contains(x):
            return False
        ordered = np.sort(np.asarray(x), axis=1)
        return bool((ordered[:, 1:] != ordered[:, :-1]).all())


@batch_space.register(SlateSpace)
def _batch_slate_space(space: SlateSpace, n: int = 1) -> BatchedSlateSpace:
    return BatchedSlateSpace(
        space.n_items, space.slate_size, n, seed=int(space.np_random.integers(0, 2**31 - 1))
    )


class SlateRecVectorEnv(VectorEnv):
    """``num_envs`` simulated users of ``adaptrec/SlateRec-v0`` stepped as one batch.

    Arguments are those of :class:`~adaptrec.envs.slate_env.SlateRecEnv` (``env``, ``users``,
    ``catalog``, ``catalog_seed``) plus ``num_envs``. Observations, rewards and flags carry a
    leading axis of size ``num_envs``; ``info`` holds ``expected_clicks``,
    ``oracle_expected_clicks``, ``drift``, ``user_id`` and ``session_end`` arrays, each with a
    ``_key`` mask (False for envs that were just reset).

    Example:
        >>> import gymnasium as gym, adaptrec
        >>> envs = gym.make_vec("adaptrec/SlateRec-v0", num_envs=4,
        ...                     vectorization_mode="vector_entry_point", catalog={"n_items": 50})
        >>> obs, info = envs.reset(seed=0)
        >>> obs["items"].shape
        (4, 10, 5)
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        self.num_envs = check_int("num_envs", num_envs, low=1)
        template = SlateRecEnv(**kwargs)  # validates the arguments and builds the catalog
        self.catalog, self.env_config = template.catalog, template.env_config
        self.population = template.population  # the kernel, resized at reset
        self.single_observation_space = template.observation_space
        self.single_action_space = template.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._root_seed: int | None = None
        self._episodes = np.zeros(self.num_envs, dtype=np.int64)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def _next_users(self, rows: np.ndarray) -> np.ndarray:
        return rows + self._episodes[rows] * self.num_envs

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if options:
            raise ValueError(f"options may only hold 'reset_mask', got {sorted(options)}")
        if isinstance(seed, (list, tuple)):
            if len(set(seed)) > 1:
                raise ValueError(
                    "seed must be one root seed for the whole population (an int, or a list "
                    f"repeating one value), got {list(seed)[:4]}..."
                )
            seed = seed[0] if seed else None
        if seed is not None:
            self._root_seed = check_int("seed", seed, low=0)
            self._np_random, _ = gym.utils.seeding.np_random(self._root_seed)
        elif self._root_seed is None:
            self._root_seed = int(self.np_random.integers(0, 2**63 - 1))
        if mask is None or seed is not None or not hasattr(self.population, "user_ids_"):
            self._episodes[:] = 0
            self.population.reset(np.arange(self.num_envs), self._root_seed)
            rows = np.arange(self.num_envs)
        else:
            check_array("options['reset_mask']", mask, shape=(self.num_envs,), kind="b")
            rows = np.nonzero(mask)[0]
            self._episodes[rows] += 1
            self.population.reset_rows(rows, self._next_users(rows))
        self._autoreset[rows] = False
        info = {
            "user_id": self.population.user_ids_.copy(),
            "_user_id": np.isin(np.arange(self.num_envs), rows),
        }
        return self._observations(), info

    def _observations(self) -> dict[str, np.ndarray]:
        observations = self.population.observations()
        if "live" in observations:
            self.action_space.live = observations["live"].copy()
        return observations

    def step(self, actions: Any):
        actions = np.asarray(actions)
        restart = np.nonzero(self._autoreset)[0]
        if restart.size:
            # NEXT_STEP autoreset: these envs start their next user and ignore their action.
            self._episodes[restart] += 1
            self.population.reset_rows(restart, self._next_users(restart))
        active = ~np.isin(np.arange(self.num_envs), restart)
        if actions.shape != (self.num_envs, self.env_config.slate_size):
            raise ValueError(
                f"actions must have shape ({self.num_envs}, {self.env_config.slate_size}), "
                f"got {actions.shape}"
            )
        outcome = self.population.step(actions[active], name="actions", rows=np.nonzero(active)[0])
        rewards = np.zeros(self.num_envs)
        truncated = np.zeros(self.num_envs, dtype=bool)
        rewards[active] = outcome.reward
        truncated[active] = outcome.truncated
        info: dict[str, Any] = {}
        for key in _INFO_KEYS:
            if key == "user_id":
                values = self.population.user_ids_.copy()
            else:
                source = getattr(outcome, key)
                values = np.zeros(self.num_envs, dtype=source.dtype)
                values[active] = source
            info[key], info[f"_{key}"] = values, active.copy()
        self._autoreset = truncated.copy()
        return (
            self._observations(),
            rewards,
            np.zeros(self.num_envs, dtype=bool),
            truncated,
            info,
        )
