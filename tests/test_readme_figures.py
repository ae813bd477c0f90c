"""The README's result tables come from committed summaries (experiments/readme_figures.py)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "readme_figures", ROOT / "experiments/readme_figures.py"
)
figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(figures)


def test_readme_tables_are_exactly_what_the_committed_summaries_give():
    # Fails when someone edits a README table by hand, or commits new summaries without
    # rewriting the README (python experiments/readme_figures.py --write).
    text = (ROOT / "README.md").read_text()
    assert figures.render(text) == text
    blocks = [name for _, name, _, _ in figures.BLOCK.findall(text)]
    assert sorted(blocks) == sorted(figures.TABLES)  # every generated table is in the README


def test_a_changed_summary_changes_the_table(monkeypatch):
    # The check is not vacuous: a different figure in a summary gives a different README.
    text = (ROOT / "README.md").read_text()
    summary = figures.load("default")
    summary["agents"]["llm-cosine"]["ctr"]["estimate"] += 0.001
    real_load = figures.load
    monkeypatch.setattr(figures, "load", lambda n: summary if n == "default" else real_load(n))
    changed = figures.render(text)
    assert changed != text
    assert "| llm-cosine | 0.449 [0.442, 0.453]" in changed  # the README's 0.448, plus 0.001


def test_an_unknown_block_is_named():
    with pytest.raises(ValueError, match="README block 'nope' has no generator"):
        figures.render("<!-- figures:nope -->\n| x |\n<!-- /figures -->\n")


def test_summaries_are_the_documented_jobs():
    # The committed summaries are what the README says they are: the default run, the
    # MovieLens run (seed 0, 400 x 300) and the two-seed comparison.
    default = json.loads((figures.SUMMARIES / "default_run.json").read_text())
    movielens = json.loads((figures.SUMMARIES / "movielens.json").read_text())
    compare = json.loads((figures.SUMMARIES / "compare.json").read_text())
    assert default["config"]["data"] == "synthetic" and default["config"]["seed"] == 0
    assert (default["config"]["n_users"], default["config"]["n_steps"]) == (400, 300)
    assert movielens["config"]["data"].startswith("movielens:")
    assert compare["seeds"] == [0, 1] and len(compare["scenarios"]) == 8
    fresh = json.loads((figures.SUMMARIES / "movielens_fresh.json").read_text())
    assert fresh["config"]["data"].startswith("movielens:") and fresh["config"]["arrivals"]["rate"]
    detectors = json.loads((figures.SUMMARIES / "detectors.json").read_text())
    assert detectors["config"]["seed"] == 0 and len(detectors["variants"]) == 9
    validate = json.loads((figures.SUMMARIES / "validate.json").read_text())
    assert validate["config"]["data"].startswith("coat:") and validate["people"] == 237
    privacy = json.loads((figures.SUMMARIES / "privacy.json").read_text())
    assert privacy["config"]["seed"] == 0 and privacy["config"]["n_users"] == 400
    assert [point["epsilon"] for point in privacy["points"]] == [None, 8.0, 4.0, 2.0, 1.0]
    profile = json.loads((figures.SUMMARIES / "text_profile.json").read_text())
    assert sorted(profile["worlds"]) == ["default", "movielens"]
    assert profile["worlds"]["movielens"]["config"]["data"].startswith("movielens:")
    # w = 0 is the llm-cosine it was measured with: run with the same llm_cosine config as the
    # default and MovieLens runs, it is their own figure (its interval's resamples follow the
    # agent's name, which differs there); measured with an older config, the README must say
    # that the table predates the default.
    readme = (ROOT / "README.md").read_text()
    for world, summary in (("default", default), ("movielens", movielens)):
        record = profile["worlds"][world]
        today = record["variants"][0]
        assert today["weight"] == 0
        if record["config"]["llm_cosine"] == summary["config"]["llm_cosine"]:
            share = today["figures"]["share_of_oracle"]["estimate"]
            assert share == summary["agents"]["llm-cosine"]["share_of_oracle"]["estimate"]
        else:
            section = readme[readme.index("## A user profile written by the language model") :]
            assert "These figures predate" in section[: section.index("<!-- figures:")]
    # Its first point has no privacy: the default run's llm-cosine, figure for figure.
    assert (
        privacy["points"][0]["agents"]["llm-cosine"]["plateau"]
        == (default["agents"]["llm-cosine"]["plateau"])
    )
