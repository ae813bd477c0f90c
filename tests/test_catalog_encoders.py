import numpy as np
import pytest

from adaptrec.core.catalog import TOPICS, make_catalog
from adaptrec.core.config import CatalogConfig
from adaptrec.core.encoders import CachedEncoder, HashingEncoder, make_encoder


def test_catalog_is_seeded_and_its_hidden_attributes_are_well_formed():
    config = CatalogConfig(n_items=300, n_topics=12)
    a, b, c = make_catalog(config, 1), make_catalog(config, 1), make_catalog(config, 2)
    assert a.texts == b.texts and np.array_equal(a.topics, b.topics)
    assert a.texts != c.texts
    assert a.topics.shape == (300, 12)
    np.testing.assert_allclose(a.topics.sum(axis=1), 1.0)
    assert (a.topics.max(axis=1) > 0.5).all()  # the main topic always dominates
    assert ((a.quality >= 0) & (a.quality <= 1)).all()


def test_description_is_written_from_the_main_topic():
    catalog = make_catalog(CatalogConfig(n_items=200), 3)
    for text, topics in zip(catalog.texts, catalog.topics, strict=True):
        heads = TOPICS[int(topics.argmax())][2]
        assert any(head in text for head in heads), text


def test_minilm_places_same_topic_texts_closer_than_other_topics(minilm):
    vectors = minilm.encode(
        [
            "Gritty detective thriller about a corrupt police precinct.",
            "Hard-boiled mafia saga set in 1970s Naples.",
            "Quick weeknight recipes for vegetarian pasta.",
            "Rustic family cookbook with seasonal vegetables.",
        ]
    )
    assert vectors.dtype == np.float32 and vectors.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > max(sim[0, 2], sim[0, 3])
    assert sim[2, 3] > max(sim[2, 0], sim[2, 1])


def test_minilm_catalog_embedding_carries_the_hidden_topics(default_catalog, default_vectors):
    main = default_catalog.topics.argmax(axis=1)
    sim = default_vectors @ default_vectors.T
    same = main[:, None] == main[None, :]
    np.fill_diagonal(same, False)
    other = main[:, None] != main[None, :]
    assert sim[same].mean() > sim[other].mean() + 0.2


def test_hashing_encoder_is_deterministic_normalised_and_zero_for_empty_text():
    encoder = HashingEncoder(dim=64)
    first = encoder.encode(["crime drama in Naples", "", "crime drama in Naples"])
    assert first.dtype == np.float32 and first.shape == (3, 64)
    assert np.array_equal(first[0], first[2])
    assert np.array_equal(first[0], HashingEncoder(dim=64).encode(["crime drama in Naples"])[0])
    np.testing.assert_allclose(np.linalg.norm(first[0]), 1.0, rtol=1e-6)
    assert not first[1].any()


class CountingEncoder(HashingEncoder):
    def __init__(self):
        super().__init__(dim=32)
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        return super().encode(texts)


def test_cache_encodes_a_text_list_once_per_model(tmp_path):
    inner = CountingEncoder()
    cached = CachedEncoder(inner, tmp_path)
    texts = ["a", "b c"]
    first = cached.encode(texts)
    again = CachedEncoder(inner, tmp_path).encode(texts)  # a new process would do the same
    assert inner.calls == 1 and np.array_equal(first, again)
    cached.encode(["a", "b d"])
    assert inner.calls == 2
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_corrupt_cache_entry_is_re_encoded(tmp_path):
    inner = CountingEncoder()
    cached = CachedEncoder(inner, tmp_path)
    cached.path_for(["x"]).parent.mkdir(parents=True)
    cached.path_for(["x"]).write_bytes(b"not an npy file")
    assert cached.encode(["x"]).shape == (1, 32)
    assert inner.calls == 1


def test_bad_encoder_and_texts_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="encoder must be 'minilm', 'hashing' or a local"):
        make_encoder(str(tmp_path / "missing"))
    with pytest.raises(TypeError, match=r"texts\[1\] must be str, got int 3"):
        HashingEncoder().encode(["ok", 3])
    with pytest.raises(TypeError, match="texts must be a sequence of str, got str"):
        HashingEncoder().encode("one string")


def test_any_local_model_directory_loads_by_path(minilm, tmp_path):
    from adaptrec.core.encoders import bundled_minilm_path

    by_path = make_encoder(str(bundled_minilm_path()), tmp_path)
    texts = ["A tense heist film.", "Easy family cookbook."]
    np.testing.assert_allclose(by_path.encode(texts), minilm.encode(texts), atol=1e-6)


def test_cached_vectors_are_keyed_by_torch_threads_and_cpu_kernels(minilm, tmp_path):
    # Torch's float sums depend on its thread count and CPU kernels; a cache that ignored them
    # would hand a --threads 1 run the vectors of a --threads 2 run (or of another machine).
    from adaptrec.core.encoders import CachedEncoder, HashingEncoder
    from adaptrec.rollout import torch_threads

    texts = ["a short text", "another one"]
    with torch_threads(1):
        one = minilm.path_for(texts)
    with torch_threads(2):
        two = minilm.path_for(texts)
    assert one != two
    hashing = CachedEncoder(HashingEncoder(), tmp_path)
    with torch_threads(1):
        first = hashing.path_for(texts)
    with torch_threads(2):
        assert hashing.path_for(texts) == first  # no torch in hashing: threads do not matter


def test_a_texts_word_is_drawn_as_rng_choice_draws_it():
    # Catches: a faster pick that consumes the stream differently from Generator.choice (every
    # synthetic item text, and so every MiniLM vector and README figure, would change).
    from adaptrec.core.catalog import TOPICS, _pick

    for seed in range(5):
        ours, numpy_s = np.random.default_rng(seed), np.random.default_rng(seed)
        for topic in TOPICS:
            for options in topic[1:]:
                assert _pick(ours, options) == numpy_s.choice(options)
