"""What every simulated world offers the runner, the envs and the agents: the Population
protocol, and the StepOutcome of one step.

:class:`adaptrec.envs.users.UserPopulation` (synthetic and MovieLens-calibrated users) and
:class:`adaptrec.envs.news_switch.NewsSwitchPopulation` (Vowpal Wabbit's tutorial world) both
implement it; a new world that does can be run by :mod:`adaptrec.runner` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from adaptrec.core.catalog import Catalog
from adaptrec.core.config import EnvConfig, UserConfig


@dataclass(frozen=True)
class StepOutcome:
    """What one step of B users produced.

    Attributes:
        clicked, skipped: ``(B, k)`` bool; skipped = examined and not clicked.
        dwell: ``(B, k)`` float32 seconds, 0 where not clicked.
        reward: ``(B,)`` float64 - clicks or dwell seconds, as configured.
        expected_clicks: ``(B,)`` float64 expected clicks of the shown slate.
        oracle_expected_clicks: ``(B,)`` float64 expected clicks of the best slate.
        click_probability: ``(B, k)`` float64 probability of a click in each shown slot.
        drift: ``(B,)`` bool - the user's preference changed at this step.
        session_end: ``(B,)`` bool - the user ended the session after this step.
        truncated: ``(B,)`` bool - the user reached ``max_steps``.
    """

    clicked: np.ndarray
    skipped: np.ndarray
    dwell: np.ndarray
    reward: np.ndarray
    expected_clicks: np.ndarray
    oracle_expected_clicks: np.ndarray
    click_probability: np.ndarray
    drift: np.ndarray
    session_end: np.ndarray
    truncated: np.ndarray


@runtime_checkable
class Population(Protocol):
    """B simulated users stepping together.

    Attributes (after :meth:`reset`): ``user_ids_``, ``step_``, ``session_`` (``(B,)`` int64)
    and ``drift_step_`` (``(B,)`` int64, -1 for a user who never drifts).
    """

    catalog: Catalog
    users: UserConfig
    env: EnvConfig
    n_items: int
    slate_size: int
    user_ids_: np.ndarray
    step_: np.ndarray
    session_: np.ndarray

    @property
    def drift_step_(self) -> np.ndarray: ...

    def reset(self, user_ids: np.ndarray, root_seed: int) -> None:
        """Sample users ``user_ids`` (``(B,)`` int) from their own streams of ``root_seed``."""

    def observations(self) -> dict[str, np.ndarray]:
        """Batched observations: ``user_id``, ``step``, ``session_step`` (``(B,)``) and the
        last ``history_length`` slates' ``items``, ``clicks``, ``skips`` and ``dwell``
        (``(B, H, k)``), **most recent slate first**, unfilled slots -1 (items) or 0."""

    def step(self, slates: np.ndarray, name: str = "slates") -> StepOutcome:
        """Show ``(B, k)`` int slates; return the users' feedback and move time on."""

    def oracle_slates(self) -> np.ndarray:
        """``(B, k)`` int64: the slate of highest expected clicks for each user now."""

    def agent_user_ids(self) -> np.ndarray:
        """``(B,)`` int64: the ids agents see for the users now."""
