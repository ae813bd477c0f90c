"""The news-switch world: Vowpal Wabbit's content-personalisation tutorial as an environment.

Two people (Tom, Anna) read news at two times of day (morning, afternoon); seven article topics
(politics, sports, music, food, finance, health, camping). At every step one (person, time of
day) is drawn uniformly, one article is shown, and the person clicks it if and only if it is the
topic they want then:

============  ===========  ============  ===================  ====================
person        morning      afternoon     morning after switch afternoon after switch
============  ===========  ============  ===================  ====================
Tom           politics     music         politics             sports
Anna          sports       politics      sports               sports
============  ===========  ============  ===================  ====================

Preferences switch at ``users.drift_step`` (the tutorial: step 5,000 of 10,000). This is the
tutorial's ``get_cost`` / ``get_cost_new1`` with cost -1 = click.

Each simulated *user* of a run is an independent replicate of that whole world (its own draws
of person and time of day). Agents see a replicate's four (person, time) contexts as four users,
``user_id = 4 * replicate + 2 * person + time``, each with its own history, and the raw context
as ``observation["context"]`` (``(B, 2)`` int: person, time of day) - the features the tutorial
gives Vowpal Wabbit. Clicks are deterministic and the single slot is always examined, so the
oracle clicks every time. Drop-in for :class:`~adaptrec.envs.users.UserPopulation` in the
runner.
"""

from __future__ import annotations

import numpy as np

from adaptrec.core.catalog import Catalog
from adaptrec.core.config import EnvConfig, UserConfig
from adaptrec.core.rng import Component, uniforms, user_keys
from adaptrec.core.validation import check_array
from adaptrec.envs.population import StepOutcome

PEOPLE = ("Tom", "Anna")
TIMES = ("morning", "afternoon")
TOPICS = ("politics", "sports", "music", "food", "finance", "health", "camping")
# [phase, person, time] -> wanted topic index
WANTED = np.array(
    [
        [[0, 2], [1, 0]],  # before: Tom politics/music, Anna sports/politics
        [[0, 1], [1, 1]],  # after:  Tom politics/sports, Anna sports/sports
    ]
)
N_CONTEXTS = len(PEOPLE) * len(TIMES)
_LANE_CONTEXT = 40


def news_catalog() -> Catalog:
    """The seven article topics; each item's text is its topic's name."""
    n = len(TOPICS)
    return Catalog(
        item_ids=np.arange(n, dtype=np.int64),
        texts=TOPICS,
        topics=np.eye(n),
        quality=np.full(n, 0.5),
        topic_names=TOPICS,
        provenance={
            "source": "news-switch",
            "description": "Vowpal Wabbit's content-personalisation tutorial: Tom and Anna, "
            "morning and afternoon, 7 topics, deterministic clicks, preferences switched once",
        },
    )


class NewsSwitchPopulation:
    """B independent replicates of the news-switch world, stepping together: a
    :class:`~adaptrec.envs.population.Population`. Each replicate keeps one history per
    (person, time of day) context and shows the agent the current context's."""

    def __init__(self, catalog: Catalog, users: UserConfig, env: EnvConfig) -> None:
        if catalog.n_items != len(TOPICS):
            raise ValueError(
                f"catalog must be news_catalog() ({len(TOPICS)} items), got {catalog.n_items}"
            )
        if env.slate_size != 1:
            raise ValueError(f"env.slate_size must be 1 in news-switch, got {env.slate_size}")
        self.catalog, self.users, self.env = catalog, users, env
        self.n_items, self.slate_size = catalog.n_items, 1
        self.switch_step = users.drift_step if users.drift != "none" else -1

    def reset(self, user_ids: np.ndarray, root_seed: int) -> None:
        user_ids = np.asarray(user_ids)
        check_array("user_ids", user_ids, shape=(None,), kind="iu")
        b, h = len(user_ids), self.env.history_length
        self.user_ids_ = user_ids.astype(np.int64)
        self.keys_ = user_keys(root_seed, Component.USER_STEP, self.user_ids_)
        self.step_ = np.zeros(b, dtype=np.int64)
        self.session_ = np.zeros(b, dtype=np.int64)
        self.history_items_ = np.full((b, N_CONTEXTS, h, 1), -1, dtype=np.int64)
        self.history_clicks_ = np.zeros((b, N_CONTEXTS, h, 1), dtype=np.int8)
        self._draw_context()

    def _draw_context(self) -> None:
        u = uniforms(self.keys_, self.step_, _LANE_CONTEXT, 2)
        self.context_ = (u < 0.5).astype(np.int64)  # (B, 2): person, time of day

    @property
    def drift_step_(self) -> np.ndarray:
        return np.full(len(self.user_ids_), self.switch_step, dtype=np.int64)

    def _context_index(self) -> np.ndarray:
        return 2 * self.context_[:, 0] + self.context_[:, 1]

    def wanted(self) -> np.ndarray:
        """``(B,)`` int64: the topic each replicate's current person wants now."""
        phase = (self.switch_step >= 0) & (self.step_ >= self.switch_step)
        return WANTED[phase.astype(int), self.context_[:, 0], self.context_[:, 1]]

    def oracle_slates(self) -> np.ndarray:
        return self.wanted()[:, None]

    def agent_user_ids(self) -> np.ndarray:
        """``(B,)`` the ids agents see: one per (replicate, person, time of day)."""
        return N_CONTEXTS * self.user_ids_ + self._context_index()

    def observations(self) -> dict[str, np.ndarray]:
        rows, ctx = np.arange(len(self.user_ids_)), self._context_index()
        items = self.history_items_[rows, ctx]
        return {
            "user_id": self.agent_user_ids(),
            "step": self.step_.copy(),
            "session_step": self.step_.copy(),
            "items": items.copy(),
            "clicks": self.history_clicks_[rows, ctx].copy(),
            "skips": (items >= 0).astype(np.int8) - self.history_clicks_[rows, ctx],
            "dwell": np.zeros(items.shape, dtype=np.float32),
            "context": self.context_.copy(),
        }

    def step(self, slates: np.ndarray, name: str = "slates") -> StepOutcome:
        slates = np.asarray(slates)
        b = len(self.user_ids_)
        check_array(name, slates, shape=(b, 1), kind="iu")
        if slates.size and (slates.min() < 0 or slates.max() >= self.n_items):
            raise ValueError(f"{name} must hold item indices in [0, {self.n_items - 1}]")
        clicked = slates[:, 0] == self.wanted()
        rows, ctx = np.arange(b), self._context_index()
        for history, value in (
            (self.history_items_, slates[:, 0]),
            (self.history_clicks_, clicked),
        ):
            # Most recent first, as the Population protocol promises.
            history[rows, ctx, 1:] = history[rows, ctx, :-1].copy()
            history[rows, ctx, 0, 0] = value
        drift = self.step_ == self.switch_step
        self.step_ += 1
        self._draw_context()
        hit = clicked.astype(np.float64)
        return StepOutcome(
            clicked=clicked[:, None],
            skipped=~clicked[:, None],
            dwell=np.where(clicked, self.users.dwell_scale, 0.0).astype(np.float32)[:, None],
            reward=hit,
            expected_clicks=hit,
            oracle_expected_clicks=np.ones(b),
            click_probability=hit[:, None],
            drift=drift,
            session_end=np.zeros(b, dtype=bool),
            truncated=self.step_ >= self.env.max_steps,
        )
