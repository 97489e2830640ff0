"""The shared rate budget as clients use it: one budget per key, whatever the number of clients."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from common.adapters.local.memory_budget import MemoryRateBudgetStore
from common.errors import TransientError
from common.llm.budget import LeasePolicy, RateBudget, budget_for
from common.llm.client import LLMClient
from common.llm.config import RateLimits
from common.llm.keys import KeyPool, fingerprint
from common.ports.ratebudget import BucketSpec, BucketState, Grant
from common.settings import Settings
from tests.unit.test_llm_client import KEY_A, KEY_B, ScriptedProvider, request


def client(budget: RateBudget, provider: ScriptedProvider, keys: list[str], **limits: object):
    return LLMClient(
        provider,
        limits=RateLimits(**{"retries": 0, "timeout_seconds": 5, **limits}),
        keys=KeyPool(keys),
        budget=budget,
    )


def run_in_threads(*jobs) -> None:
    """Each job on its own thread and event loop, as shards of one instance run."""
    threads = [threading.Thread(target=lambda j=j: asyncio.run(j())) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_clients_of_two_processes_share_one_budget_per_key() -> None:
    """Two "processes" (budgets) with two clients each: 20/s in all, not 20/s per client."""
    store = MemoryRateBudgetStore()
    provider = ScriptedProvider()
    clients = [
        client(RateBudget(store), provider, [KEY_A], rpm=1200, concurrency=8) for _ in range(4)
    ]
    started = time.monotonic()
    run_in_threads(*(lambda c=c: c.complete_many([request(i) for i in range(15)]) for c in clients))
    elapsed = time.monotonic() - started
    # 60 calls at 20 a second from a full bucket of 20: at least 2 s; without sharing, 0.
    assert len(provider.calls) == 60
    assert elapsed >= (60 - 20) / 20 - 0.1
    assert elapsed < 6


def test_each_key_has_its_own_budget() -> None:
    store = MemoryRateBudgetStore()
    budget = RateBudget(store)
    provider = ScriptedProvider()
    llm = client(budget, provider, [KEY_A, KEY_B], rpm=600, concurrency=4)
    asyncio.run(llm.complete_many([request(i) for i in range(16)]))
    ids = {fingerprint(KEY_A), fingerprint(KEY_B)}
    assert {b.split(".")[1] for b in budget.stats()} == ids
    assert all(s["spent"] == 8 for s in budget.stats().values())
    assert {f"scripted.{i}.rpm" for i in ids} == set(budget.stats())


def test_tpm_takes_the_estimate_and_a_large_request_passes_alone() -> None:
    budget = RateBudget(MemoryRateBudgetStore())
    provider = ScriptedProvider()
    llm = client(budget, provider, [KEY_A], tpm=600, concurrency=2)  # 10 tokens a second
    llm.count_tokens = len
    asyncio.run(llm.complete(request(0, user="x" * 5000)))  # more than the bucket: cut to it
    stats = budget.stats()[f"scripted.{fingerprint(KEY_A)}.tpm"]
    assert stats["spent"] == 10


class FailingStore:
    def __init__(self) -> None:
        self.calls = 0

    def lease(self, spec: BucketSpec, *, want: float, minimum: float, now: float) -> Grant:
        self.calls += 1
        raise TransientError("firestore unavailable")

    def peek(self, bucket_id: str) -> BucketState | None:
        return None


def test_a_failing_store_falls_back_to_a_local_share_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FailingStore()
    budget = RateBudget(store, policy=LeasePolicy(fallback_share=0.5, fallback_s=60))
    provider = ScriptedProvider()
    llm = client(budget, provider, [KEY_A], rpm=240, concurrency=4)  # 4/s; fallback 2/s
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="common.llm.budget"):
        asyncio.run(llm.complete_many([request(i) for i in range(7)]))
    elapsed = time.monotonic() - started
    assert len(provider.calls) == 7
    assert store.calls == 3  # one lease, retried by the one policy, then left alone
    # A full bucket of 4, then 2 a second: 3 more take 1.5 s.
    assert elapsed >= 1.5 - 0.1
    (record,) = [r for r in caplog.records if "budget store failed" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "50% of scripted." in record.getMessage()


def test_leases_are_chunks_not_one_round_trip_per_call() -> None:
    store = MemoryRateBudgetStore()
    budget = RateBudget(store)
    llm = client(budget, ScriptedProvider(), [KEY_A], rpm=6000, concurrency=8)  # 100/s
    asyncio.run(llm.complete_many([request(i) for i in range(300)]))
    stats = budget.stats()[f"scripted.{fingerprint(KEY_A)}.rpm"]
    assert stats["spent"] == 300
    assert stats["leases"] <= 300 / 25  # leases of at least half a second's worth


def test_budget_for_follows_the_settings(tmp_path) -> None:
    local = Settings(backend="local", state_db=tmp_path / "state.sqlite")
    assert budget_for(local) is budget_for(local)
    assert budget_for(Settings(backend="local", llm_rate_budget="process")) is None
    assert not (tmp_path / "state.sqlite").exists()  # opened on first use only
