"""Explanations: each shown item's score parts in the step log (``explain = true``), exactly as
the agent ranked, ``adaptrec explain`` and report.md's "why" section."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import adaptrec
from adaptrec.agents.llm_cosine import LLMCosineAgent
from adaptrec.cli import main
from adaptrec.core.config import LLMCosineConfig, RunConfig, seed_agent_config
from adaptrec.logs import EXPLANATION_FIELDS

SMALL = {"n_users": 12, "n_steps": 24, "encoder": "hashing", "catalog": {"n_items": 300}}
AGENTS = ["llm-cosine", "llm-cosine-seed", "random"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    explained = adaptrec.run({**SMALL, "explain": True}, agents=AGENTS, out=folder / "on")
    plain = adaptrec.run(SMALL, agents=AGENTS, out=folder / "off")
    return explained.out_dir, plain.out_dir


def frame(out_dir, agent):
    return pq.read_table(out_dir / "steps" / f"{agent}.parquet").to_pandas()


def test_explaining_changes_nothing_else_in_the_logs(runs):
    on, off = runs
    for agent in AGENTS:
        explained = pq.read_table(on / "steps" / f"{agent}.parquet")
        plain = pq.read_table(off / "steps" / f"{agent}.parquet")
        assert explained.select(plain.column_names).equals(plain)
        assert explained.column_names[-len(EXPLANATION_FIELDS) :] == [
            f.name for f in EXPLANATION_FIELDS
        ]
    assert frame(on, "random")["score"].isna().all()  # agents that do not explain: nulls


@pytest.mark.parametrize("agent", ["llm-cosine", "llm-cosine-seed"])
def test_the_parts_recompose_the_score_exactly_and_rank_the_greedy_slate(runs, agent):
    # Catches: parts from another computation than the ranking's (e.g. P from torch instead of
    # the kernel), a penalty or rank off by a slot, exploration not marked.
    log = frame(runs[0], agent)
    score = log["score"].to_numpy(np.float32)
    parts = log[["score_cosine", "score_click_probability", "score_recent_penalty"]]
    cos, p, penalty = (parts[c].to_numpy(np.float32) for c in parts.columns)
    known = ~np.isnan(score)
    assert known.mean() > 0.9
    assert np.array_equal(score[known], (cos * p - penalty)[known])  # bit for bit
    greedy = ~log["explored"].to_numpy(bool)
    assert (log["rank_reranked"][greedy] == log["slot"][greedy]).all()
    # Best slot first: within a slate, the greedy slots' scores never rise.
    ordered = log[greedy].sort_values(["user", "step", "slot"])
    falls = ordered.groupby(["user", "step"])["score"].apply(lambda s: (np.diff(s) <= 0).all())
    assert falls.all()
    explored = log[~greedy]
    if agent == "llm-cosine-seed":  # 5% uniform exploration: some slots explored
        assert len(explored) > 0
        moved = explored["rank_reranked"] != explored["slot"]
        assert moved.all()  # an explored item is not the greedy one of its slot
        assert (explored["propensity"] < 0.01).all() and (log["propensity"][greedy] == 0.95).all()
    penalty = log["score_recent_penalty"]
    assert (penalty.isna() | (penalty == 0) | (penalty == 3.0)).all()
    assert (penalty[greedy] == 0).all()  # a recently shown item sinks below every other


@pytest.mark.parametrize("config", [LLMCosineConfig(), seed_agent_config()])
def test_click_probability_and_item_term_are_the_agents_own(config):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(400, 16)).astype(np.float32)
    agent = LLMCosineAgent(vectors, 4, config, seed=3)
    agent.explain = True
    observation = {"user_id": np.arange(6), "step": np.zeros(6, dtype=np.int64)}
    slates = agent.act(observation)
    parts = agent.last_explanation_
    users = agent._acted[1]
    torch_p = agent.click_probability(users, slates)  # the predictor in torch
    np.testing.assert_allclose(parts["score_click_probability"], torch_p, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(parts["score_item_term"], agent.item_bias()[slates])
    assert (parts["rank_first_stage"] >= 0).all() and parts["explored"].dtype == bool


def test_adaptrec_explain_prints_the_slate_and_its_history(runs, capsys):
    on, off = runs
    assert main(["explain", str(on), "--user", "3", "--step", "20"]) == 0
    out = capsys.readouterr().out
    log = frame(on, "llm-cosine")
    slate = log[(log.user == 3) & (log.step == 20)].sort_values("slot")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "slot" not in line]
    assert [int(r.split("|")[2].split()[0]) for r in rows] == slate["item"].tolist()
    assert f"{slate['score'].iloc[0]:.4f}" in rows[0]
    past = log[(log.user == 3) & (log.step < 20) & (log.step >= 10)]
    assert out.count("- step ") == int((past.clicked | past.skipped).sum())
    for argv, message in (
        (["explain", str(off), "--user", "3", "--step", "2"], "rerun it with --set explain=true"),
        (
            ["explain", str(on), "--agent", "random", "--user", "3", "--step", "2"],
            "only llm-cosine",
        ),
        (["explain", str(on), "--user", "99", "--step", "2"], "users 0..11, steps 0..23"),
        (["explain", str(on), "--agent", "x", "--user", "3", "--step", "2"], "--agent must be"),
        (["explain", str(on), "--user", "-1", "--step", "2"], "--user must be >= 0"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_the_report_says_why_for_sampled_users(runs):
    on, off = runs
    report = (on / "report.md").read_text()
    assert "## Why these items" in report and "**llm-cosine-seed, user" in report
    assert "## Why these items" not in (off / "report.md").read_text()


def test_explanations_need_slot_logs():
    with pytest.raises(ValueError, match="explain needs log_level 'slot'"):
        RunConfig.from_dict({"explain": True, "log_level": "step"})
