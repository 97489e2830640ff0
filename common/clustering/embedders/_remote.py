"""Batched, rate-limited, retried calls to a remote embedding API.

The same discipline as `common.llm.client.LLMClient`, for batches of texts
instead of generations: a concurrency slot (``limits.concurrency``), one
request from the RPM leaky bucket, a key from the `KeyPool` (round-robin over
keys not cooling down), and `RateLimited` / `ProviderUnavailable` retried up to
``limits.retries`` times under the project's one retry policy
(`common.retry.Backoff`: exponential backoff with full jitter); a 429 puts the
key in cooldown for the server's Retry-After. `ProviderRejected` is never
retried. Subclasses implement one call (`RemoteEmbedder._call`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from tenacity import RetryCallState

from common.llm.client import rpm_limiter
from common.llm.config import RateLimits
from common.llm.keys import KeyPool
from common.llm.providers.base import ProviderUnavailable, RateLimited
from common.retry import Backoff

log = logging.getLogger(__name__)
RETRYABLE = (RateLimited, ProviderUnavailable)


@dataclass
class RemoteStats:
    """Counters of one embedder."""

    calls: int = 0
    """Batches asked for."""
    attempts: int = 0
    """Requests sent (calls + retries)."""
    retries: int = 0
    throttled: int = 0
    unavailable: int = 0
    texts: int = 0


class RemoteEmbedder:
    """Base of the HTTP embedders: batching, limits, retries and key rotation."""

    provider = "remote"

    def __init__(
        self,
        *,
        model: str,
        dimensions: int | None,
        batch_size: int,
        limits: RateLimits,
        keys: KeyPool,
    ) -> None:
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.limits = limits
        self.keys = keys
        self._stats = RemoteStats()
        self._backoff = Backoff(
            attempts=limits.retries + 1,
            initial_s=limits.backoff_initial_seconds,
            max_s=limits.backoff_max_seconds,
            retry_on=RETRYABLE,
        )

    async def _call(self, texts: list[str], api_key: str | None) -> list[list[float]]:
        """One request: the vectors of ``texts``, in order.

        Raises:
            RateLimited / ProviderUnavailable: worth retrying.
            ProviderRejected: never retried.
        """
        raise NotImplementedError

    async def _open(self) -> None:
        """Prepare clients on the running loop."""

    async def _close(self) -> None:
        """Release what `_open` created."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """All ``texts`` in batches of ``batch_size``, concurrently within the limits."""
        if not texts:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        batches = [
            list(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        rows = asyncio.run(self._embed_all(batches))
        self._stats.texts += len(texts)
        return np.asarray([v for batch in rows for v in batch], dtype=np.float32)

    def stats(self) -> dict[str, Any]:
        """Calls, attempts, retries, throttled, unavailable, texts."""
        return asdict(self._stats)

    async def _embed_all(self, batches: list[list[str]]) -> list[list[list[float]]]:
        semaphore = asyncio.Semaphore(self.limits.concurrency)
        rpm = rpm_limiter(self.limits.rpm) if self.limits.rpm else None
        await self._open()
        try:
            return list(await asyncio.gather(*(self._batch(b, semaphore, rpm) for b in batches)))
        finally:
            await self._close()

    async def _batch(
        self, texts: list[str], semaphore: asyncio.Semaphore, rpm: Any
    ) -> list[list[float]]:
        self._stats.calls += 1
        async for attempt in self._backoff.async_retrying(before_sleep=self._on_retry):
            with attempt:
                return await self._attempt(texts, semaphore, rpm, attempt.retry_state)
        raise AssertionError("tenacity ended without a result")  # pragma: no cover

    async def _attempt(
        self, texts: list[str], semaphore: asyncio.Semaphore, rpm: Any, state: RetryCallState
    ) -> list[list[float]]:
        async with semaphore:
            if rpm is not None:
                await rpm.acquire(1)
            while True:
                choice = self.keys.pick()
                if choice.wait_s <= 0:
                    break
                await asyncio.sleep(choice.wait_s)
            self._stats.attempts += 1
            try:
                async with asyncio.timeout(self.limits.timeout_seconds):
                    vectors = await self._call(texts, choice.key)
            except TimeoutError as err:
                self._stats.unavailable += 1
                raise ProviderUnavailable(
                    f"{self.provider}: no answer within {self.limits.timeout_seconds:g} s",
                    where=f"key {choice.key_id}",
                ) from err
            except RateLimited as err:
                self._stats.throttled += 1
                cap = self._backoff.ceiling(state.attempt_number - 1)
                self.keys.cooldown(
                    choice.key_id, err.retry_after if err.retry_after is not None else cap
                )
                raise
            except ProviderUnavailable:
                self._stats.unavailable += 1
                raise
        if len(vectors) != len(texts):
            raise ProviderUnavailable(
                f"{self.provider}: {len(vectors)} vectors for {len(texts)} texts",
                where=f"model {self.model}",
            )
        return vectors

    def _on_retry(self, state: RetryCallState) -> None:
        self._stats.retries += 1
        err = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "embedding retry %d/%d after %s: %s",
            state.attempt_number,
            self.limits.retries,
            type(err).__name__,
            err,
            extra={"fields": {"provider": self.provider, "model": self.model}},
        )
