"""The seed agent really learns, on a seeded population with the real language model."""

import pytest
from scipy import stats

from adaptrec.core.config import default_run_config
from adaptrec.logs import read_agent_arrays
from adaptrec.rollout import run_agent

USERS, STEPS, DRIFT = 200, 120, 60


@pytest.fixture(scope="module")
def runs(tmp_path_factory, default_catalog, default_vectors):
    config = default_run_config(USERS, STEPS, seed=3)
    assert config.users.drift_step == DRIFT
    out = tmp_path_factory.mktemp("learning")
    return {
        name: read_agent_arrays(run_agent(config, name, default_catalog, default_vectors, out))
        for name in config.agents
    }


def quarter(array, which):
    q = array.shape[1] // 4
    return array[:, which * q : (which + 1) * q].mean(axis=1)


def test_seed_agent_ends_significantly_above_random_and_its_own_start(runs):
    seed = runs["llm-cosine"]["clicks"] / 5
    random = runs["random"]["clicks"] / 5
    last, first = quarter(seed, 3), quarter(seed, 0)
    assert stats.ttest_ind(last, quarter(random, 3), alternative="greater").pvalue < 1e-6
    assert stats.ttest_rel(last, first, alternative="greater").pvalue < 1e-3
    assert last.mean() > 1.5 * quarter(random, 3).mean()


def test_the_oracle_bounds_every_agent(runs):
    oracle_ctr = runs["oracle"]["clicks"].mean()
    for name, data in runs.items():
        assert (data["expected"] <= data["oracle"] + 1e-12).all(), name
        assert data["expected"].mean() <= runs["oracle"]["expected"].mean() + 1e-12, name
        assert data["clicks"].mean() <= oracle_ctr + 1e-12 or name == "oracle"


def test_after_a_drift_the_seed_agent_drops_then_recovers(runs):
    data = runs["llm-cosine"]
    drifting = data["drift_step"] == DRIFT
    assert 70 < drifting.sum() < 130
    ratio = data["expected"][drifting] / data["oracle"][drifting]
    before = ratio[:, DRIFT - 10 : DRIFT].mean(axis=1)
    just_after = ratio[:, DRIFT : DRIFT + 5].mean(axis=1)
    later = ratio[:, STEPS - 10 :].mean(axis=1)
    assert stats.ttest_rel(before, just_after, alternative="greater").pvalue < 1e-6
    assert stats.ttest_rel(later, just_after, alternative="greater").pvalue < 1e-6
    # users whose taste stayed put show no such drop
    steady = data["expected"][~drifting] / data["oracle"][~drifting]
    drop_steady = steady[:, DRIFT - 10 : DRIFT].mean() - steady[:, DRIFT : DRIFT + 5].mean()
    assert drop_steady < (before - just_after).mean() / 3
