"""The remote embedders retry under the project's one policy (`common.retry.Backoff`)."""

from __future__ import annotations

import pytest

from common.clustering.embedders._remote import RemoteEmbedder
from common.llm.config import RateLimits
from common.llm.keys import KeyPool
from common.llm.providers.base import ProviderRejected, ProviderUnavailable, RateLimited


class Scripted(RemoteEmbedder):
    """Fails with the scripted errors, in order, then answers one vector per text."""

    provider = "scripted"

    def __init__(self, errors: list[Exception], retries: int) -> None:
        super().__init__(
            model="m",
            dimensions=2,
            batch_size=10,
            limits=RateLimits(
                retries=retries, backoff_initial_seconds=0.001, backoff_max_seconds=0.002
            ),
            keys=KeyPool(["k1", "k2"]),
        )
        self.errors = list(errors)
        self.keys_used: list[str | None] = []

    async def _call(self, texts: list[str], api_key: str | None) -> list[list[float]]:
        self.keys_used.append(api_key)
        if self.errors:
            raise self.errors.pop(0)
        return [[float(len(t)), 1.0] for t in texts]


def test_throttling_and_outages_are_retried_then_the_vectors_come_back() -> None:
    embedder = Scripted(
        [RateLimited("429", retry_after=0.001), ProviderUnavailable("503")], retries=2
    )
    vectors = embedder.embed(["a", "bb"])
    assert vectors.tolist() == [[1.0, 1.0], [2.0, 1.0]]
    stats = embedder.stats()
    assert (stats["calls"], stats["attempts"], stats["retries"]) == (1, 3, 2)
    assert (stats["throttled"], stats["unavailable"]) == (1, 1)
    assert embedder.keys_used[1] != embedder.keys_used[0]  # the throttled key cools down


def test_retries_stop_after_limits_retries_and_the_last_error_is_raised() -> None:
    embedder = Scripted([ProviderUnavailable(f"503 #{i}") for i in range(5)], retries=2)
    with pytest.raises(ProviderUnavailable, match="503 #2"):
        embedder.embed(["a"])
    assert embedder.stats()["attempts"] == 3


def test_a_rejection_is_never_retried() -> None:
    embedder = Scripted([ProviderRejected("400 bad model")], retries=5)
    with pytest.raises(ProviderRejected):
        embedder.embed(["a"])
    assert embedder.stats()["attempts"] == 1
