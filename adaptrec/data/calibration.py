"""Simulated users calibrated from real ratings: a biased matrix factorisation and a click link.

The rating model is the classic one with biases,

    r_hat(u, i) = mu + b_u + b_i + p_u . q_i,          p_u, q_i in R^d,

fitted by alternating least squares with weighted-lambda regularisation (every user's and then
every item's factors and bias solved exactly given the other side; no learning rate to tune, and
the same data and seed give the same fit). A seeded share of the ratings is held out.

A simulated user *is* one real user's fitted row. Once it examines a movie it clicks with

    P(click | examined) = sigmoid(link_slope * (r_hat(u, i) - link_center)),

and position bias, fatigue, sessions and drift come from the user model
(:class:`~adaptrec.envs.users.UserPopulation`), exactly as for synthetic users. In the
population's terms the hidden item features are ``[q_i, 1]``, the item bias is
``slope * (mu + b_i - center)`` and a user's preference is ``slope * [p_u, b_u]``; drift moves a
user towards another real user's row.

Credibility figures (held out, never fitted): RMSE of ``r_hat``, and the AUC with which a user's
click probability ranks the movies that user rated >= 4 stars above those rated <= 2 (the mean
over users with both, and pooled over all such pairs).

:func:`calibrated_catalog` caches the whole result (texts included) in one ``.npz`` keyed by the
input files' content hash and the calibration config, so a second run skips parsing and fitting.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from adaptrec.core.catalog import Catalog, UserPool
from adaptrec.core.config import CalibrationConfig
from adaptrec.core.files import atomic_output
from adaptrec.core.rng import Component, generator
from adaptrec.data.movielens import RatingsData, detect_format, files_digest, load_movielens

# Bump when the fit or the cached layout changes: old cache entries are then ignored.
CALIBRATION_VERSION = "1"
LIKED, DISLIKED = 4.0, 2.0


@dataclass(frozen=True)
class RatingModel:
    """A fitted biased matrix factorisation.

    Attributes:
        mean: global mean rating of the training split.
        user_factors: ``(U, d)`` float64; user_bias: ``(U,)`` float64.
        item_factors: ``(M, d)`` float64; item_bias: ``(M,)`` float64 (zero for unrated movies).
        train: ``(R,)`` bool, which ratings were fitted (the rest are held out).
        history: per sweep, ``{"iteration", "train_rmse", "test_rmse"}``.
    """

    mean: float
    user_factors: np.ndarray
    user_bias: np.ndarray
    item_factors: np.ndarray
    item_bias: np.ndarray
    train: np.ndarray
    history: tuple[dict[str, float], ...]

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``(n,)`` float64 predicted stars of the (user, item) index pairs."""
        dot = np.einsum("nd,nd->n", self.user_factors[users], self.item_factors[items])
        return self.mean + self.user_bias[users] + self.item_bias[items] + dot


def _solve_side(
    rows: np.ndarray,
    cols: np.ndarray,
    target: np.ndarray,
    n_rows: int,
    features: np.ndarray,
    regularization: float,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Ridge solution per row: ``(n_rows, D)`` weights ``w_r`` minimising
    ``sum_{(r,c)} a_rc (target - w_r . features[c])^2 + reg * n_r * |w_r|^2`` with
    observation weights ``a`` (``weights``, default 1) and ``n_r`` the row's summed weight.

    Gram matrices are built by sparse x dense products (deterministic, no Python loop over
    rows), in chunks so memory stays ~100 MB whatever the data size.
    """
    d = features.shape[1]
    if weights is None:
        counts = np.bincount(rows, minlength=n_rows).astype(np.float64)
        indicator = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_rows, len(features)))
        weighted = sp.csr_matrix((target, (rows, cols)), shape=(n_rows, len(features)))
    else:
        counts = np.bincount(rows, weights=weights, minlength=n_rows)
        indicator = sp.csr_matrix((weights, (rows, cols)), shape=(n_rows, len(features)))
        weighted = sp.csr_matrix((weights * target, (rows, cols)), shape=(n_rows, len(features)))
    outer = (features[:, :, None] * features[:, None, :]).reshape(len(features), d * d)
    ridge = regularization * np.maximum(counts, 1.0)  # unrated rows: w = 0, not singular
    out = np.empty((n_rows, d))
    chunk = max(1, 12_000_000 // (d * d))
    for start in range(0, n_rows, chunk):
        stop = min(n_rows, start + chunk)
        gram = np.asarray(indicator[start:stop] @ outer).reshape(-1, d, d)
        gram[:, np.arange(d), np.arange(d)] += ridge[start:stop, None]
        rhs = np.asarray(weighted[start:stop] @ features)
        out[start:stop] = np.linalg.solve(gram, rhs[..., None])[..., 0]
    return out


def fit_rating_model(data: RatingsData, config: CalibrationConfig) -> RatingModel:
    """Fit ``r_hat`` on a seeded ``1 - test_fraction`` of ``data``'s ratings by ALS."""
    rng = generator(config.seed, Component.CALIBRATION)
    n = data.n_ratings
    train = rng.random(n) >= config.test_fraction
    user, item = data.user.astype(np.int64), data.item.astype(np.int64)
    stars = data.rating.astype(np.float64)
    u, i, r = user[train], item[train], stars[train]
    mean = float(r.mean())
    d = config.factors
    item_factors = rng.normal(0.0, 0.1, (data.n_movies, d))
    item_bias = np.zeros(data.n_movies)
    ones_items, ones_users = np.ones((data.n_movies, 1)), np.ones((data.n_users, 1))
    history: list[dict[str, float]] = []
    for iteration in range(1, config.iterations + 1):
        w = _solve_side(
            u,
            i,
            r - mean - item_bias[i],
            data.n_users,
            np.hstack([item_factors, ones_items]),
            config.regularization,
        )
        user_factors, user_bias = w[:, :d], w[:, d]
        w = _solve_side(
            i,
            u,
            r - mean - user_bias[u],
            data.n_movies,
            np.hstack([user_factors, ones_users]),
            config.regularization,
        )
        item_factors, item_bias = w[:, :d], w[:, d]
        model = RatingModel(mean, user_factors, user_bias, item_factors, item_bias, train, ())
        history.append(
            {
                "iteration": iteration,
                "train_rmse": _rmse(model, user[train], item[train], stars[train]),
                "test_rmse": _rmse(model, user[~train], item[~train], stars[~train]),
            }
        )
    return RatingModel(
        mean, user_factors, user_bias, item_factors, item_bias, train, tuple(history)
    )


def _rmse(model: RatingModel, user: np.ndarray, item: np.ndarray, stars: np.ndarray) -> float:
    if not len(stars):
        return float("nan")
    return float(np.sqrt(np.mean((model.predict(user, item) - stars) ** 2)))


def click_logits(model: RatingModel, config: CalibrationConfig, users, items) -> np.ndarray:
    """``(n,)`` float64 logit of P(click | examined) for (user, item) index pairs."""
    return config.link_slope * (model.predict(users, items) - config.link_center)


def liked_auc(scores: np.ndarray, stars: np.ndarray, users: np.ndarray) -> dict[str, float]:
    """AUC of ``scores`` ranking liked (>= 4 stars) above disliked (<= 2) ratings; ties count
    half. Returns the mean of per-user AUCs over users with both kinds (``per_user``), their
    number (``users``) and the AUC over all liked/disliked pairs pooled (``pooled``)."""
    liked, disliked = stars >= LIKED, stars <= DISLIKED
    keep = liked | disliked
    scores, liked, users = scores[keep], liked[keep], users[keep]
    per_user = []
    order = np.argsort(users, kind="stable")
    scores, liked, users = scores[order], liked[order], users[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    for s, good in zip(np.split(scores, bounds), np.split(liked, bounds), strict=True):
        if good.any() and not good.all():
            per_user.append(_auc(s[good], s[~good]))
    return {
        "per_user": float(np.mean(per_user)) if per_user else float("nan"),
        "users": len(per_user),
        "pooled": _auc(scores[liked], scores[~liked])
        if liked.any() and (~liked).any()
        else float("nan"),
    }


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative) + half P(tie), by ranks (Mann-Whitney U)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([positive, negative]))
    n_pos, n_neg = len(positive), len(negative)
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def evaluate(model: RatingModel, data: RatingsData, config: CalibrationConfig) -> dict[str, Any]:
    """Held-out credibility figures of a fitted model (see the module docstring)."""
    test = ~model.train
    user, item, stars = data.user[test], data.item[test], data.rating[test]
    auc = liked_auc(click_logits(model, config, user, item), stars, user)
    return {
        "test_ratings": int(test.sum()),
        "rmse": _rmse(model, user, item, stars),
        "train_rmse": model.history[-1]["train_rmse"],
        "auc": auc["per_user"],
        "auc_users": auc["users"],
        "auc_pooled": auc["pooled"],
    }


def catalog_from_model(
    data: RatingsData, model: RatingModel, config: CalibrationConfig, report: dict[str, Any]
) -> Catalog:
    """The calibrated world: movies (real text), their hidden factors, and the real users."""
    slope, d = config.link_slope, config.factors
    topics = np.hstack([model.item_factors, np.ones((data.n_movies, 1))])
    preferences = slope * np.hstack([model.user_factors, model.user_bias[:, None]])
    item_bias = slope * (model.mean + model.item_bias - config.link_center)
    return Catalog(
        item_ids=np.arange(data.n_movies, dtype=np.int64),
        texts=tuple(data.texts(config.tags_per_item)),
        topics=topics,
        quality=np.full(data.n_movies, 0.5),
        topic_names=(*tuple(f"factor {j}" for j in range(d)), "user bias"),
        item_bias=item_bias,
        user_pool=UserPool(preferences=preferences, user_ids=data.user_ids.copy()),
        provenance=report,
    )


def describe(data: RatingsData, digest: str, config: CalibrationConfig) -> dict[str, Any]:
    return {
        "source": "movielens",
        "format": data.format,
        "path": str(data.path),
        "content_sha256": digest,
        "ratings": data.n_ratings,
        "users": data.n_users,
        "movies": data.n_movies,
        "movies_with_tags": sum(1 for t in data.tags if t),
        "link": f"P(click | examined) = sigmoid({config.link_slope:g} * "
        f"(predicted stars - {config.link_center:g}))",
    }


def calibrated_catalog(
    path: str | os.PathLike[str],
    config: CalibrationConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    on_event=None,
) -> Catalog:
    """Load MovieLens from directory ``path``, fit users, and return the calibrated catalog.

    Cached in ``cache_dir/movielens/<key>.npz`` (default cache: see
    :func:`adaptrec.core.encoders.default_cache_dir`), ``key`` = hash of the input files' bytes,
    the calibration config and :data:`CALIBRATION_VERSION`; written atomically.
    """
    from adaptrec.core.encoders import default_cache_dir

    say = on_event or (lambda message: None)
    _, files = detect_format(path)
    digest = files_digest(files)
    key = f"{digest[:24]}-{config.digest()}-v{CALIBRATION_VERSION}"
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = cache / "movielens" / f"{key}.npz"
    if entry.is_file():
        try:
            catalog = _load_entry(entry)
            say(f"calibrated users from cache {entry}")
            # Keyed by content: the same data may now live elsewhere.
            return dataclasses.replace(
                catalog, provenance={**(catalog.provenance or {}), "path": str(path)}
            )
        except (OSError, ValueError, KeyError):
            pass  # unreadable entry: refit and overwrite it
    say(f"reading MovieLens from {path}")
    data = load_movielens(path)
    say(f"fitting {config.factors}-factor model to {data.n_ratings:,} ratings")
    model = fit_rating_model(data, config)
    report = describe(data, digest, config) | evaluate(model, data, config)
    catalog = catalog_from_model(data, model, config, report)
    _save_entry(entry, catalog)
    return catalog


def _save_entry(path: Path, catalog: Catalog) -> None:
    assert catalog.user_pool is not None and catalog.item_bias is not None
    with atomic_output(path) as tmp, open(tmp, "wb") as file:
        np.savez(
            file,
            texts=np.array(catalog.texts, dtype=str),
            topics=catalog.topics,
            item_bias=catalog.item_bias,
            topic_names=np.array(catalog.topic_names, dtype=str),
            preferences=catalog.user_pool.preferences,
            user_ids=catalog.user_pool.user_ids,
            provenance=np.array(json.dumps(catalog.provenance, sort_keys=True)),
        )


def _load_entry(path: Path) -> Catalog:
    with np.load(path, allow_pickle=False) as z:
        n = len(z["texts"])
        return Catalog(
            item_ids=np.arange(n, dtype=np.int64),
            texts=tuple(str(t) for t in z["texts"]),
            topics=z["topics"],
            quality=np.full(n, 0.5),
            topic_names=tuple(str(t) for t in z["topic_names"]),
            item_bias=z["item_bias"],
            user_pool=UserPool(preferences=z["preferences"], user_ids=z["user_ids"]),
            provenance=json.loads(str(z["provenance"])),
        )
