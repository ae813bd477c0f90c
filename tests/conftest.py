"""Shared fixtures: one language-model load and one catalog encoding per test session."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(2)

# Hypothesis profiles: "ci" (default) keeps the property tests to a few minutes on 2 cores;
# ADAPTREC_HYPOTHESIS_PROFILE=thorough runs many more examples.
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("ADAPTREC_HYPOTHESIS_PROFILE", "ci"))

from adaptrec.core.catalog import Catalog, make_catalog  # noqa: E402
from adaptrec.core.config import CatalogConfig  # noqa: E402
from adaptrec.core.encoders import CachedEncoder, SentenceTransformerEncoder  # noqa: E402


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """An embedding cache shared by the session (and by CLI subprocesses via --cache)."""
    return tmp_path_factory.mktemp("adaptrec-cache")


@pytest.fixture(scope="session")
def minilm(cache_dir) -> CachedEncoder:
    """The bundled all-MiniLM-L6-v2, loaded once, with every network connection refused."""
    encoder = CachedEncoder(SentenceTransformerEncoder(), cache_dir)

    def refuse(*args, **kwargs):
        raise OSError("network access attempted while loading the language model")

    original = socket.socket.connect
    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        encoder.encoder.model  # noqa: B018 - force the load now, offline
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]
    return encoder


@pytest.fixture(scope="session")
def default_catalog() -> Catalog:
    """The catalog of the default run (2,000 items, seed 0)."""
    return make_catalog(CatalogConfig(), 0)


@pytest.fixture(scope="session")
def default_vectors(minilm: CachedEncoder, default_catalog: Catalog) -> np.ndarray:
    """MiniLM vectors of the default catalog; also fills the session cache for the CLI tests
    (encoded with the default run's one torch thread: the cache key includes the count)."""
    from adaptrec.rollout import torch_threads

    with torch_threads(1):
        return minilm.encode(list(default_catalog.texts))


def movielens_small_path():
    """ml-latest-small, read in place from ``../shared/data`` (research licence: never copied
    into the repository); ``$ADAPTREC_ML_LATEST_SMALL`` overrides the location."""
    from adaptrec.testing.golden import movielens_path

    path = movielens_path()
    if not (path / "ratings.csv").is_file():
        raise FileNotFoundError(
            f"ml-latest-small not found at {path}: the tests read it from ../shared/data (set "
            "ADAPTREC_ML_LATEST_SMALL to its directory)"
        )
    return path


@pytest.fixture(scope="session")
def movielens_small():
    return movielens_small_path()


@pytest.fixture(scope="session")
def movielens_catalog(movielens_small, cache_dir) -> Catalog:
    """Users calibrated from ml-latest-small with the default calibration, fitted once."""
    from adaptrec.core.config import CalibrationConfig
    from adaptrec.data.calibration import calibrated_catalog

    return calibrated_catalog(movielens_small, CalibrationConfig(), cache_dir)


@pytest.fixture(scope="session")
def ray_session():
    """The test run's one embedded Ray (2 CPUs), started on first use and shut down at the end.

    Tests that start Ray in subprocesses (the CLI's --workers, `ray start --head`) get
    instances of their own: an embedded Ray is always a new local one."""
    import ray

    from adaptrec.parallel import connect

    connect(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def default_vectors_for(minilm: CachedEncoder):
    """``encode(catalog)``: MiniLM vectors of any catalog's texts (cached per session)."""
    from adaptrec.rollout import torch_threads

    def encode(catalog: Catalog) -> np.ndarray:
        with torch_threads(1):
            return minilm.encode(list(catalog.texts))

    return encode


@pytest.fixture(scope="session")
def coat_dir():
    """The Coat data, read in place from ``../shared/data/coat`` (``$ADAPTREC_COAT``
    overrides it)."""
    from adaptrec.testing.golden import coat_path

    path = coat_path()
    if not (path / "test.ascii").is_file():
        raise FileNotFoundError(
            f"Coat not found at {path}: the tests read it from ../shared/data (set ADAPTREC_COAT)"
        )
    return path
