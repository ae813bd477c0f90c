"""Vowpal Wabbit as an agent: ``--cb_explore_adf`` with user x item interaction features.

Needs the optional extra: ``pip install 'adaptrec[vw]'`` (the ``vowpalwabbit`` package).

Per step and user, VW receives one multi-line ADF example: a shared line with the user's
features, one line per item. With ``observation["context"]`` (the news-switch world) the shared
features are the tutorial's, ``|User user=Tom time_of_day=morning``; otherwise the user's id,
``|User user=<id>``. Each item line is ``|Action item=<index>``, and ``-q UA`` crosses the two
namespaces, exactly as in VW's content-personalisation tutorial. VW returns a probability mass
function over the items (epsilon-greedy, ``bandits.epsilon``); the first slot is drawn from it
with adaptrec's counter-based uniforms; further slots (slates of k > 1) are drawn from the same
pmf without replacement. VW learns from every examined slot, with cost -1 for a click and 0
otherwise, and the pmf probability of the item as its propensity.

One example per item makes a step O(N): the agent accepts catalogs up to ``max_items`` (1,000)
and says so otherwise.
"""

from __future__ import annotations

import numpy as np

from adaptrec.agents.base import (
    StepBatch,
    UserKeys,
    candidate_sets,
    click_targets,
    live_bounds,
    observed_user_ids,
)
from adaptrec.core.config import BanditConfig
from adaptrec.core.rng import Component, seed_sequence, uniforms
from adaptrec.core.validation import check_int

_LANE_SAMPLE = 31
MAX_ITEMS = 1000
INSTALL_HINT = "install the optional extra: pip install 'adaptrec[vw]' (the vowpalwabbit package)"


def _workspace_class():
    try:
        import vowpalwabbit
    except ImportError as err:
        raise ImportError(f"the vw agent needs Vowpal Wabbit; {INSTALL_HINT}") from err
    return vowpalwabbit.Workspace


class VowpalWabbitAgent:
    """Vowpal Wabbit's contextual bandit (``--cb_explore_adf -q UA --epsilon e``) behind the
    batched agent protocol; one VW model learns from all users of the agent's shard."""

    name = "vw"

    def __init__(
        self,
        item_vectors: np.ndarray,
        slate_size: int,
        config: BanditConfig | None = None,
        seed: int = 0,
        agent_index: int = 0,
        context_names: tuple[tuple[str, ...], ...] = (("Tom", "Anna"), ("morning", "afternoon")),
    ) -> None:
        workspace = _workspace_class()
        self.n_items = check_int("n_items", len(item_vectors), low=1)
        if self.n_items > MAX_ITEMS:
            raise ValueError(
                f"the vw agent scores one VW example line per item; catalog must have <= "
                f"{MAX_ITEMS} items, got {self.n_items}"
            )
        self.slate_size = check_int("slate_size", slate_size, low=1, high=self.n_items)
        self.config = config or BanditConfig()
        self.context_names = context_names
        vw_seed = int(seed_sequence(seed, Component.AGENT, agent_index).generate_state(1)[0] >> 1)
        self.arguments = (
            f"--cb_explore_adf -q UA --quiet --epsilon {self.config.epsilon} "
            f"--random_seed {vw_seed % (2**31)}"
        )
        self.vw = workspace(self.arguments)
        self._actions = [f"|Action item={i}" for i in range(self.n_items)]
        self._keys = UserKeys(seed, agent_index)
        self._last: dict[int, tuple[str, np.ndarray]] = {}

    def _shared(self, observation: dict[str, np.ndarray], row: int, user: int) -> str:
        if "context" in observation:
            person, time = np.asarray(observation["context"])[row]
            names = self.context_names
            return f"shared |User user={names[0][person]} time_of_day={names[1][time]}"
        return f"shared |User user={user}"

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        ids = observed_user_ids(observation)
        steps = np.asarray(observation["step"])
        draws = uniforms(self._keys(ids), steps, _LANE_SAMPLE, self.slate_size)
        live_lo, live_hi = live_bounds(observation, self.n_items)
        candidates = candidate_sets(observation, self.n_items)
        slates = np.empty((len(ids), self.slate_size), dtype=np.int64)
        # Slot 0's probability is VW's pmf; later slots' marginals have no closed form.
        self.last_propensity_ = np.full(slates.shape, np.nan)
        for row, user in enumerate(ids):
            shared = self._shared(observation, row, int(user))
            # One action line per item it may show (live ones, or its candidates).
            lo, hi = int(live_lo[row]), int(live_hi[row])
            actions = np.arange(lo, hi) if candidates is None else np.sort(candidates[row])
            lines = [self._actions[a] for a in actions]
            pmf = np.asarray(self.vw.predict([shared, *lines]), dtype=np.float64)
            remaining = pmf.copy()
            for slot in range(self.slate_size):
                cdf = np.cumsum(remaining / remaining.sum())
                item = min(
                    int(np.searchsorted(cdf, draws[row, slot], side="right")), len(actions) - 1
                )
                while remaining[item] <= 0:  # rounding at the top of the cdf
                    item -= 1
                slates[row, slot] = actions[item]
                remaining[item] = 0.0
            self.last_propensity_[row, 0] = pmf[np.searchsorted(actions, slates[row, 0])]
            self._last[int(user)] = (shared, pmf, actions)
        return slates

    def update(self, batch: StepBatch) -> dict[str, float]:
        examined = np.asarray(batch.clicked) | np.asarray(batch.skipped)
        targets = click_targets(batch)
        for row, user in enumerate(np.asarray(batch.user_ids)):
            shared, pmf, actions = self._last.pop(int(user))
            for slot in np.flatnonzero(examined[row]):
                item = int(batch.slates[row, slot])
                cost = -float(targets[row, slot])  # 0.0 or -1.0 without privacy
                lines = [shared, *(self._actions[a] for a in actions)]
                position = int(np.searchsorted(actions, item))
                probability = max(float(pmf[position]), 1e-6)
                lines[1 + position] = f"0:{cost}:{probability} {self._actions[item]}"
                self.vw.learn(lines)
        return {}
