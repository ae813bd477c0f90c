"""How fast an agent brings new items to users, in a changing catalog (``arrivals``).

The **cohort** is the items that arrive during the run early enough to be followed for a
whole *follow-up* of ``H`` steps: their lifetime (or, in a growing catalog, half the run),
``1 <= arrival <= T - H``. For each cohort item, from the step logs alone:

* *steps to first impression*: from its arrival to the first step any user was shown it
  (0 = shown at the step it arrived);
* *steps to first click*: likewise to its first click;
* *share of the oracle's exposure*: its impressions under the agent over its follow-up, over
  its impressions under the oracle (the run's ``oracle`` agent, the same users); defined for
  items the oracle showed at least once.

An item never shown (clicked) within its follow-up is censored at ``H``. Per agent: the median
over cohort items with a 95% percentile-bootstrap interval over items (``null`` when fewer than
half get there), the Kaplan-Meier figures of :mod:`adaptrec.analysis.survival` (share reached
by ``H``, KM median, restricted mean), and the median exposure share with its interval plus the
pooled share (all the cohort's impressions over the oracle's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adaptrec.analysis.metrics import bootstrap_interval
from adaptrec.analysis.survival import kaplan_meier_figures, survival_data
from adaptrec.core.arrivals import arrival_of, arrival_steps
from adaptrec.core.config import RunConfig

NO_STEP = np.iinfo(np.int64).max
"""First-event step of an item that never had the event."""


def follow_up(config: RunConfig) -> int:
    """``H``: the steps each cohort item is followed (its lifetime, else half the run)."""
    lifetime = config.arrivals.lifetime
    return min(lifetime, config.n_steps - 1) if lifetime else max(1, config.n_steps // 2)


def cohort(config: RunConfig, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, arrival)``: the cohort items (``(M,)`` int64, ascending) and their arrivals."""
    arrive = arrival_steps(config.arrivals, n_items)
    keep = (arrive >= 1) & (arrive <= config.n_steps - follow_up(config))
    ids = np.flatnonzero(keep)
    return ids, arrive[ids]


class ItemEvents:
    """Per-item first impression, first click and impressions within the follow-up, gathered
    from step-log batches (``item``, ``step``, ``clicked`` columns) in any order."""

    def __init__(self, config: RunConfig) -> None:
        self.config, self.horizon = config, follow_up(config)
        self.first_shown = np.zeros(0, dtype=np.int64)
        self.first_click = np.zeros(0, dtype=np.int64)
        self.impressions = np.zeros(0)

    def _grow(self, top: int) -> None:
        extra = top - len(self.first_shown)
        if extra > 0:
            self.first_shown = np.concatenate([self.first_shown, np.full(extra, NO_STEP)])
            self.first_click = np.concatenate([self.first_click, np.full(extra, NO_STEP)])
            self.impressions = np.concatenate([self.impressions, np.zeros(extra)])

    def add(self, item: np.ndarray, step: np.ndarray, clicked: np.ndarray) -> None:
        item = np.asarray(item, dtype=np.int64)
        step = np.asarray(step, dtype=np.int64)
        if not item.size:
            return
        self._grow(int(item.max()) + 1)
        np.minimum.at(self.first_shown, item, step)
        hit = np.asarray(clicked, dtype=bool)
        np.minimum.at(self.first_click, item[hit], step[hit])
        since = step - arrival_of(self.config.arrivals, item)
        inside = (since >= 0) & (since < self.horizon)
        self.impressions += np.bincount(item[inside], minlength=len(self.impressions))

    def merged(self, other: ItemEvents) -> ItemEvents:
        """The events of both (e.g. two shards' users): first steps the earlier, impressions
        summed."""
        out = ItemEvents(self.config)
        top = max(len(self.first_shown), len(other.first_shown))
        for source in (self, other):
            source._grow(top)
        out.first_shown = np.minimum(self.first_shown, other.first_shown)
        out.first_click = np.minimum(self.first_click, other.first_click)
        out.impressions = self.impressions + other.impressions
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The cohort's per-item arrays (``(M,)`` each, cohort ids ascending): ``arrival``,
        ``first_shown`` and ``first_click`` (steps after arrival, ``inf`` if not within the
        follow-up) and ``impressions`` within the follow-up (float64)."""
        ids, arrive = cohort(self.config, self.config.arrivals.items_needed(self.config.n_steps))
        self._grow(int(ids.max(initial=-1)) + 1)
        out = {"arrival": arrive.astype(np.float64), "impressions": self.impressions[ids]}
        for name, first in (("first_shown", self.first_shown), ("first_click", self.first_click)):
            delay = (first[ids] - arrive).astype(np.float64)
            out[name] = np.where((first[ids] != NO_STEP) & (delay < self.horizon), delay, np.inf)
        return out


def new_item_figures(
    items: dict[str, np.ndarray],
    oracle_items: dict[str, np.ndarray] | None,
    config: RunConfig,
    rng_of,
) -> dict[str, Any]:
    """The ``new_items`` entry of an agent's summary (see the module docstring).

    ``items``/``oracle_items``: per-cohort-item arrays (:meth:`ItemEvents.arrays`, or several
    seeds' concatenated in the same order); ``rng_of()`` gives a fresh generator per interval.
    """
    horizon = follow_up(config)
    n = len(items["arrival"])
    out: dict[str, Any] = {"n_items": n, "follow_up": horizon}
    for key in ("first_shown", "first_click"):
        delays = items[key]
        interval = bootstrap_interval(
            delays, "median", resamples=config.bootstrap_resamples, rng=rng_of()
        )
        km = kaplan_meier_figures(survival_data(delays, np.full(n, float(horizon))))
        out[key] = {
            **interval.to_dict(),
            "reached": float(np.isfinite(delays).mean()) if n else None,
            "kaplan_meier": km,
        }
    if oracle_items is None or len(oracle_items["impressions"]) != n:
        out["exposure_share"] = {"estimate": None, "low": None, "high": None, "n_items": 0}
        out["exposure_share_pooled"] = None
        return out
    shown = oracle_items["impressions"] > 0
    share = items["impressions"][shown] / oracle_items["impressions"][shown]
    interval = bootstrap_interval(
        share, "median", resamples=config.bootstrap_resamples, rng=rng_of()
    )
    out["exposure_share"] = {**interval.to_dict(), "n_items": int(shown.sum())}
    total = float(oracle_items["impressions"].sum())
    out["exposure_share_pooled"] = float(items["impressions"].sum()) / total if total else None
    return out


def new_item_sentence(name: str, figures: dict[str, Any]) -> str:
    """ "llm-cosine shows a new item within N steps of its arrival and gets its first click
    within M ..." from an agent's ``new_items`` entry."""

    def steps(entry: dict[str, Any]) -> str:
        if entry.get("estimate") is None:
            return f"more than {figures['follow_up']} steps for most items"
        low, high = entry["low"], entry["high"]
        bound = "inf" if high is None else f"{high:.0f}"
        unit = "step" if entry["estimate"] == 1 else "steps"
        return f"{entry['estimate']:.0f} {unit} [{low:.0f}, {bound}] (median)"

    shown, click = figures["first_shown"], figures["first_click"]
    never = 1.0 - (click["reached"] or 0.0)
    text = (
        f"{name} shows a new item within {steps(shown)} of its arrival and gets its first "
        f"click within {steps(click)}; {never:.0%} of new items get no click in their first "
        f"{figures['follow_up']} steps"
    )
    exposure = figures.get("exposure_share") or {}
    if exposure.get("estimate") is not None:
        text += (
            f"; a new item gets {exposure['estimate']:.2f} [{exposure['low']:.2f}, "
            f"{exposure['high']:.2f}] of the exposure the oracle gives it (median)"
        )
    return text + "."
