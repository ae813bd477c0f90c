"""Local differential privacy of the feedback agents learn from: randomised response on clicks.

With ``privacy.epsilon`` set, each user's device releases, for every slot of every slate it
was shown, one bit: the true click, flipped with probability ``q = 1 / (1 + e^epsilon)``
(Warner's randomised response). Nothing else of the user's response leaves the device: no
skips, no dwell, no record of which slots were examined, no feedback history in the
observation. Agents learn from the released bits only, through
:func:`adaptrec.agents.base.click_targets`, which turns each bit into the unbiased estimate
``(y' - q) / (1 - 2q)`` of the true click. The simulator still logs the true clicks, so every
figure of a run measures what the users really did under the private agent.

Accounting (exact, pure epsilon-LDP):

* one click (event level): the released bit is ``epsilon``-LDP, since
  ``P(y' | y) / P(y' | 1 - y) <= (1 - q) / q = e^epsilon``;
* one step of one user: the ``k`` bits of a slate use independent coins, so the release is
  ``k * epsilon``-LDP with respect to the user's whole response to that slate;
* a user's run of ``T`` steps: ``T * k * epsilon`` with respect to everything they did
  (sequential composition; what the agent does with the bits, slates included, is
  post-processing and costs nothing).

Every unexamined slot counts as a released 0 before the flip, so an agent cannot tell an
unseen item from a skipped one: the price of not releasing examination.
"""

from __future__ import annotations

import math

import numpy as np

from adaptrec.agents.base import StepBatch, UserKeys
from adaptrec.core.rng import Component, uniforms
from adaptrec.core.validation import check_float

_LANE_FLIP = 0
FEEDBACK_KEYS = ("clicks", "skips", "dwell")
"""Observation entries that hold a user's past feedback: withheld under privacy."""


def flip_probability(epsilon: float) -> float:
    """``1 / (1 + e^epsilon)``: the chance that randomised response flips a bit."""
    check_float("privacy.epsilon", epsilon, low=0, low_open=True)
    return 1.0 / (1.0 + math.exp(epsilon))


def accounting(epsilon: float, slate_size: int, n_steps: int) -> dict[str, float]:
    """The privacy loss of a run's release: per click, per user and step, per user and run."""
    return {
        "epsilon_per_click": float(epsilon),
        "epsilon_per_user_step": float(epsilon * slate_size),
        "epsilon_per_user_run": float(epsilon * slate_size * n_steps),
        "flip_probability": flip_probability(epsilon),
    }


class RandomizedResponse:
    """Randomised response on each slot's click, with counter-based coins.

    The coin of a slot is keyed by (run seed, user id, step, slot) and nothing else, so a
    user's release does not depend on the agent, the batch or the worker (every agent meets the
    same noise where it shows the same slates, as it meets the same users).
    """

    def __init__(self, epsilon: float, seed: int) -> None:
        self.epsilon = float(epsilon)
        self.flip = flip_probability(epsilon)
        self._keys = UserKeys(seed, 0, Component.PRIVACY)

    def release(self, user_ids: np.ndarray, step: np.ndarray, clicked: np.ndarray) -> np.ndarray:
        """``(B, k)`` bool: the released bits of ``clicked`` (``(B, k)`` bool) of users
        ``user_ids`` (``(B,)`` int64) at ``step`` (``(B,)`` int64)."""
        clicked = np.asarray(clicked, dtype=bool)
        coins = uniforms(self._keys(user_ids), step, _LANE_FLIP, clicked.shape[1])
        return clicked ^ (coins < self.flip)

    def batch(self, batch: StepBatch) -> StepBatch:
        """What the agent may learn from ``batch``: released clicks, every slot examined."""
        released = self.release(batch.user_ids, batch.step, batch.clicked)
        return StepBatch(
            user_ids=batch.user_ids,
            step=batch.step,
            slates=batch.slates,
            clicked=released,
            skipped=~released,
            dwell=np.zeros(released.shape, dtype=np.float32),
            reward=released.sum(axis=1).astype(np.float64),
            click_flip=self.flip,
        )

    @staticmethod
    def observation(observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``observation`` without the user's past feedback (:data:`FEEDBACK_KEYS`)."""
        return {key: value for key, value in observation.items() if key not in FEEDBACK_KEYS}
