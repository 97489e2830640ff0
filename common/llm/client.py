"""The rate-limited, retrying LLM client that every caller goes through.

One `LLMClient` wraps one provider and one `KeyPool`. Each attempt:

1. takes a concurrency slot (``limits.concurrency``),
2. takes one request from the RPM limiter and the estimated tokens from the
   TPM limiter, and picks a key (round-robin over healthy keys; when all are
   cooling down it sleeps until the first one is usable again),
3. calls the provider under ``asyncio.timeout(limits.timeout_seconds)``.

With a shared `RateBudget` (`common.llm.budget`, what `build_client` gives),
``rpm`` / ``tpm`` are each key's limits for the whole deployment: the key is
picked first, then one request and the estimated tokens are taken from that
key's shared buckets, which every client of every process leases from.
Without one, each client keeps its own `aiolimiter.AsyncLimiter` leaky buckets
(limits of this client alone, over all its keys).

`RateLimited` and `ProviderUnavailable` are retried up to ``limits.retries``
times with exponential backoff and full jitter; a 429 also puts the throttled
key in cooldown for the server's Retry-After (or the backoff delay), so the
retry goes to another key at once when there is one, and waits at least
Retry-After when there is not. `ProviderRejected` is never retried.

The RPM bucket holds at most one second of requests (``rpm / 60``, at least
one), so calls are spread over the minute instead of bursting ``rpm`` at once,
which providers measure at a finer grain and would answer with 429s.

Asyncio primitives belong to one event loop and callers may use the client
from successive ``asyncio.run`` calls, so the semaphore and the limiters are
kept per loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter
from tenacity import RetryCallState

from common.llm.budget import RateBudget
from common.llm.config import RateLimits
from common.llm.keys import KeyChoice, KeyPool
from common.llm.providers.base import (
    LLMRequest,
    LLMResponse,
    Provider,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from common.observability.tracing import span
from common.retry import Backoff

log = logging.getLogger(__name__)

RETRYABLE = (RateLimited, ProviderUnavailable)


def approx_tokens(text: str) -> int:
    """A cheap token estimate (about four characters per token) when no tokenizer is given."""
    return len(text) // 4 + 1


def rpm_limiter(rpm: int) -> AsyncLimiter:
    """A leaky bucket for ``rpm`` requests per minute that bursts at most one second's worth.

    ``AsyncLimiter(rpm, 60)`` would let ``rpm`` calls through at once; this one
    holds ``max(1, rpm / 60)`` and refills at ``rpm / 60`` per second.
    """
    capacity = max(1.0, rpm / 60.0)
    return AsyncLimiter(capacity, capacity * 60.0 / rpm)


def tpm_limiter(tpm: int) -> AsyncLimiter:
    """A leaky bucket for ``tpm`` tokens per minute (capacity ``tpm``)."""
    return AsyncLimiter(tpm, 60.0)


@dataclass
class LLMStats:
    """Counters of one client, for run documents, logs and tests."""

    calls: int = 0
    """`LLMClient.complete` calls."""
    attempts: int = 0
    """Requests sent to the provider (calls + retries)."""
    retries: int = 0
    throttled: int = 0
    """429 answers."""
    unavailable: int = 0
    """5xx answers, connection failures and timeouts."""
    timeouts: int = 0
    """Attempts cut by ``limits.timeout_seconds``."""
    rejected: int = 0
    """Terminal refusals (bad request, key, model)."""
    failed: int = 0
    """Calls that ended in an error (after any retries)."""
    input_tokens: int = 0
    output_tokens: int = 0
    limiter_waits: int = 0
    """Acquisitions that had to wait for the RPM or TPM limiter."""
    max_in_flight: int = 0
    """Most provider calls in flight at once."""
    latencies: list[float] = field(default_factory=list)
    """Seconds of each successful provider call."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, with latency percentiles instead of the raw list."""
        data = asdict(self)
        lat = sorted(data.pop("latencies"))
        if lat:
            data["latency_p50_s"] = round(lat[len(lat) // 2], 4)
            data["latency_p95_s"] = round(lat[min(len(lat) - 1, int(len(lat) * 0.95))], 4)
        return data


@dataclass
class _LoopState:
    semaphore: asyncio.Semaphore
    rpm: AsyncLimiter | None
    tpm: AsyncLimiter | None


@dataclass
class _CallState:
    key_id: str = ""


class LLMClient:
    """Bounded, rate-limited, retrying access to one provider."""

    def __init__(
        self,
        provider: Provider,
        *,
        limits: RateLimits,
        keys: KeyPool,
        count_tokens: Callable[[str], int] | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        budget: RateBudget | None = None,
    ) -> None:
        """Wrap ``provider``.

        Args:
            provider: Where requests go.
            limits: Concurrency, RPM, TPM, retries and per-call timeout.
            keys: The API keys to rotate through (may be keyless).
            count_tokens: Token counter for the TPM estimate; defaults to `approx_tokens`.
            backoff_initial: Upper bound of the first retry's random wait, in seconds;
                it doubles with each retry (full jitter).
            backoff_max: Largest upper bound of a retry's random wait, in seconds.
            budget: Shared per-key buckets for ``limits.rpm`` / ``limits.tpm`` (None: this
                client's own in-process limiters).
        """
        self.provider = provider
        self.limits = limits
        self.keys = keys
        self.count_tokens = count_tokens or approx_tokens
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.budget = budget
        self.stats = LLMStats()
        self._in_flight = 0
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self.retry_policy = Backoff(
            attempts=limits.retries + 1,
            initial_s=backoff_initial,
            max_s=backoff_max,
            retry_on=RETRYABLE,
        )
        """The project's retry policy (`common.retry`): RETRYABLE errors, full jitter. A 429's
        Retry-After rests the key (`KeyPool.cooldown`) instead of lengthening the wait."""

    # --- public -------------------------------------------------------------------

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """One structured generation, with limits, retries and key rotation.

        Raises:
            ProviderRejected: The provider refused the request (not retried).
            RateLimited: Still throttled after ``limits.retries`` retries.
            ProviderUnavailable: Still failing (5xx, timeout) after the retries.
        """
        self.stats.calls += 1
        state = _CallState()
        retrying = self.retry_policy.async_retrying(
            before_sleep=lambda rs: self._on_retry(rs, request, state)
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(request, state, attempt.retry_state.attempt_number)
        except ProviderRejected as err:
            self.stats.failed += 1
            log.warning(
                "llm request rejected: %s",
                err,
                extra={"fields": self._fields(request, state, event="llm_rejected")},
            )
            raise
        except RETRYABLE as err:
            self.stats.failed += 1
            log.warning(
                "llm call failed after %d attempt(s): %s: %s",
                self.limits.retries + 1,
                type(err).__name__,
                err,
                extra={"fields": self._fields(request, state, event="llm_gave_up")},
            )
            raise
        except BaseException:
            self.stats.failed += 1
            raise
        raise AssertionError("tenacity ended without a result")  # pragma: no cover

    async def complete_many(self, requests: Sequence[LLMRequest]) -> list[LLMResponse | Exception]:
        """`complete` every request concurrently; each slot is a response or its error.

        Cancellation and interpreter exits (BaseExceptions that are not
        Exceptions) are re-raised, not returned.
        """
        results = await asyncio.gather(
            *(self.complete(r) for r in requests), return_exceptions=True
        )
        out: list[LLMResponse | Exception] = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
            out.append(result)
        return out

    async def aclose(self) -> None:
        """Release the provider's connections on the running loop."""
        await self.provider.aclose()

    # --- one attempt ----------------------------------------------------------------

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            local = self.budget is None
            state = _LoopState(
                semaphore=asyncio.Semaphore(self.limits.concurrency),
                rpm=rpm_limiter(self.limits.rpm) if local and self.limits.rpm else None,
                tpm=tpm_limiter(self.limits.tpm) if local and self.limits.tpm else None,
            )
            self._loops[loop] = state
        return state

    async def _choose_key(self) -> KeyChoice:
        while True:
            choice = self.keys.pick()
            if choice.wait_s <= 0:
                return choice
            await asyncio.sleep(choice.wait_s)

    def estimate_tokens(self, request: LLMRequest) -> int:
        """Tokens one attempt of ``request`` may use: prompt, schema and the output cap."""
        schema = json.dumps(request.json_schema, separators=(",", ":"))
        prompt = self.count_tokens(request.system) + self.count_tokens(request.user)
        return prompt + self.count_tokens(schema) + request.max_output_tokens

    async def _acquire(self, limiter: AsyncLimiter, amount: float) -> None:
        if not limiter.has_capacity(amount):
            self.stats.limiter_waits += 1
        await limiter.acquire(amount)

    async def _attempt(self, request: LLMRequest, state: _CallState, number: int) -> LLMResponse:
        loop_state = self._loop_state()
        async with loop_state.semaphore:
            if self.budget is not None and (self.limits.rpm or self.limits.tpm):
                # Per-key budgets: the key first, then its buckets. A key throttled
                # while this call waited for its budget still gets this one call.
                choice = await self._choose_key()
                tokens = self.estimate_tokens(request)
                if self.limits.tpm:
                    tokens = min(tokens, self.limits.tpm)
                if await self.budget.acquire(
                    self.provider.name,
                    choice.key_id,
                    rpm=self.limits.rpm,
                    tpm=self.limits.tpm,
                    tokens=tokens,
                ):
                    self.stats.limiter_waits += 1
                state.key_id = choice.key_id
                return await self._call(request, choice, number)
            if loop_state.rpm is not None:
                await self._acquire(loop_state.rpm, 1)
            if loop_state.tpm is not None:
                amount = min(self.estimate_tokens(request), loop_state.tpm.max_rate)
                await self._acquire(loop_state.tpm, amount)
            # The key is picked last, right before sending: a call that queued
            # behind the semaphore must not use a key that was throttled meanwhile.
            choice = await self._choose_key()
            state.key_id = choice.key_id
            return await self._call(request, choice, number)

    async def _call(self, request: LLMRequest, choice: KeyChoice, number: int) -> LLMResponse:
        self.stats.attempts += 1
        self._in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        started = time.perf_counter()
        try:
            attributes = {
                "gen_ai.system": self.provider.name,
                "gen_ai.request.model": request.model,
                "llm.attempt": number,
                "llm.key_id": choice.key_id,
                "lead_key": request.metadata.get("lead_key"),
            }
            with span("llm.call", **attributes) as current:
                async with asyncio.timeout(self.limits.timeout_seconds):
                    response = await self.provider.generate(request, api_key=choice.key)
                if current is not None:
                    current.set_attribute("gen_ai.usage.input_tokens", response.input_tokens)
                    current.set_attribute("gen_ai.usage.output_tokens", response.output_tokens)
        except TimeoutError as err:
            self.stats.timeouts += 1
            self.stats.unavailable += 1
            raise ProviderUnavailable(
                f"{self.provider.name}: no answer within {self.limits.timeout_seconds:g} s",
                where=f"key {choice.key_id}",
            ) from err
        except RateLimited as err:
            self.stats.throttled += 1
            err.key_id = err.key_id or choice.key_id
            rest = err.retry_after if err.retry_after is not None else self._backoff_cap(number)
            self.keys.cooldown(choice.key_id, rest)
            raise
        except ProviderUnavailable:
            self.stats.unavailable += 1
            raise
        except ProviderRejected:
            self.stats.rejected += 1
            raise
        finally:
            self._in_flight -= 1
        self.stats.latencies.append(time.perf_counter() - started)
        self.stats.input_tokens += response.input_tokens
        self.stats.output_tokens += response.output_tokens
        return response

    def _backoff_cap(self, attempt_number: int) -> float:
        """The un-jittered backoff of an attempt: how long a throttled key rests by default."""
        return self.retry_policy.ceiling(attempt_number - 1)

    # --- logging --------------------------------------------------------------------

    def _fields(self, request: LLMRequest, state: _CallState, **extra: Any) -> dict[str, Any]:
        return {
            "provider": self.provider.name,
            "model": request.model,
            "key_id": state.key_id,
            **request.metadata,
            **extra,
        }

    def _on_retry(
        self, retry_state: RetryCallState, request: LLMRequest, state: _CallState
    ) -> None:
        self.stats.retries += 1
        outcome = retry_state.outcome
        err = outcome.exception() if outcome is not None else None
        sleep = retry_state.next_action.sleep if retry_state.next_action else 0.0
        retry_after = getattr(err, "retry_after", None)
        log.info(
            "llm retry %d/%d after %s on key %s: %s",
            retry_state.attempt_number,
            self.limits.retries,
            type(err).__name__,
            state.key_id,
            err,
            extra={
                "fields": self._fields(
                    request,
                    state,
                    event="llm_retry",
                    attempt=retry_state.attempt_number,
                    error=type(err).__name__,
                    retry_after_s=retry_after,
                    backoff_s=round(sleep, 3),
                )
            },
        )
