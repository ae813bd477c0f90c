"""adaptrec compare: scenarios x agents x seeds, and a report recomputable from Parquet."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from test_cli import adaptrec

AGENTS = "llm-cosine,egreedy,vw,random,oracle"


@pytest.fixture(scope="module")
def comparison(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("compare") / "out"
    args = ["compare", "--smoke", "--scenarios", "cold-start,news-switch", "--agents", AGENTS]
    args += ["--seeds", "0,1", "--encoder", "hashing", "--out", out, "--cache", cache_dir]
    result = adaptrec(*args)
    return out, args, result


@pytest.mark.e2e
def test_compare_runs_every_scenario_agent_and_seed(comparison):
    out, _, result = comparison
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "compare_summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    cold, news = summary["scenarios"]["cold-start"], summary["scenarios"]["news-switch"]
    assert cold["units"] == 2 * 24 and news["units"] == 2 * 2
    # VW scores one example line per item: too many items in the synthetic catalog, so it is
    # left out there with the reason, and runs in news-switch.
    assert "vw" not in cold["agents"] and "2000 items > 1000" in cold["not_run"]["vw"]
    assert list(news["agents"]) == ["llm-cosine", "egreedy", "vw", "random", "oracle"]
    for scenario in (cold, news):
        oracle = scenario["agents"]["oracle"]["ctr"]["estimate"]
        for figures in scenario["agents"].values():
            assert figures["ctr"]["estimate"] <= oracle + 1e-12
    assert news["threshold"] == pytest.approx(0.9 * news["ceiling"], abs=1e-6)
    head = summary["headline"]["news-switch"]
    assert head["vw_recovery"] == news["agents"]["vw"]["recovery"]["estimate"]
    plateau = head["recovery_to_plateau"]
    assert plateau["vw"] == news["agents"]["vw"]["recovery_to_plateau"]["estimate"]
    assert plateau["best_agent"] not in ("vw", "oracle", "random")
    if plateau["best_agent"] is not None:  # "fastest" only among agents that recover
        key = f"{news['threshold']:g}"
        best = news["agents"][plateau["best_agent"]]["survival"]["recovery"][key]
        assert best["reached_by_horizon"]["estimate"] >= 0.5
    for scenario in (cold, news):
        for name, figures in scenario["agents"].items():
            assert figures["plateau"]["estimate"] is not None  # always a number
            assert figures["time_to_plateau"]["estimate"] is not None
            assert figures["headline"].startswith(name)
    report = (out / "compare.md").read_text()
    assert "## Headline: recovery after the news switch" in report
    assert "| vw | not run: catalog of 2000 items > 1000" in report
    for name in ("cold-start", "news-switch"):
        assert (out / f"compare-{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"compare-{name}-adaptation.png").read_bytes()[:4] == b"\x89PNG"
        for seed in (0, 1):
            assert (out / f"scenario={name}" / f"seed={seed}" / "report.md").is_file()


@pytest.mark.e2e
def test_compare_figures_are_recomputable_from_the_parquet_logs(comparison):
    """Recompute CTR and regret with pyarrow alone, pooling the seeds' users."""
    out, _, _ = comparison
    summary = json.loads((out / "compare_summary.json").read_text())
    for scenario, figures in summary["scenarios"].items():
        for agent, values in figures["agents"].items():
            ctr, regret = [], []
            for seed in (0, 1):
                path = out / f"scenario={scenario}" / f"seed={seed}" / "steps" / f"{agent}.parquet"
                table = pq.read_table(path)
                user = table["user"].to_numpy()
                top = table["slot"].to_numpy() == 0
                clicked = table["clicked"].to_numpy(zero_copy_only=False).astype(float)
                ctr.append(np.bincount(user, clicked) / np.bincount(user))
                gap = (
                    table["oracle_expected_clicks"].to_numpy() - table["expected_clicks"].to_numpy()
                )
                regret.append(np.bincount(user[top], gap[top]))
            assert values["ctr"]["estimate"] == pytest.approx(np.concatenate(ctr).mean())
            assert values["regret"]["estimate"] == pytest.approx(np.concatenate(regret).mean())


@pytest.mark.e2e
def test_rerunning_compare_rebuilds_the_report_without_simulating(comparison):
    out, args, _ = comparison
    log = out / "scenario=news-switch" / "seed=1" / "steps" / "vw.parquet"
    stamp = log.stat().st_mtime_ns
    before = (out / "compare_summary.json").read_text()
    (out / "compare_summary.json").unlink()
    result = adaptrec(*args)
    assert result.returncode == 0, result.stderr
    assert log.stat().st_mtime_ns == stamp
    assert (out / "compare_summary.json").read_text() == before


@pytest.mark.e2e
def test_logs_keep_each_shown_items_propensity(comparison):
    out, _, _ = comparison
    steps = out / "scenario=cold-start" / "seed=0" / "steps"
    random = pq.read_table(steps / "random.parquet")["propensity"].to_numpy()
    assert np.allclose(random, 1 / 2000)  # uniform over the catalog
    egreedy = pq.read_table(steps / "egreedy.parquet")["propensity"].to_numpy()
    greedy, explored = 1 - 0.05, 0.05 / (2000 - 5)
    assert set(np.round(np.unique(egreedy), 12)) <= {round(greedy, 12), round(explored, 12)}
    assert 0.9 < np.mean(egreedy == greedy) < 0.99  # ~95% of slots are greedy


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scenarios", "cold-start,sudden"], "--scenarios must be from cold-start"),
        (["--agents", "llm-cosine,bandit"], "--agents must be from llm-cosine"),
        (["--seeds", "0,x"], "--seeds must be comma-separated integers, got '0,x'"),
    ],
)
def test_compare_mistakes_print_one_line(extra, message, tmp_path):
    result = adaptrec("compare", "--smoke", *extra, "--out", tmp_path / "never")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "never").exists()
