"""A user profile written by the language model: the embedding of a text made of the titles of
what the user clicked last, blended into the user vector (``llm_cosine.text_profile``).

Each user's profile text lists the texts of its last ``profile_items`` clicked items, newest
first, joined by "; ". The language model embeds it (the same model as the items, one text at
a time, so that a user's vector never depends on who shares its batch), and the unit vector is
blended into the ridge (or Rocchio) user vector ``u``:

    u' = normalise((1 - w) normalise(u) + w profile)

A user's profile is rebuilt on the steps that are multiples of ``profile_every`` (counted on
the user's own step, so the schedule is the same in any batch or shard), from the clicks up
to then; texts already embedded come from an in-memory cache. A user with no click has no
profile, and ``u`` is left as it is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from adaptrec.agents.base import PerUserRows

CACHE_TEXTS = 100_000
"""Profile texts whose vectors are kept (least recently used dropped first)."""


class TextProfile:
    """Per-user profile texts and their embeddings.

    Args:
        texts: ``N`` item texts (the catalog's).
        encoder: an object with ``encode(list[str]) -> (n, d) float`` unit rows (a
            :mod:`adaptrec.core.encoders` encoder).
        items: clicked items a profile lists.
        every: steps between rebuilds of a user's profile.
        center: ``(d,)`` float32 subtracted from each profile vector before it is normalised
            (the catalog's mean item vector when the agent centres items; zeros otherwise).
    """

    def __init__(
        self, texts: Sequence[str], encoder, items: int, every: int, center: np.ndarray
    ) -> None:
        self.texts, self.encoder = list(texts), encoder
        self.items, self.every = items, every
        self.center = np.asarray(center, dtype=np.float32)
        dim = len(self.center)
        self._recent = PerUserRows((items,), fill=-1, dtype=np.int64)  # newest first
        self._vectors = PerUserRows((dim,), fill=0.0, dtype=np.float32)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.encoded_ = 0  # texts the model embedded (cache misses)

    def text(self, items: np.ndarray) -> str:
        """The profile text of ``items`` (item ids, newest first, -1 empty)."""
        return "; ".join(self.texts[int(i)] for i in items if i >= 0)

    def _embed(self, text: str) -> np.ndarray:
        vector = self._cache.get(text)
        if vector is None:
            raw = np.asarray(self.encoder.encode([text])[0], dtype=np.float32) - self.center
            norm = float(np.linalg.norm(raw))
            vector = raw / norm if norm > 0 else raw
            self._cache[text] = vector
            self.encoded_ += 1
            if len(self._cache) > CACHE_TEXTS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(text)
        return vector

    def vectors(self, user_ids: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """``(B, d)`` float32 unit profile vectors (zero rows: no profile yet), rebuilt for the
        users whose step is a multiple of ``every``."""
        ids = np.asarray(user_ids, dtype=np.int64)
        recent, vectors = self._recent.grow(ids), self._vectors.grow(ids)
        for row in np.flatnonzero(np.asarray(steps) % self.every == 0):
            user = ids[row]
            if recent[user, 0] >= 0:
                vectors[user] = self._embed(self.text(recent[user]))
        return vectors[ids]

    def update(self, user_ids: np.ndarray, slates: np.ndarray, clicked: np.ndarray) -> None:
        """Put each user's clicked items (``(B, k)``, best slot first) at the front of its list."""
        ids = np.asarray(user_ids, dtype=np.int64)
        recent = self._recent.grow(ids)
        clicked = np.asarray(clicked, dtype=bool)
        for row in np.flatnonzero(clicked.any(axis=1)):
            new = np.asarray(slates[row])[clicked[row]]
            recent[ids[row]] = np.concatenate([new, recent[ids[row]]])[: self.items]


def blend(users: np.ndarray, profiles: np.ndarray, weight: float) -> np.ndarray:
    """``(B, d)`` float32 ``normalise((1 - w) normalise(u) + w p)`` where a profile exists,
    ``u`` itself elsewhere."""
    users = np.asarray(users, dtype=np.float32)
    norms = np.linalg.norm(users, axis=1, keepdims=True)
    unit = users / np.where(norms > 0, norms, 1.0)
    mixed = (1.0 - weight) * unit + weight * profiles
    length = np.linalg.norm(mixed, axis=1, keepdims=True)
    mixed = mixed / np.where(length > 0, length, 1.0)
    has = np.any(profiles != 0, axis=1)[:, None]
    return np.where(has, mixed, users).astype(np.float32)
