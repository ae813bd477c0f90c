"""Users calibrated from real ratings: the fit, its held-out quality, the link, drift, the cache."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_movielens import write_latest

from adaptrec.core.catalog import Catalog
from adaptrec.core.config import CalibrationConfig, EnvConfig, UserConfig
from adaptrec.data import calibration, load_movielens
from adaptrec.data.calibration import (
    _solve_side,
    calibrated_catalog,
    evaluate,
    fit_rating_model,
    liked_auc,
)
from adaptrec.envs.users import UserPopulation


def test_each_als_half_step_is_the_exact_ridge_solution_per_row():
    """Catches a wrong Gram matrix, a wrong right-hand side or a ridge on the wrong rows."""
    rng = np.random.default_rng(3)
    n_rows, n_cols, d = 7, 11, 4
    rows = np.repeat(np.arange(n_rows - 1), 5)  # the last row has no ratings
    cols = rng.integers(0, n_cols, len(rows))
    target = rng.normal(size=len(rows))
    features = rng.normal(size=(n_cols, d))
    got = _solve_side(rows, cols, target, n_rows, features, regularization=0.3)
    for r in range(n_rows - 1):
        x, y = features[cols[rows == r]], target[rows == r]
        expected = np.linalg.solve(x.T @ x + 0.3 * len(y) * np.eye(d), x.T @ y)
        np.testing.assert_allclose(got[r], expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(got[-1], 0.0)  # unrated: no evidence, no taste


def test_auc_counts_pairs_and_ties_by_hand():
    # user 0: liked scores 3, 1; disliked 2 -> pairs (3>2 yes, 1>2 no) = 0.5
    # user 1: liked 5; disliked 5 (tie) -> 0.5; a 3-star rating is ignored
    scores = np.array([3.0, 1.0, 2.0, 5.0, 5.0, 0.0])
    stars = np.array([5.0, 4.0, 1.0, 4.5, 2.0, 3.0])
    users = np.array([0, 0, 0, 1, 1, 1])
    auc = liked_auc(scores, stars, users)
    assert auc["per_user"] == pytest.approx(0.5) and auc["users"] == 2
    # pooled: liked {3,1,5} vs disliked {2,5}: 3>2, 1<2, 1<5, 3<5, 5>2, 5=5 -> 2.5/6
    assert auc["pooled"] == pytest.approx(2.5 / 6)


def test_fit_on_ml_latest_small_meets_the_credibility_targets(movielens_small: Path):
    """Held-out RMSE beats the global mean and the item-mean predictors, and the simulated
    click probability ranks held-out liked movies above disliked ones with AUC >= 0.75."""
    data = load_movielens(movielens_small)
    config = CalibrationConfig()
    model = fit_rating_model(data, config)
    report = evaluate(model, data, config)
    test = ~model.train
    stars = data.rating[test].astype(np.float64)
    baseline = np.sqrt(np.mean((stars - data.rating[model.train].mean()) ** 2))
    assert report["test_ratings"] == int(test.sum()) > 9_000
    assert report["rmse"] < 0.88 < baseline
    assert report["auc"] >= 0.75 and report["auc_users"] >= 200
    assert report["auc_pooled"] > report["auc"]  # pooling mixes in harsh vs generous raters
    # Fitted on the training split only: its error is well below the held-out error.
    assert report["train_rmse"] < report["rmse"] - 0.1
    # The sweeps converge: later ones fit better than the first, on both splits.
    first, last = model.history[0], model.history[-1]
    assert last["train_rmse"] < first["train_rmse"] and last["test_rmse"] < first["test_rmse"]
    # The same seed refits exactly; another seed holds out other ratings.
    again = fit_rating_model(data, config)
    np.testing.assert_array_equal(again.item_factors, model.item_factors)
    other = fit_rating_model(data, dataclasses.replace(config, seed=1, iterations=1))
    assert (other.train != model.train).any()


def test_a_calibrated_users_click_probability_is_the_documented_link(movielens_catalog: Catalog):
    """Once examined, simulated user u clicks movie i with sigmoid(slope * (r_hat - center)),
    r_hat from the fitted model: checks the mapping of the fit into the population's terms."""
    config = CalibrationConfig()
    data = load_movielens(movielens_catalog.provenance["path"])
    model = fit_rating_model(data, config)
    population = UserPopulation(movielens_catalog, UserConfig(drift="none"), EnvConfig())
    population.reset(np.arange(5), root_seed=4)
    real = population.real_user_
    assert len(set(real.tolist())) == 5  # distinct real people
    items = np.arange(data.n_movies)
    for row, person in enumerate(real):
        r_hat = model.predict(np.full(data.n_movies, person), items)
        expected = 1 / (1 + np.exp(-config.link_slope * (r_hat - config.link_center)))
        np.testing.assert_allclose(population.attractiveness([row])[0], expected, atol=1e-9)
    # Another root seed meets other real people; the user id -> person map is a permutation.
    other = UserPopulation(movielens_catalog, UserConfig(drift="none"), EnvConfig())
    other.reset(np.arange(610), root_seed=5)
    assert sorted(other.real_user_.tolist()) == list(range(610))
    assert other.real_user_[:5].tolist() != real.tolist()


def test_drift_towards_another_real_user_changes_what_the_user_clicks(movielens_catalog):
    """Show every user, alternately, the five movies its own real person prefers most over the
    person it drifts towards (slate A) and the five the other person prefers most (slate B).
    Before the drift A gets more clicks, after it B does; and the user's click probabilities
    become exactly the other person's."""
    users = UserConfig(drift="abrupt", drift_step=40, drift_fraction=1.0, fatigue_weight=0.0)
    env = EnvConfig(slate_size=5, max_steps=80)
    n = 60
    population = UserPopulation(movielens_catalog, users, env)
    population.reset(np.arange(n), root_seed=0)
    assert (population.drift_real_user_ != population.real_user_).all()
    own = population.attractiveness()
    pool = movielens_catalog.user_pool
    np.testing.assert_array_equal(
        population.initial_preference_, pool.preferences[population.real_user_]
    )
    other = UserPopulation(movielens_catalog, UserConfig(drift="none"), env)
    other.reset(np.arange(n), root_seed=0)
    other.preference_[:] = pool.preferences[population.drift_real_user_]
    other._set_utility(np.arange(n))
    theirs = other.attractiveness()
    slate_a = np.argsort(theirs - own, axis=1, kind="stable")[:, :5]
    slate_b = np.argsort(own - theirs, axis=1, kind="stable")[:, :5]
    clicks = {("A", False): 0, ("B", False): 0, ("A", True): 0, ("B", True): 0}
    for step in range(80):
        which = "A" if step % 2 == 0 else "B"
        outcome = population.step(slate_a if which == "A" else slate_b)
        clicks[(which, step >= 40)] += int(outcome.clicked.sum())
    assert clicks[("A", False)] > 2 * clicks[("B", False)]
    assert clicks[("B", True)] > 2 * clicks[("A", True)]
    np.testing.assert_allclose(population.attractiveness(), theirs, atol=1e-12)


def test_calibration_is_cached_by_content_and_refit_when_the_files_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = write_latest(tmp_path / "data")
    config = CalibrationConfig(factors=2, iterations=3, test_fraction=0.0)
    cache = tmp_path / "cache"
    first = calibrated_catalog(folder, config, cache)
    assert first.texts[1] == "Heat (1995). Genres: Action, Crime, Thriller. Tags: Al Pacino, heist."
    assert len(list((cache / "movielens").glob("*.npz"))) == 1

    def no_fit(*args, **kwargs):
        raise AssertionError("refitted although the data did not change")

    # Same bytes elsewhere: served from the cache, with the new path recorded.
    moved = shutil.copytree(folder, tmp_path / "moved")
    with monkeypatch.context() as patch:
        patch.setattr(calibration, "fit_rating_model", no_fit)
        second = calibrated_catalog(moved, config, cache)
    assert second.texts == first.texts and second.provenance["path"] == str(moved)
    np.testing.assert_array_equal(second.user_pool.preferences, first.user_pool.preferences)
    np.testing.assert_array_equal(second.item_bias, first.item_bias)
    # One changed rating: a new key, a new fit.
    text = (moved / "ratings.csv").read_text().replace("7,1,4.0", "7,1,1.0")
    (moved / "ratings.csv").write_text(text)
    third = calibrated_catalog(moved, config, cache)
    assert third.provenance["content_sha256"] != first.provenance["content_sha256"]
    assert not np.array_equal(third.user_pool.preferences, first.user_pool.preferences)
    assert len(list((cache / "movielens").glob("*.npz"))) == 2
    # Another calibration config is another entry, too.
    calibrated_catalog(folder, dataclasses.replace(config, link_slope=1.0), cache)
    assert len(list((cache / "movielens").glob("*.npz"))) == 3
    assert not list((cache / "movielens").glob("*.tmp"))


def test_a_calibrated_catalog_drives_the_gymnasium_env(movielens_catalog):
    """The semi-synthetic world is a drop-in catalog for adaptrec/SlateRec-v0."""
    import warnings

    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    import adaptrec  # noqa: F401 - registers the env

    env = gym.make("adaptrec/SlateRec-v0", catalog=movielens_catalog, max_episode_steps=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
    _, info = env.reset(seed=3)
    _, _, _, _, info = env.step(np.arange(5))
    assert info["expected_clicks"] <= info["oracle_expected_clicks"]
    assert env.action_space.nvec.tolist() == [9_742] * 5
