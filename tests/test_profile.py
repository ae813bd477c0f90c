"""The text profile: a user vector blended with the language model's embedding of the texts
of what the user clicked last (``llm_cosine.text_profile``)."""

from __future__ import annotations

import numpy as np
import pytest

from adaptrec.agents.llm_cosine import LLMCosineAgent
from adaptrec.agents.llm_cosine.profile import TextProfile, blend
from adaptrec.core.config import LLMCosineConfig
from adaptrec.core.encoders import HashingEncoder

TEXTS = [f"item {i} about {topic}" for i, topic in enumerate(["jazz", "cycling", "cooking"] * 4)]


class CountingEncoder(HashingEncoder):
    def __init__(self) -> None:
        super().__init__(16)
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return super().encode(texts)


def test_the_profile_lists_the_last_clicks_newest_first_and_embeds_their_text():
    encoder = CountingEncoder()
    profile = TextProfile(TEXTS, encoder, items=3, every=5, center=np.zeros(16, np.float32))
    profile.update(np.array([4]), np.array([[1, 2, 3]]), np.array([[True, False, True]]))
    profile.update(np.array([4]), np.array([[7, 8, 9]]), np.array([[False, True, False]]))
    assert profile._recent.data[4].tolist() == [8, 1, 3]  # newest step first, slot order within
    assert profile.text(profile._recent.data[4]) == "; ".join(TEXTS[i] for i in (8, 1, 3))
    vectors = profile.vectors(np.array([4, 0]), np.array([5, 5]))
    want = encoder.encode([profile.text(np.array([8, 1, 3]))])[0]
    np.testing.assert_allclose(vectors[0], want, rtol=1e-6)
    assert not vectors[1].any()  # no click yet: no profile
    # Between rebuilds the vector stays; the same text again comes from the cache.
    profile.update(np.array([4]), np.array([[10, 11, 0]]), np.array([[True, False, False]]))
    np.testing.assert_array_equal(profile.vectors(np.array([4]), np.array([6]))[0], vectors[0])
    calls = len(encoder.calls)
    rebuilt = profile.vectors(np.array([4]), np.array([10]))[0]
    assert len(encoder.calls) == calls + 1 and not np.allclose(rebuilt, vectors[0])
    profile._recent.data[4] = [8, 1, 3]
    profile.vectors(np.array([4]), np.array([15]))
    assert len(encoder.calls) == calls + 1 and profile.encoded_ == 2  # a cache hit
    # One text at a time: a user's vector does not depend on who shares its batch.
    assert all(len(texts) == 1 for texts in encoder.calls[calls - 2 :])


def test_blend_mixes_unit_vectors_where_a_profile_exists():
    users = np.array([[3.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    profiles = np.array([[0.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    out = blend(users, profiles, 0.25)
    np.testing.assert_allclose(out[0], np.array([0.75, 0.25]) / np.hypot(0.75, 0.25), rtol=1e-6)
    np.testing.assert_array_equal(out[1], users[1])  # no profile: u as it was
    np.testing.assert_allclose(blend(users, profiles, 1.0)[0], [0.0, 1.0])


@pytest.mark.parametrize("user_model", ["ridge", "rocchio"])
def test_at_weight_one_the_user_vector_is_the_profile(user_model):
    # Catches a profile that never reaches the ranking (blended after the cosine, or into
    # the wrong users), and a centring that differs from the items'.
    rng = np.random.default_rng(0)
    vectors = HashingEncoder(32).encode(TEXTS) + rng.normal(0, 0.01, (len(TEXTS), 32))
    config = LLMCosineConfig(text_profile=1.0, profile_every=2, profile_items=2,
                             user_model=user_model, epsilon=0.0)  # fmt: skip
    encoder = HashingEncoder(32)
    agent = LLMCosineAgent(vectors, 2, config, seed=1, texts=TEXTS, encoder=encoder)
    from adaptrec.agents import StepBatch

    for step in range(3):
        observation = {"user_id": np.arange(3), "step": np.full(3, step)}
        slates = agent.act(observation)
        clicked = np.zeros(slates.shape, dtype=bool)
        clicked[0, 0] = True  # user 0 clicks its top item each step
        agent.update(
            StepBatch(np.arange(3), np.full(3, step), slates, clicked, ~clicked,
                      np.zeros(slates.shape, np.float32), clicked.sum(1).astype(float))
        )  # fmt: skip
    agent.act({"user_id": np.arange(3), "step": np.full(3, 4)})
    users = agent._acted[1]
    text = agent.profile.text(agent.profile._recent.data[0])
    expected = encoder.encode([text])[0] - vectors.mean(axis=0)
    np.testing.assert_allclose(users[0], expected / np.linalg.norm(expected), atol=1e-5)
    assert not np.allclose(users[1], users[0])  # no click: its own vector


def test_a_text_profile_needs_texts_and_an_encoder():
    vectors = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="text_profile > 0 needs the catalog's item texts"):
        LLMCosineAgent(vectors, 2, LLMCosineConfig(text_profile=0.5))
    with pytest.raises(ValueError, match=r"llm_cosine.text_profile must be <= 1"):
        LLMCosineConfig(text_profile=1.5)
