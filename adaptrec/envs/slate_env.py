"""``adaptrec/SlateRec-v0``: one simulated user's stream of sessions as a Gymnasium env."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from adaptrec.core.catalog import Catalog, make_catalog
from adaptrec.core.config import ArrivalConfig, CatalogConfig, EnvConfig, UserConfig
from adaptrec.core.validation import check_int
from adaptrec.envs.users import UserPopulation

_MAX_USER_ID = 2**31 - 1
_MAX_DWELL = float(np.finfo(np.float32).max)  # dwell is unbounded (exponential)


class SlateSpace(spaces.MultiDiscrete):
    """Slates of ``slate_size`` *distinct* item indices in ``[0, n_items)``.

    A ``MultiDiscrete`` whose :meth:`sample` draws without replacement and whose :meth:`contains`
    also requires distinct entries, so sampled actions are always valid actions.
    """

    def __init__(self, n_items: int, slate_size: int, seed: int | None = None) -> None:
        super().__init__(np.full(slate_size, n_items, dtype=np.int64), dtype=np.int64, seed=seed)
        self.n_items, self.slate_size = n_items, slate_size
        self.live = (0, n_items)
        """The ids ``[lo, hi)`` :meth:`sample` draws from: a changing catalog's env sets them
        to the items live at its user's current step."""

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            raise ValueError("SlateSpace.sample supports neither mask nor probability; got one")
        lo, hi = self.live
        picked = self.np_random.choice(hi - lo, self.slate_size, replace=False)
        return (picked + lo).astype(np.int64)

    def contains(self, x: Any) -> bool:
        return bool(super().contains(x) and len(np.unique(np.asarray(x))) == self.slate_size)

    def __repr__(self) -> str:
        return f"SlateSpace(n_items={self.n_items}, slate_size={self.slate_size})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SlateSpace) and (other.n_items, other.slate_size) == (
            self.n_items,
            self.slate_size,
        )


def _as_config(kind: type, value: Any, name: str) -> Any:
    if value is None:
        return kind()
    if isinstance(value, kind):
        return value
    if isinstance(value, dict):
        return kind.from_dict(value, where=name)
    raise TypeError(f"{name} must be a {kind.__name__} or a dict, got {type(value).__name__}")


class SlateRecEnv(gym.Env):
    """A simulated user who is shown slates of items and clicks, dwells, skips and leaves.

    ## Description
    One episode is one user's stream of interactions, across sessions. Each step the agent
    shows a slate of ``k`` items from a catalog; the user examines slots with a position bias,
    clicks examined items with a probability that grows with the match between the user's
    hidden topic preference and the item's hidden topics and quality, and falls with fatigue
    from repeated exposure. After a step the user may end the session (more likely if nothing
    was clicked); the next step is the start of the user's next session, with the same hidden
    state. Some users' tastes drift (abruptly or gradually) at a configured step. The dynamics
    are those of :class:`adaptrec.envs.users.UserPopulation` with a batch of one user.

    ## Action Space
    :class:`SlateSpace`: ``k`` distinct item indices in ``[0, n_items)``, int64, best slot
    first. Duplicates, out-of-range indices, a wrong shape or a non-integer dtype raise
    ``ValueError`` (the env stays usable).

    ## Observation Space
    ``Dict`` with ``user_id`` and ``step`` and ``session_step`` (int64 scalars), and the last
    ``history_length`` steps, most recent first: ``items`` ``(H, k)`` int64 (-1 = none yet),
    ``clicks`` and ``skips`` ``(H, k)`` int8, ``dwell`` ``(H, k)`` float32 seconds.

    ## Rewards
    The number of clicks on the slate (``reward="clicks"``) or the total dwell seconds
    (``reward="dwell"``).

    ## Starting State
    The user's hidden preference is drawn from the user's own seed stream (root seed, user id);
    history is empty and fatigue is zero.

    ## Episode End
    Never terminated; truncated after ``max_steps`` steps. Session ends are reported in
    ``info["session_end"]`` and in ``session_step`` but do not end the episode.

    ## Info
    ``expected_clicks`` (of the shown slate), ``oracle_expected_clicks`` (of the best slate),
    ``drift`` (the preference changed at this step), ``user_id``, ``session_end``,
    ``click_probability`` ``(k,)``.

    ## Arguments
    ``env`` (:class:`EnvConfig` or dict), ``users`` (:class:`UserConfig` or dict),
    ``catalog`` (:class:`Catalog`, :class:`CatalogConfig` or dict), ``catalog_seed`` (int),
    ``user_id`` (the first episode's user) and ``user_stride``: episode ``j`` after a seeded
    reset is user ``user_id + j * user_stride`` (the attributes ``first_user`` and
    ``user_stride`` may be set later, e.g. with a vector env's ``set_attr``).
    ``reset(seed=s)`` sets the root seed; ``reset(options={"user_id": i})`` picks the user.

    ## Version History
    * v0: initial version.

    Example:
        >>> import gymnasium as gym, adaptrec
        >>> env = gym.make("adaptrec/SlateRec-v0", catalog={"n_items": 50})
        >>> obs, info = env.reset(seed=1)
        >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        >>> bool(info["expected_clicks"] <= info["oracle_expected_clicks"] + 1e-12)
        True
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        env: EnvConfig | dict | None = None,
        users: UserConfig | dict | None = None,
        catalog: Catalog | CatalogConfig | dict | None = None,
        catalog_seed: int = 0,
        user_id: int = 0,
        user_stride: int = 1,
        arrivals: ArrivalConfig | dict | None = None,
    ) -> None:
        self.env_config = _as_config(EnvConfig, env, "env")
        self.user_config = _as_config(UserConfig, users, "users")
        if not isinstance(catalog, Catalog):
            catalog = make_catalog(
                _as_config(CatalogConfig, catalog, "catalog"),
                check_int("catalog_seed", catalog_seed, low=0),
            )
        if arrivals is not None:
            arrivals = _as_config(ArrivalConfig, arrivals, "arrivals")
            needed = arrivals.items_needed(self.env_config.max_steps)
            if arrivals.changes and catalog.n_items < needed:
                raise ValueError(
                    f"catalog must have >= {needed} items for arrivals over env.max_steps="
                    f"{self.env_config.max_steps} steps, got {catalog.n_items}"
                )
            catalog = dataclasses.replace(catalog, arrivals=arrivals)
        self.catalog = catalog
        self.first_user = check_int("user_id", user_id, low=0, high=_MAX_USER_ID)
        self.user_stride = check_int("user_stride", user_stride, low=1)
        self.population = UserPopulation(catalog, self.user_config, self.env_config)
        n, k, h = catalog.n_items, self.env_config.slate_size, self.env_config.history_length
        steps = self.env_config.max_steps
        self.action_space = SlateSpace(n, k)
        self.observation_space = spaces.Dict(
            {
                "user_id": spaces.Box(0, _MAX_USER_ID, shape=(), dtype=np.int64),
                "step": spaces.Box(0, steps, shape=(), dtype=np.int64),
                "session_step": spaces.Box(0, steps, shape=(), dtype=np.int64),
                "items": spaces.Box(-1, n - 1, shape=(h, k), dtype=np.int64),
                "clicks": spaces.MultiBinary((h, k)),
                "skips": spaces.MultiBinary((h, k)),
                "dwell": spaces.Box(0.0, _MAX_DWELL, shape=(h, k), dtype=np.float32),
                # A changing catalog: the ids [lo, hi) live now (actions must be among them).
                **(
                    {"live": spaces.Box(0, n, shape=(2,), dtype=np.int64)}
                    if catalog.changes
                    else {}
                ),
            }
        )
        self._root_seed: int | None = None
        self._episodes = 0
        self._needs_reset = True

    def _observation(self) -> dict[str, np.ndarray]:
        observation = {
            key: np.asarray(value[0]) for key, value in self.population.observations().items()
        }
        if "live" in observation:
            self.action_space.live = tuple(int(x) for x in observation["live"])
        return observation

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._root_seed, self._episodes = int(seed), 0
        elif self._root_seed is None:
            self._root_seed = int(self.np_random.integers(0, 2**63 - 1))
        options = options or {}
        unknown = set(options) - {"user_id"}
        if unknown:
            raise ValueError(f"options may only hold 'user_id', got {sorted(unknown)}")
        if "user_id" in options:
            user = check_int("options['user_id']", options["user_id"], low=0, high=_MAX_USER_ID)
        else:
            user = self.first_user + self._episodes * self.user_stride
        self._episodes += 1
        self.population.reset(np.array([user]), self._root_seed)
        self._needs_reset = False
        return self._observation(), {
            "user_id": user,
            "drift_step": int(self.population.drift_step_[0]),
        }

    def step(self, action: Any):
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (the episode has ended or not begun)")
        action = np.asarray(action)
        if action.shape != (self.env_config.slate_size,):
            raise ValueError(
                f"action must have shape ({self.env_config.slate_size},), got {action.shape}"
            )
        outcome = self.population.step(
            action[None, :], name="action"
        )  # validates dtype, range, duplicates
        truncated = bool(outcome.truncated[0])
        self._needs_reset = truncated
        info = {
            "expected_clicks": float(outcome.expected_clicks[0]),
            "oracle_expected_clicks": float(outcome.oracle_expected_clicks[0]),
            "drift": bool(outcome.drift[0]),
            "user_id": int(self.population.user_ids_[0]),
            "session_end": bool(outcome.session_end[0]),
            "click_probability": outcome.click_probability[0],
        }
        return self._observation(), float(outcome.reward[0]), False, truncated, info
