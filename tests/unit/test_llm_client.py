"""LLMClient: limits, retries, key rotation, stats.

Most tests drive a scripted in-process provider, so they are exact and fast;
the concurrency bound is checked where it matters, at a real HTTP server.
Times are read from the event loop's clock and only as lower bounds (what a
limiter or a Retry-After guarantees), never as "this took less than".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from common.llm.client import LLMClient, approx_tokens, rpm_limiter
from common.llm.config import RateLimits
from common.llm.keys import KeyPool, fingerprint
from common.llm.providers.base import (
    LLMRequest,
    LLMResponse,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from common.llm.providers.openai_provider import OpenAIProvider
from tests.support import llm_fixtures
from tests.support.fake_llm import FakeLLM

fake_llm = llm_fixtures.fake_llm  # until the root conftest registers tests.support.llm_fixtures

KEY_A = "sk-test-key-alpha-01"
KEY_B = "sk-test-key-bravo-02"
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
TOLERANCE = 0.02  # loop timers may fire up to the clock resolution early


def request(i: int = 0, *, user: str = "hello", max_output_tokens: int = 16) -> LLMRequest:
    return LLMRequest(
        system="sys",
        user=f"{user} #{i}",
        json_schema=SCHEMA,
        model="test-model",
        max_output_tokens=max_output_tokens,
        metadata={"lead_key": f"LEAD-{i}"},
    )


Step = Callable[[LLMRequest, str | None], Awaitable[LLMResponse]]


@dataclass
class Call:
    at: float
    key: str | None
    user: str


@dataclass
class ScriptedProvider:
    """Answers ``{"ok": true}`` unless the next scripted step says otherwise."""

    name: str = "scripted"
    script: list[Exception | float] = field(default_factory=list)
    """Per attempt, in order: an exception to raise, or seconds to sleep before answering."""
    calls: list[Call] = field(default_factory=list)
    closed: bool = False

    async def generate(self, req: LLMRequest, *, api_key: str | None) -> LLMResponse:
        self.calls.append(Call(asyncio.get_running_loop().time(), api_key, req.user))
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Exception):
            raise step
        if isinstance(step, float):
            await asyncio.sleep(step)
        return LLMResponse('{"ok": true}', input_tokens=10, output_tokens=3, model=req.model)

    async def aclose(self) -> None:
        self.closed = True


def make_client(
    provider: ScriptedProvider | OpenAIProvider,
    keys: list[str] | None = None,
    **limits: object,
) -> LLMClient:
    return LLMClient(
        provider,
        limits=RateLimits(**{"retries": 3, "timeout_seconds": 5, **limits}),
        keys=KeyPool(keys if keys is not None else [KEY_A]),
        backoff_initial=0.01,
        backoff_max=0.05,
    )


# --- success and stats ----------------------------------------------------------------


def test_complete_returns_the_answer_and_counts_usage() -> None:
    provider = ScriptedProvider()
    client = make_client(provider)
    response = asyncio.run(client.complete(request()))
    assert response.text == '{"ok": true}'
    stats = client.stats
    assert (stats.calls, stats.attempts, stats.retries, stats.failed) == (1, 1, 0, 0)
    assert (stats.input_tokens, stats.output_tokens) == (10, 3)
    assert len(stats.latencies) == 1
    assert stats.as_dict()["latency_p50_s"] >= 0
    assert provider.calls[0].key == KEY_A


def test_the_client_works_across_successive_event_loops() -> None:
    # The summarize step calls asyncio.run once per batch with the same client.
    provider = ScriptedProvider()
    client = make_client(provider, rpm=6000, tpm=1_000_000, concurrency=2)
    for _ in range(3):
        results = asyncio.run(client.complete_many([request(i) for i in range(4)]))
        assert all(isinstance(r, LLMResponse) for r in results)
    assert client.stats.calls == 12


def test_aclose_closes_the_provider() -> None:
    provider = ScriptedProvider()
    asyncio.run(make_client(provider).aclose())
    assert provider.closed


# --- retries ---------------------------------------------------------------------------


def test_unavailable_is_retried_until_success() -> None:
    provider = ScriptedProvider(script=[ProviderUnavailable("500"), ProviderUnavailable("503")])
    client = make_client(provider)
    assert asyncio.run(client.complete(request())).text == '{"ok": true}'
    assert (client.stats.attempts, client.stats.retries, client.stats.unavailable) == (3, 2, 2)
    assert client.stats.failed == 0


def test_rejected_is_not_retried() -> None:
    provider = ScriptedProvider(script=[ProviderRejected("401 bad key")])
    client = make_client(provider)
    with pytest.raises(ProviderRejected):
        asyncio.run(client.complete(request()))
    assert (client.stats.attempts, client.stats.retries) == (1, 0)
    assert (client.stats.rejected, client.stats.failed) == (1, 1)


def test_retries_are_bounded_and_the_last_error_is_raised() -> None:
    provider = ScriptedProvider(script=[ProviderUnavailable(f"down {i}") for i in range(10)])
    client = make_client(provider, retries=2)
    with pytest.raises(ProviderUnavailable, match="down 2"):
        asyncio.run(client.complete(request()))
    assert (client.stats.attempts, client.stats.retries, client.stats.failed) == (3, 2, 1)


def test_a_slow_call_times_out_and_is_retried() -> None:
    provider = ScriptedProvider(script=[5.0])
    client = make_client(provider, timeout_seconds=0.1)
    assert asyncio.run(client.complete(request())).text == '{"ok": true}'
    assert (client.stats.timeouts, client.stats.attempts) == (1, 2)


def test_timeouts_exhausting_retries_raise_provider_unavailable() -> None:
    provider = ScriptedProvider(script=[5.0, 5.0])
    client = make_client(provider, timeout_seconds=0.05, retries=1)
    with pytest.raises(ProviderUnavailable, match="no answer within 0.05 s"):
        asyncio.run(client.complete(request()))


def test_retry_after_is_honoured_with_a_single_key() -> None:
    provider = ScriptedProvider(script=[RateLimited("429", retry_after=0.3)])
    client = make_client(provider)
    asyncio.run(client.complete(request()))
    first, second = provider.calls
    assert second.at - first.at >= 0.3 - TOLERANCE
    assert client.stats.throttled == 1


def test_retry_after_is_honoured_without_keys() -> None:
    provider = ScriptedProvider(script=[RateLimited("429", retry_after=0.2)])
    client = make_client(provider, keys=[])
    asyncio.run(client.complete(request()))
    first, second = provider.calls
    assert first.key is None and second.key is None
    assert second.at - first.at >= 0.2 - TOLERANCE


def test_a_throttled_key_cools_down_and_the_retry_uses_the_other_key() -> None:
    provider = ScriptedProvider(script=[RateLimited("429", retry_after=30)])
    client = make_client(provider, keys=[KEY_A, KEY_B])
    asyncio.run(client.complete(request()))
    assert [c.key for c in provider.calls] == [KEY_A, KEY_B]
    # The other key served at once: no 30 s wait, and KEY_A stays out of rotation.
    assert provider.calls[1].at - provider.calls[0].at < 30
    assert set(client.keys.cooling()) == {fingerprint(KEY_A)}
    asyncio.run(client.complete(request(1)))
    assert provider.calls[-1].key == KEY_B


def test_retries_are_logged_with_the_key_id_never_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    provider = ScriptedProvider(
        script=[RateLimited("429", retry_after=0), ProviderUnavailable("x")]
    )
    client = make_client(provider, keys=[KEY_A, KEY_B])
    asyncio.run(client.complete(request(7)))
    retries = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "llm_retry"]
    assert len(retries) == 2
    fields = retries[0].fields  # type: ignore[attr-defined]
    assert fields["key_id"] == fingerprint(KEY_A)
    assert fields["lead_key"] == "LEAD-7"
    assert fields["error"] == "RateLimited"
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert KEY_A not in text and KEY_B not in text


# --- complete_many ---------------------------------------------------------------------


def test_complete_many_returns_answers_and_errors_in_order() -> None:
    provider = ScriptedProvider(script=[ProviderRejected("no")])
    client = make_client(provider, concurrency=1)
    results = asyncio.run(client.complete_many([request(i) for i in range(3)]))
    assert isinstance(results[0], ProviderRejected)
    assert all(isinstance(r, LLMResponse) for r in results[1:])
    assert [c.user for c in provider.calls] == ["hello #0", "hello #1", "hello #2"]


# --- limiters --------------------------------------------------------------------------


def test_rpm_limiter_bursts_at_most_one_second_of_requests() -> None:
    limiter = rpm_limiter(120)
    assert (limiter.max_rate, limiter.time_period) == (2, 1)
    slow = rpm_limiter(30)
    assert (slow.max_rate, slow.time_period) == (1, 2)


def test_rpm_spreads_calls_in_submission_order() -> None:
    provider = ScriptedProvider()
    client = make_client(provider, rpm=120, concurrency=10)
    asyncio.run(client.complete_many([request(i) for i in range(10)]))
    # Acquisitions are FIFO: calls reach the provider in the order they were made.
    assert [c.user for c in provider.calls] == [f"hello #{i}" for i in range(10)]
    # A bucket of two (one second of 120 rpm): two go at once, eight wait...
    assert client.stats.limiter_waits == 8
    starts = [c.at - provider.calls[0].at for c in provider.calls]
    assert starts[1] < 0.25
    # ...and each of those is at least 60/120 s after the previous one.
    gaps = [b - a for a, b in zip(starts[1:], starts[2:], strict=False)]
    assert min(gaps) >= 0.5 - TOLERANCE
    assert starts[-1] >= 8 * 0.5 - TOLERANCE


def test_tpm_holds_a_call_until_enough_tokens_have_leaked() -> None:
    provider = ScriptedProvider()
    client = make_client(provider, tpm=6000, concurrency=2)  # 100 tokens per second
    client.count_tokens = len  # one token per character, to make the sizes exact
    big = request(0, user="x" * 20_000)  # more than the bucket: clamped to 6000
    small = request(1, user="y" * 10)
    assert client.estimate_tokens(big) > 6000
    needed = client.estimate_tokens(small)

    async def run() -> None:
        await client.complete(big)
        await client.complete(small)

    asyncio.run(run())
    assert client.stats.limiter_waits == 1
    assert provider.calls[1].at - provider.calls[0].at >= needed / 100 - TOLERANCE


def test_estimate_counts_prompt_schema_and_output_cap() -> None:
    client = make_client(ScriptedProvider())
    req = request(max_output_tokens=100)
    assert client.estimate_tokens(req) == (
        approx_tokens(req.system)
        + approx_tokens(req.user)
        + approx_tokens('{"type":"object","properties":{"ok":{"type":"boolean"}}}')
        + 100
    )


def test_concurrency_bound_holds_at_the_server(fake_llm: FakeLLM) -> None:
    fake_llm.latency_s = 0.1
    provider = OpenAIProvider(base_url=fake_llm.openai_base_url, timeout=5)
    client = make_client(provider, concurrency=3)

    async def run() -> list[LLMResponse | Exception]:
        try:
            return await client.complete_many([request(i) for i in range(12)])
        finally:
            await client.aclose()

    results = asyncio.run(run())
    assert all(isinstance(r, LLMResponse) for r in results)
    assert fake_llm.count == 12
    assert fake_llm.max_in_flight <= 3
    assert fake_llm.max_in_flight >= 2  # the calls did overlap: the bound was exercised
    assert client.stats.max_in_flight <= 3
