"""The Coat shopping data (Schnabel et al., ICML 2016): loader, coat texts, and users
calibrated on the self-selected ratings only.

A Coat directory (``../shared/data/coat``; read in place, never copied) holds:

* ``train.ascii``: 290 x 300 ratings 1-5 (0 = none), 24 per person, on coats the people chose
  themselves in a web shop (missing *not* at random);
* ``test.ascii``: the same shape, 16 per person, on coats drawn uniformly at random for them
  (missing completely at random): each person's real ratings of a random slate;
* ``propensities.ascii``: the authors' learned propensities of the train matrix;
* ``user_item_features/item_features.ascii`` (300 x 33 one-hot: gender, jacket type, colour,
  on the front page) with ``item_features_map.txt``.

**Texts.** A coat is described from its attributes, e.g. "Women's insulated jacket in navy,
shown on the shop's front page." The language model reads only this.

**Calibration (train only).** The rating model of :mod:`adaptrec.data.calibration`
(``r_hat = mu + b_u + b_i + p_u . q_i``, ALS with weighted-lambda regularisation) is fitted to
a seeded ``1 - test_fraction`` of the train ratings weighted by their inverse propensities
(IPS; normalised to mean 1), so the coats people chose to rate do not stand for all coats. The
click link, ``P(liked) = sigmoid(a (r_hat - c))``, is a logistic regression of "rated >= 4" on
``r_hat`` over the other ``test_fraction`` of the train ratings, with the same weights
(out-of-sample predictions: fitted in sample, the link would be as steep as the model's
overfit). ``weighting="none"`` fits both without the weights (the plain fit that
ignores the selection), for comparison. ``test.ascii`` is never fitted on: it is the judge.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adaptrec.core.catalog import Catalog, UserPool
from adaptrec.core.config import CalibrationConfig
from adaptrec.core.rng import Component, generator
from adaptrec.data.movielens import DataFormatError

FILES = (
    "train.ascii",
    "test.ascii",
    "propensities.ascii",
    "user_item_features/item_features.ascii",
    "user_item_features/item_features_map.txt",
)
LIKED = 4
"""A rating at or above this is a click ("liked")."""
WEIGHTINGS = ("ips", "none")


@dataclass(frozen=True)
class CoatData:
    """One Coat directory, read.

    Attributes:
        path: the directory.
        train, test: ``(U, I)`` int8 ratings 1-5, 0 where none.
        propensities: ``(U, I)`` float64, the train matrix's propensities.
        item_features: ``(I, F)`` int8 one-hot attributes; feature_names: ``F`` ``"kind:value"``.
        digest: SHA-256 of the files read.
    """

    path: Path
    train: np.ndarray
    test: np.ndarray
    propensities: np.ndarray
    item_features: np.ndarray
    feature_names: tuple[str, ...]
    digest: str

    @property
    def n_users(self) -> int:
        return self.train.shape[0]

    @property
    def n_items(self) -> int:
        return self.train.shape[1]

    def texts(self) -> tuple[str, ...]:
        """One description per coat, from its attributes."""
        return tuple(coat_text(row, self.feature_names) for row in self.item_features)


def _matrix(path: Path, name: str, dtype) -> np.ndarray:
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise DataFormatError(
            f"coat: {name} must be a whitespace-separated number matrix: {error}"
        ) from None
    return values.astype(dtype) if dtype is not np.float64 else values


def load_coat(path: str | os.PathLike[str]) -> CoatData:
    """Read a Coat directory; :class:`~adaptrec.data.movielens.DataFormatError` (a
    ``ValueError``) in one line naming what is missing or wrong."""
    root = Path(path)
    if not root.is_dir():
        raise DataFormatError(
            f"coat: data must be a Coat directory, got {str(path)!r} (not a directory)"
        )
    missing = [name for name in FILES if not (root / name).is_file()]
    if missing:
        raise DataFormatError(
            f"coat: {str(path)!r} lacks {', '.join(missing)} (a Coat directory holds "
            f"{', '.join(FILES)})"
        )
    train = _matrix(root / "train.ascii", "train.ascii", np.float64)
    test = _matrix(root / "test.ascii", "test.ascii", np.float64)
    if train.shape != test.shape:
        raise DataFormatError(
            f"coat: test.ascii must have train.ascii's shape {train.shape}, got {test.shape}"
        )
    for name, matrix in (("train.ascii", train), ("test.ascii", test)):
        bad = ~np.isin(matrix, (0, 1, 2, 3, 4, 5))
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise DataFormatError(
                f"coat: {name} must hold ratings 1-5 (0 = none), got {matrix[row, column]:g} "
                f"at row {row}, column {column}"
            )
    propensities = _matrix(root / "propensities.ascii", "propensities.ascii", np.float64)
    if propensities.shape != train.shape:
        raise DataFormatError(
            f"coat: propensities.ascii must have shape {train.shape}, got {propensities.shape}"
        )
    rated = train > 0
    if (propensities[rated] <= 0).any() or not np.isfinite(propensities[rated]).all():
        raise DataFormatError(
            "coat: propensities.ascii must be positive and finite where train rates"
        )
    features = _matrix(root / FILES[3], "item_features.ascii", np.float64)
    names = tuple(
        line.strip() for line in (root / FILES[4]).read_text().splitlines() if line.strip()
    )
    if features.shape != (train.shape[1], len(names)):
        raise DataFormatError(
            f"coat: item_features.ascii must be {train.shape[1]} coats x {len(names)} features "
            f"(item_features_map.txt), got {features.shape}"
        )
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return CoatData(
        path=root,
        train=train.astype(np.int8),
        test=test.astype(np.int8),
        propensities=propensities,
        item_features=features.astype(np.int8),
        feature_names=names,
        digest=digest.hexdigest(),
    )


_JACKETS = {
    "bomber": "bomber jacket",
    "cropped": "cropped jacket",
    "field": "field jacket",
    "fleece": "fleece jacket",
    "insulated": "insulated jacket",
    "motorcycle": "motorcycle jacket",
    "other": "jacket",
    "packable": "packable jacket",
    "parkas": "parka",
    "pea": "pea coat",
    "rain": "rain jacket",
    "shells": "shell jacket",
    "track": "track jacket",
    "trench": "trench coat",
    "vests": "vest",
    "waterproof": "waterproof jacket",
}
_COLOURS = {"multi": "several colours", "other": "an unusual colour", "gray": "grey"}


def coat_text(row: np.ndarray, names: tuple[str, ...]) -> str:
    """A coat's description from its one-hot attributes, e.g. "Women's insulated jacket in
    navy, shown on the shop's front page."."""
    values = dict(name.split(":", 1) for name, on in zip(names, row, strict=True) if on)
    gender = {"men": "Men's", "women": "Women's"}.get(values.get("gender", ""), "A")
    jacket = _JACKETS.get(values.get("jackettype", "other"), values.get("jackettype", "coat"))
    colour = values.get("color")
    text = f"{gender} {jacket}"
    if colour:
        text += f" in {_COLOURS.get(colour, colour)}"
    if values.get("onfrontpage") == "yes":
        text += ", shown on the shop's front page"
    return text + "."


@dataclass(frozen=True)
class CoatFit:
    """Fitted Coat users: the rating model's parts and the click link.

    Attributes:
        mean, user_bias (U,), item_bias (I,), user_factors (U, d), item_factors (I, d).
        slope, center: ``P(liked) = sigmoid(slope * (r_hat - center))``.
        weighting: ``"ips"`` or ``"none"``.
    """

    mean: float
    user_factors: np.ndarray
    user_bias: np.ndarray
    item_factors: np.ndarray
    item_bias: np.ndarray
    slope: float
    center: float
    weighting: str

    def predicted(self) -> np.ndarray:
        """``(U, I)`` float64 predicted ratings."""
        return (
            self.mean
            + self.user_bias[:, None]
            + self.item_bias[None, :]
            + self.user_factors @ self.item_factors.T
        )

    def liked_probability(self) -> np.ndarray:
        """``(U, I)`` float64 ``P(rating >= 4)`` of every person for every coat."""
        return 1.0 / (1.0 + np.exp(-self.slope * (self.predicted() - self.center)))


def _fit_link(predicted: np.ndarray, liked: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted logistic regression of ``liked`` on ``predicted`` (Newton's method):
    ``(slope, center)`` with ``logit = slope * (predicted - center)``."""
    x = np.stack([predicted, np.ones_like(predicted)], axis=1)
    beta = np.zeros(2)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-x @ beta))
        gradient = x.T @ (weights * (liked - p))
        hessian = (x * (weights * p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    slope = float(beta[0])
    return slope, float(-beta[1] / slope) if slope else 0.0


def fit_coat(data: CoatData, config: CalibrationConfig, weighting: str = "ips") -> CoatFit:
    """Fit Coat users on ``train.ascii`` (see the module docstring); ``weighting`` is
    ``"ips"`` (inverse propensities) or ``"none"``."""
    from adaptrec.data.calibration import _solve_side

    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    all_user, all_item = np.nonzero(data.train)
    all_stars = data.train[all_user, all_item].astype(np.float64)
    all_weights = np.ones(len(all_stars))
    if weighting == "ips":
        all_weights = 1.0 / data.propensities[all_user, all_item]
        all_weights /= all_weights.mean()
    rng = generator(config.seed, Component.CALIBRATION)
    link_part = rng.random(len(all_stars)) < config.test_fraction
    if not link_part.any() or link_part.all():
        raise ValueError(
            f"calibration.test_fraction must leave train ratings for both the model and the "
            f"link, got {config.test_fraction}"
        )
    user, item = all_user[~link_part], all_item[~link_part]
    stars, weights = all_stars[~link_part], all_weights[~link_part]
    mean = float(np.average(stars, weights=weights))
    d = config.factors
    item_factors = rng.normal(0.0, 0.1, (data.n_items, d))
    item_bias = np.zeros(data.n_items)
    ones_items, ones_users = np.ones((data.n_items, 1)), np.ones((data.n_users, 1))
    for _ in range(config.iterations):
        w = _solve_side(
            user, item, stars - mean - item_bias[item], data.n_users,
            np.hstack([item_factors, ones_items]), config.regularization, weights,
        )  # fmt: skip
        user_factors, user_bias = w[:, :d], w[:, d]
        w = _solve_side(
            item, user, stars - mean - user_bias[user], data.n_items,
            np.hstack([user_factors, ones_users]), config.regularization, weights,
        )  # fmt: skip
        item_factors, item_bias = w[:, :d], w[:, d]
    fit = CoatFit(mean, user_factors, user_bias, item_factors, item_bias, 1.0, 0.0, weighting)
    user, item = all_user[link_part], all_item[link_part]
    liked = (all_stars[link_part] >= LIKED).astype(np.float64)
    slope, center = _fit_link(fit.predicted()[user, item], liked, all_weights[link_part])
    return CoatFit(mean, user_factors, user_bias, item_factors, item_bias, slope, center, weighting)


def held_out_figures(fit: CoatFit, data: CoatData) -> dict[str, Any]:
    """How well the fit predicts ``test.ascii`` (never fitted on): the AUC of liked (>= 4)
    over not liked (<= 3), mean over people with both and pooled, and the mean predicted
    P(liked) against the random ratings' share of liked."""
    from adaptrec.data.calibration import _auc

    user, item = np.nonzero(data.test)
    stars = data.test[user, item]
    liked = stars >= LIKED
    probability = fit.liked_probability()[user, item]
    per_user = []
    for person in np.unique(user):
        rows = user == person
        good = liked[rows]
        if good.any() and not good.all():
            per_user.append(_auc(probability[rows][good], probability[rows][~good]))
    return {
        "weighting": fit.weighting,
        "auc": float(np.mean(per_user)),
        "auc_users": len(per_user),
        "auc_pooled": _auc(probability[liked], probability[~liked]),
        "predicted_liked_rate": float(probability.mean()),
        "liked_rate": float(liked.mean()),
        "link": f"P(liked) = sigmoid({fit.slope:.3f} * (r_hat - {fit.center:.3f}))",
    }


def coat_catalog(
    path: str | os.PathLike[str], config: CalibrationConfig, weighting: str = "ips"
) -> Catalog:
    """The calibrated Coat world: coats (their texts), hidden features and the 290 people as
    simulated users (:class:`~adaptrec.core.catalog.UserPool`: user ``u`` clicks coat ``i``
    once examined with the fitted P(liked)). Its provenance holds the held-out figures of
    both fits (``ips`` and ``none``)."""
    data = load_coat(path)
    fit = fit_coat(data, config, weighting)
    other = fit_coat(data, config, "none" if weighting == "ips" else "ips")
    held_out = {fit.weighting: held_out_figures(fit, data)}
    held_out[other.weighting] = held_out_figures(other, data)
    slope = fit.slope
    topics = np.hstack([fit.item_factors, np.ones((data.n_items, 1))])
    preferences = slope * np.hstack([fit.user_factors, fit.user_bias[:, None]])
    item_bias = slope * (fit.mean + fit.item_bias - fit.center)
    provenance = {
        "source": "coat",
        "path": str(path),
        "content_sha256": data.digest,
        "users": data.n_users,
        "coats": data.n_items,
        "train_ratings": int((data.train > 0).sum()),
        "test_ratings": int((data.test > 0).sum()),
        "weighting": weighting,
        "held_out": held_out,
        **held_out[weighting],
    }
    return Catalog(
        item_ids=np.arange(data.n_items, dtype=np.int64),
        texts=data.texts(),
        topics=topics,
        quality=np.full(data.n_items, 0.5),
        topic_names=(*(f"factor {j}" for j in range(fit.item_factors.shape[1])), "user bias"),
        item_bias=item_bias,
        user_pool=UserPool(preferences=preferences, user_ids=np.arange(data.n_users)),
        provenance=provenance,
    )
