"""``adaptrec validate``: does the simulator rank recommenders the way real people do?

The check needs a ratings matrix of **random exposures** (items drawn at random for each person
and rated by them: Coat's ``test.ascii``) and simulated users fitted on *other* data (Coat's
self-selected ``train.ascii``, :mod:`adaptrec.data.coat`). One protocol runs every agent twice:

* people (those with at least one liked item among their exposures) arrive one at a time in a
  seeded random order; each is shown ``steps`` slates of ``slate_size`` items from their own
  exposed items not yet shown, and the agent updates after every step; population-level
  learning carries across people (one agent instance meets them all);
* **real arm**: the outcome of a shown item is the person's real rating (click = rating >= 4;
  the rating is kept in the log's ``rating`` column);
* **simulated arm**: the same people, order and candidates, with each exposure's outcome
  drawn once (seeded) from the calibrated simulated users' P(liked) instead of read from the
  real rating (:func:`simulated_ratings`); the protocol, the oracle (which knows the outcomes,
  as in the real arm) and every figure are then computed the same way.

What this judges is the calibrated click model, who likes which item: the part of the
simulator that random ratings can check (Coat has no positions, dwell or sessions).

Each arm is an ordinary run folder (``OUT/real/``, ``OUT/simulated/``: Parquet logs,
summary.json, report.md, plots). Then, per agent and arm, the **share of the oracle** (the
agent's clicks over the oracle's, summed over people: the oracle shows each person's best-rated
remaining items, or most probable ones in the simulated arm) and its learning curves (by step
within a person, and by arrival decile: what the agent learned from earlier people), with 95%
percentile-bootstrap intervals over people; the **Kendall tau** between the arms' orderings of
the agents (the oracle left out: it is 1 in both by definition) with its interval; and each
agent's real-minus-simulated gap (intervals from the same paired resamples). Written to
``validate.md``, ``validate_summary.json``, ``validate.png`` (real against simulated share per
agent) and ``validate-curves.png``.

The protocol takes any random-exposure matrix (:func:`run_protocol`); Coat is one source.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adaptrec.core.catalog import Catalog
from adaptrec.core.config import EnvConfig, RunConfig, UserConfig
from adaptrec.core.files import atomic_write_text
from adaptrec.core.rng import Component, generator

ARMS = ("real", "simulated")
VALIDATE_VERSION = 1
DEFAULT_AGENTS = (
    "llm-cosine",
    "llm-cosine-seed",
    "llm-cosine-hashing",
    "llm-cosine-random",
    "egreedy",
    "thompson",
    "linucb",
    "lin-ts",
    "d-linucb",
    "sw-linucb",
    "glr-linucb",
    "vw",
    "popularity",
    "random",
    "oracle",
)
"""Every built-in learner, popularity, random and the oracle (vw when installed)."""
DECILES = 10


def protocol_people(ratings: np.ndarray, needed: int, liked: int = 4) -> np.ndarray:
    """``(P,)`` int64: the people of a random-exposure matrix the protocol runs on: at least
    ``needed`` exposed items and at least one liked (for the others every policy gets 0
    clicks out of 0 possible: nothing to find)."""
    exposed = (ratings > 0).sum(axis=1)
    has_liked = (ratings >= liked).any(axis=1)
    return np.flatnonzero((exposed >= needed) & has_liked).astype(np.int64)


def arrival_order(people: np.ndarray, seed: int) -> np.ndarray:
    """The people in a seeded random order of arrival."""
    return people[generator(seed, Component.POPULATION, 1).permutation(len(people))]


def liked_probabilities(catalog: Catalog) -> np.ndarray:
    """``(U, I)`` float64 P(click | examined) of a calibrated catalog's simulated users:
    ``sigmoid(item_bias + preference . topics)``, as the simulator computes it."""
    assert catalog.user_pool is not None and catalog.item_bias is not None
    logits = catalog.item_bias[None, :] + catalog.user_pool.preferences @ catalog.topics.T
    return 1.0 / (1.0 + np.exp(-logits))


def simulated_ratings(probabilities: np.ndarray, exposed: np.ndarray, seed: int) -> np.ndarray:
    """``(U, I)`` int8: each exposure's simulated outcome, 4 (liked) with probability
    ``probabilities`` else 1, drawn once from the run seed's own stream; 0 where not exposed."""
    draws = generator(seed, Component.POPULATION, 2).random(probabilities.shape)
    return np.where(exposed, np.where(draws < probabilities, 4, 1), 0).astype(np.int8)


def arm_config(
    data: str, people: int, steps: int, slate_size: int, agents: Sequence[str], seed: int,
    bootstrap_resamples: int = 2000,
) -> RunConfig:  # fmt: skip
    """The run config each arm's folder holds: one person per user, ``steps`` steps each."""
    return RunConfig(
        n_users=people,
        n_steps=steps,
        seed=seed,
        agents=tuple(agents),
        data=data,
        window=min(2, steps),
        bootstrap_resamples=bootstrap_resamples,
        users=UserConfig(drift="none"),
        env=EnvConfig(slate_size=slate_size, history_length=steps, max_steps=steps),
    )


def run_protocol(
    config: RunConfig,
    agent: str,
    catalog: Catalog,
    item_vectors: np.ndarray,
    ratings: np.ndarray,
    order: np.ndarray,
    log_ratings: bool = True,
):
    """One agent through the protocol on ``ratings`` (real, or :func:`simulated_ratings`):
    returns its step rows, with a ``rating`` column (the rating; null unless
    ``log_ratings``)."""
    import pyarrow as pa

    from adaptrec.agents import make_agent
    from adaptrec.agents.base import propensities_of
    from adaptrec.envs.random_exposure import RandomExposurePopulation
    from adaptrec.logs import step_table
    from adaptrec.rollout import interact, log_columns, torch_threads

    population = RandomExposurePopulation(catalog, ratings, config.users, config.env)
    batches = []
    with torch_threads(config.torch_threads):
        built = make_agent(agent, config, item_vectors, population)
        for person in order:
            population.reset(np.array([person]), config.seed)
            for _ in range(config.n_steps):
                step, session = population.step_.copy(), population.session_.copy()
                slates, outcome = interact(built, population)
                columns = log_columns(
                    population, step, session, slates, outcome, propensities_of(built, slates)
                )
                rating = ratings[person, slates].reshape(-1).astype(np.float64)
                columns["rating"] = rating if log_ratings else np.full(rating.shape, np.nan)
                batches.append(columns)
    return step_table(agent, batches, extra=[pa.field("rating", pa.int8(), nullable=True)])


@dataclasses.dataclass(frozen=True)
class ValidateSettings:
    """What ``adaptrec validate`` runs: data (``coat:PATH``), agents, protocol sizes, seed."""

    data: str
    agents: tuple[str, ...] = DEFAULT_AGENTS
    steps: int = 8
    slate_size: int = 1
    seed: int = 0
    weighting: str = "ips"
    bootstrap_resamples: int = 2000


def _arm_folder(out: Path, arm: str) -> Path:
    return out / arm


def run_validate(
    settings: ValidateSettings,
    out_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or continue) both arms for every agent, then write the comparison."""
    from adaptrec.core.config import parse_data
    from adaptrec.core.encoders import make_encoder
    from adaptrec.data.coat import coat_catalog, load_coat
    from adaptrec.logs import StepWriter, steps_path
    from adaptrec.report import build_report
    from adaptrec.rollout import torch_threads
    from adaptrec.run_folder import prepare_run_dir

    say = say or (lambda message: None)
    source = parse_data(settings.data)
    if source.kind != "coat":
        raise ValueError(
            f"--data must be coat:PATH (a data set with random-exposure ratings), got "
            f"{settings.data!r}"
        )
    data = load_coat(source.path)
    needed = settings.steps * settings.slate_size
    people = protocol_people(data.test, needed)
    base = arm_config(
        settings.data, len(people), settings.steps, settings.slate_size, settings.agents,
        settings.seed, settings.bootstrap_resamples,
    )  # fmt: skip
    catalog = coat_catalog(source.path, base.calibration, settings.weighting)
    order = arrival_order(people, settings.seed)
    simulated = simulated_ratings(liked_probabilities(catalog), data.test > 0, settings.seed)
    encoder = make_encoder(base.encoder, cache_dir)
    with torch_threads(base.torch_threads):
        vectors = encoder.encode(list(catalog.texts))
    out = Path(out_dir)
    for arm in ARMS:
        folder = _arm_folder(out, arm)
        done = prepare_run_dir(base, folder)
        for agent in settings.agents:
            if agent in done:
                continue
            say(f"{arm} arm: {agent}")
            ratings = data.test if arm == "real" else simulated
            table = run_protocol(base, agent, catalog, vectors, ratings, order, arm == "real")
            with StepWriter(
                folder,
                agent,
                base.to_json(),
                provenance=catalog.provenance,
                extra_fields=[table.schema.field("rating")],
            ) as writer:
                writer.add_table(table)
            assert writer.path == steps_path(folder, agent)
        build_report(folder)
    summary = compare_arms(out, base, order, catalog.provenance)
    atomic_write_text(out / "validate_summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "validate.md", validate_markdown(summary))
    plot_validation(summary, out / "validate.png", out / "validate-curves.png")
    return summary


def _shares(counts: np.ndarray, expected: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """``(R,)`` pooled shares ``sum w e / sum w o`` of resample weights ``counts`` ``(R, P)``."""
    return (counts @ expected) / np.maximum(counts @ oracle, 1e-300)


def _interval(estimate: float, resampled: np.ndarray) -> dict[str, float]:
    low, high = np.percentile(resampled, [2.5, 97.5], method="inverted_cdf")
    return {"estimate": float(estimate), "low": float(low), "high": float(high)}


def compare_arms(
    out: Path, config: RunConfig, order: np.ndarray, provenance: dict[str, Any] | None
) -> dict[str, Any]:
    """The side-by-side figures of the two arms (see the module docstring), from Parquet."""
    from scipy.stats import kendalltau

    from adaptrec.analysis import load_run

    arrays = {arm: load_run(_arm_folder(out, arm))[1] for arm in ARMS}
    agents = [a for a in config.agents if a in arrays["real"] and a in arrays["simulated"]]
    users = arrays["real"][agents[0]]["users"]
    position = {int(person): index for index, person in enumerate(order)}
    arrival = np.array([position[int(u)] for u in users])
    deciles = np.minimum(arrival * DECILES // len(users), DECILES - 1)
    rng = generator(config.seed, Component.REPORT, 1_000)
    n = len(users)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=config.bootstrap_resamples).astype(
        np.float64
    )
    figures: dict[str, Any] = {}
    resampled: dict[tuple[str, str], np.ndarray] = {}
    for agent in agents:
        entry: dict[str, Any] = {}
        for arm in ARMS:
            a = arrays[arm][agent]
            assert np.array_equal(a["users"], users), "the arms must hold the same people"
            e, o = a["expected"], a["oracle"]
            share = e.sum() / o.sum()
            boot = _shares(counts, e.sum(axis=1), o.sum(axis=1))
            resampled[agent, arm] = boot
            steps = [
                _interval(e[:, t].sum() / o[:, t].sum(), _shares(counts, e[:, t], o[:, t]))
                for t in range(e.shape[1])
            ]
            by_arrival = []
            for d in range(DECILES):
                mask = (deciles == d).astype(np.float64)
                weights = counts * mask
                e_d, o_d = e.sum(axis=1), o.sum(axis=1)
                point = (mask @ e_d) / (mask @ o_d)
                by_arrival.append(_interval(point, _shares(weights, e_d, o_d)))
            entry[arm] = {
                "share_of_oracle": _interval(share, boot),
                "ctr": float(a["clicks"].sum() / (a["clicks"].size * a["slate_size"])),
                "curve_by_step": steps,
                "curve_by_arrival": by_arrival,
            }
        gap = resampled[agent, "real"] - resampled[agent, "simulated"]
        point = (
            entry["real"]["share_of_oracle"]["estimate"]
            - entry["simulated"]["share_of_oracle"]["estimate"]
        )
        entry["gap"] = _interval(point, gap)
        entry["gap_beyond_intervals"] = bool(entry["gap"]["low"] > 0 or entry["gap"]["high"] < 0)
        figures[agent] = entry
    ranked = [a for a in agents if a != "oracle"]
    real = np.array([figures[a]["real"]["share_of_oracle"]["estimate"] for a in ranked])
    simulated = np.array([figures[a]["simulated"]["share_of_oracle"]["estimate"] for a in ranked])
    tau = float(kendalltau(real, simulated).statistic) if len(ranked) > 1 else None
    boot_real = np.stack([resampled[a, "real"] for a in ranked], axis=1)
    boot_sim = np.stack([resampled[a, "simulated"] for a in ranked], axis=1)
    taus = np.array([kendalltau(r, s).statistic for r, s in zip(boot_real, boot_sim, strict=True)])
    gaps = {a: abs(figures[a]["gap"]["estimate"]) for a in ranked}
    largest = max(gaps, key=gaps.get) if gaps else None
    return {
        "schema_version": VALIDATE_VERSION,
        "config": config.to_dict(),
        "data": provenance,
        "people": n,
        "steps": config.n_steps,
        "slate_size": config.env.slate_size,
        "agents": figures,
        "kendall_tau": _interval(tau, taus[np.isfinite(taus)]) if tau is not None else None,
        "tau_agents": ranked,
        "largest_gap": {"agent": largest, **figures[largest]["gap"]} if largest else None,
    }


def _fmt(entry: dict[str, float], digits: int = 2) -> str:
    return f"{entry['estimate']:.{digits}f} [{entry['low']:.{digits}f}, {entry['high']:.{digits}f}]"


def validate_markdown(summary: dict[str, Any]) -> str:
    """validate.md: the protocol, the table, the tau, the gaps, the plots."""
    data = summary["data"] or {}
    tau = summary["kendall_tau"]
    largest = summary["largest_gap"]
    lines = [
        "# Sim-to-real check on random-exposure ratings",
        "",
        f"{summary['people']} people (those with a liked item among their random exposures) "
        f"arrive one at a time in a seeded random order (seed {summary['config']['seed']}); each "
        f"is shown {summary['steps']} slates of {summary['slate_size']} of their own randomly "
        "exposed items, none twice, and every agent learns after every step and across people. "
        "Real arm: a click is a real rating >= 4. Simulated arm: the same people, order and "
        "candidates; each exposure's outcome drawn once from users calibrated on the "
        f"self-selected ratings only ({data.get('weighting', '?')} weighting). Share of the "
        "oracle: clicks over the oracle's (it shows each person's liked items first), summed "
        "over people; 95% bootstrap intervals over people (paired across arms and agents).",
        "",
        "| agent | real share of oracle | simulated share of oracle | real - simulated | "
        "real CTR | simulated CTR |",
        "|---|---|---|---|---|---|",
    ]
    for agent, entry in summary["agents"].items():
        mark = " (beyond intervals)" if entry["gap_beyond_intervals"] else ""
        lines.append(
            f"| {agent} | {_fmt(entry['real']['share_of_oracle'])} | "
            f"{_fmt(entry['simulated']['share_of_oracle'])} | {_fmt(entry['gap'])}{mark} | "
            f"{entry['real']['ctr']:.3f} | {entry['simulated']['ctr']:.3f} |"
        )
    lines += [""]
    if tau is not None:
        lines.append(
            f"Kendall tau between the arms' orderings of the {len(summary['tau_agents'])} "
            f"agents (the oracle left out): {_fmt(tau)}. Largest gap: {largest['agent']}, "
            f"{largest['estimate']:+.2f} of the oracle [{largest['low']:+.2f}, "
            f"{largest['high']:+.2f}]."
        )
    lines += [
        "",
        "![real against simulated share of the oracle](validate.png)",
        "",
        "![learning curves, real and simulated](validate-curves.png)",
        "",
    ]
    if data.get("held_out"):
        lines += ["Calibration, judged on the random ratings (never fitted on):", ""]
        lines += [
            "| fit | AUC liked over not (mean per person) | pooled | mean predicted P(liked) |",
            "|---|---|---|---|",
        ]
        for name, fig in data["held_out"].items():
            lines.append(
                f"| {name} | {fig['auc']:.3f} ({fig['auc_users']} people) | "
                f"{fig['auc_pooled']:.3f} | {fig['predicted_liked_rate']:.3f} (real "
                f"{fig['liked_rate']:.3f}) |"
            )
        lines.append("")
    lines += [
        "Each arm is a run folder (`real/`, `simulated/`) with its own report.md; every "
        "number here is recomputed from their Parquet logs.",
        "",
    ]
    return "\n".join(lines)


def plot_validation(summary: dict[str, Any], scatter_path: Path, curves_path: Path) -> None:
    """validate.png (real against simulated share, one point per agent, 95% intervals) and
    validate-curves.png (each agent's share by arrival decile, real and simulated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adaptrec.core.files import atomic_output

    agents = summary["agents"]
    figure, axis = plt.subplots(figsize=(6.5, 6))
    for agent, entry in agents.items():
        r, s = entry["real"]["share_of_oracle"], entry["simulated"]["share_of_oracle"]
        axis.errorbar(
            s["estimate"], r["estimate"],
            xerr=[[s["estimate"] - s["low"]], [s["high"] - s["estimate"]]],
            yerr=[[r["estimate"] - r["low"]], [r["high"] - r["estimate"]]],
            fmt="o", capsize=2,
        )  # fmt: skip
        axis.annotate(agent, (s["estimate"], r["estimate"]), fontsize=7, xytext=(3, 3),
                      textcoords="offset points")  # fmt: skip
    low = min(min(e["real"]["share_of_oracle"]["low"], e["simulated"]["share_of_oracle"]["low"])
              for e in agents.values())  # fmt: skip
    axis.plot([low, 1.0], [low, 1.0], color="grey", linestyle="--", linewidth=1)
    axis.set_xlabel("simulated arm: share of the oracle")
    axis.set_ylabel("real arm: share of the oracle")
    tau = summary["kendall_tau"]
    if tau is not None:
        axis.set_title(f"Kendall tau {_fmt(tau)}")
    figure.tight_layout()
    with atomic_output(scatter_path) as tmp:
        figure.savefig(tmp, dpi=120, format="png")
    plt.close(figure)

    names = list(agents)
    columns = 4
    rows = (len(names) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), sharey=True)
    for axis, agent in zip(np.atleast_1d(axes).reshape(-1), names, strict=False):
        for arm, style in (("real", "-"), ("simulated", "--")):
            curve = agents[agent][arm]["curve_by_arrival"]
            x = np.arange(1, len(curve) + 1)
            mean = [c["estimate"] for c in curve]
            axis.plot(x, mean, style, label=arm)
            axis.fill_between(x, [c["low"] for c in curve], [c["high"] for c in curve], alpha=0.2)
        axis.set_title(agent, fontsize=9)
        axis.set_xlabel("arrival decile", fontsize=8)
    for axis in np.atleast_1d(axes).reshape(-1)[len(names) :]:
        axis.axis("off")
    np.atleast_1d(axes).reshape(-1)[0].legend(fontsize=7)
    figure.supylabel("share of the oracle")
    figure.tight_layout()
    with atomic_output(curves_path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
