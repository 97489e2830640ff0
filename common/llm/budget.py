"""One rate budget per provider key, shared by every process of a deployment.

The recipe's ``rpm`` / ``tpm`` are each key's limits at the provider. Every
summarize shard builds its own `LLMClient`, and a deployment runs many shards
in many function instances, so a limiter inside one client would let N shards
send N times the rate. Instead each limit of each key is a token bucket in a
`RateBudgetStore` (Firestore on Google Cloud, the state DB's SQLite file
locally) that every process leases from in small chunks:

- a **lease** refills the stored bucket by the time elapsed (at the limit's
  rate, up to ``burst_s`` seconds of it) and takes between ``minimum`` and
  ``want`` tokens atomically (`common.ports.ratebudget.take`);
- the process spends leased tokens locally, with no round trip per call, and
  leases again when they run out; tokens it has not spent ``ttl_s`` after the
  lease expire (they are never handed back);
- ``want`` follows the process's demand (tokens waiting plus those spent in the
  last ``chunk_s``), at most ``chunk_s`` seconds of the rate; ``minimum`` is
  ``min_lease_s`` seconds of it (less when the demand is smaller), so a
  bucket grants at most ``1 / min_lease_s`` leases a second however many
  processes ask: 2 a second with the defaults;
- one lease per bucket is in flight per process; concurrent calls wait for it.

**Overshoot.** Every token spent was taken from the bucket at most ``ttl_s``
earlier, and the bucket never holds more than ``burst_s`` seconds of the rate,
so over any window of T seconds the deployment sends at most
``rate * (T + burst_s + ttl_s)`` plus one request's tokens: with the defaults
3.3% over the limit in any minute, and ``burst_s`` (1 s) over a whole run.

**When the store fails** (unreachable, too slow, contended) after the one
retry policy (`RETRY`), the bucket falls back for ``fallback_s`` to a local
bucket at ``fallback_share`` of the rate, logged as a warning; with the
default 0.1 and the deployment's 10 summarize instances at most the full
rate. Then it tries the store again.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tenacity import Retrying

from common.adapters.local.memory_budget import MemoryRateBudgetStore
from common.errors import TransientError
from common.ports.ratebudget import BucketSpec, Grant, RateBudgetStore
from common.retry import Backoff

if TYPE_CHECKING:
    from common.settings import Settings

log = logging.getLogger(__name__)

Kind = Literal["rpm", "tpm"]


LEASE_DEADLINE_S = 2.0
"""No retry starts this long after a lease's first attempt: the calls wait on the lease, so a
slow store falls back to the local share (`LeasePolicy.fallback_s`) instead."""
LEASE_BACKOFF = Backoff(
    attempts=3, initial_s=0.05, max_s=0.5, retry_on=TransientError, deadline_s=LEASE_DEADLINE_S
)
"""How a lease transaction is retried (`common.retry`): transient store errors, jittered."""


def _retrying() -> Retrying:
    """The retry policy of a lease: `LEASE_BACKOFF` (within `LEASE_DEADLINE_S`)."""
    return LEASE_BACKOFF.retrying()


RETRY = _retrying
"""Builds the retry policy of lease transactions (a fresh `Retrying` per lease)."""

# Leases block on a store round trip: they run on these threads, never on an
# event loop, and every loop of the process awaits the same futures.
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="llm-budget")


@dataclass(frozen=True)
class LeasePolicy:
    """How a process leases from the shared buckets (seconds are seconds of the limit's rate)."""

    burst_s: float = 1.0
    """Bucket capacity: the most the deployment may send at once after a pause."""
    chunk_s: float = 1.0
    """Largest lease."""
    min_lease_s: float = 0.5
    """Smallest lease under high demand: bounds leases per bucket to 1 / min_lease_s a second."""
    ttl_s: float = 1.0
    """Leased tokens unspent this long after their lease expire."""
    fallback_share: float = 0.1
    """Share of the rate a process uses alone while the store fails."""
    fallback_s: float = 30.0
    """How long a failed store is left alone before it is tried again."""


@dataclass
class BucketStats:
    """Counters of one process's use of one bucket."""

    leases: int = 0
    """Leases that granted tokens."""
    empty_leases: int = 0
    """Leases that found too few tokens and answered a wait."""
    granted: float = 0.0
    spent: float = 0.0
    expired: float = 0.0
    """Leased tokens that expired unspent."""
    fallback_leases: int = 0
    """Leases served by the local fallback while the store failed."""
    store_failures: int = 0


class SharedBucket:
    """One bucket as one process sees it: leased tokens on hand, spent without a round trip.

    Thread-safe, and usable from any number of event loops at once.
    """

    def __init__(
        self,
        store: RateBudgetStore,
        spec: BucketSpec,
        *,
        policy: LeasePolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.spec = spec
        self.policy = policy
        self.stats = BucketStats()
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = 0.0
        self._expires = 0.0
        self._waiting = 0.0
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        self._inflight: concurrent.futures.Future[float] | None = None
        self._not_before = 0.0
        self._fallback_until = 0.0
        self._fallback_store = MemoryRateBudgetStore()
        self._fallback_spec = BucketSpec(
            f"{spec.bucket_id}.fallback", spec.rate_per_s * policy.fallback_share, spec.capacity
        )

    @property
    def largest(self) -> float:
        """The most one acquisition may take (larger ones are cut to it)."""
        return float(max(1, math.floor(self.spec.capacity)))

    async def acquire(self, amount: float) -> bool:
        """Take ``amount`` tokens, leasing (and waiting) as needed.

        Returns:
            Whether the caller had to wait for tokens.
        """
        amount = float(min(max(1, math.ceil(amount)), self.largest))
        waited = False
        with self._lock:
            self._waiting += amount
        try:
            while True:
                if self._try_take(amount):
                    return waited
                # After an empty lease, nobody in this process asks again before the
                # store said tokens would be there: one read per wait, not one per caller.
                pause = self._not_before - self._clock()
                if pause <= 0:
                    future = self._lease_future(amount)
                    await asyncio.shield(asyncio.wrap_future(future))
                    if self._try_take(amount):
                        return waited
                    pause = self._not_before - self._clock()
                if pause > 0:
                    waited = True
                    await asyncio.sleep(pause)
        finally:
            with self._lock:
                self._waiting -= amount

    # --- local tokens ------------------------------------------------------------------

    def _try_take(self, amount: float) -> bool:
        with self._lock:
            now = self._clock()
            self._expire(now)
            if self._tokens + 1e-9 < amount:
                return False
            self._tokens -= amount
            self.stats.spent += amount
            self._recent.append((now, amount))
            return True

    def _expire(self, now: float) -> None:
        if self._tokens and now >= self._expires:
            self.stats.expired += self._tokens
            self._tokens = 0.0
        horizon = now - self.policy.chunk_s
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()

    def _sizes(self, amount: float) -> tuple[float, float]:
        """``want`` and ``minimum`` of the next lease for a caller needing ``amount``."""
        rate, policy = self.spec.rate_per_s, self.policy
        with self._lock:
            demand = self._waiting + sum(spent for _, spent in self._recent)
        largest = max(amount, min(self.largest, rate * policy.chunk_s))
        want = min(max(amount, demand), largest)
        minimum = min(max(amount, rate * policy.min_lease_s), want)
        return want, minimum

    # --- leases ------------------------------------------------------------------------

    def _lease_future(self, amount: float) -> concurrent.futures.Future[float]:
        with self._lock:
            if self._inflight is None or self._inflight.done():
                self._inflight = _EXECUTOR.submit(self._lease, amount)
            return self._inflight

    def _lease(self, amount: float) -> float:
        """Lease once (blocking); returns 0 after a grant, else the seconds to wait."""
        want, minimum = self._sizes(amount)
        grant = self._grant(want, minimum)
        with self._lock:
            now = self._clock()
            if not grant.granted:
                self.stats.empty_leases += 1
                # Jitter: processes told the same wait would all ask at the same moment.
                wait = grant.wait_s * random.uniform(1.0, 1.1) + random.uniform(0.0, 0.01)
                self._not_before = now + wait
                return wait
            self._expire(now)
            self._tokens += grant.granted
            self._expires = now + self.policy.ttl_s
            self.stats.leases += 1
            self.stats.granted += grant.granted
            return 0.0

    def _grant(self, want: float, minimum: float) -> Grant:
        if self._clock() < self._fallback_until:
            return self._local_grant(want, minimum)
        try:
            for attempt in RETRY():
                with attempt:
                    return self.store.lease(
                        self.spec, want=want, minimum=minimum, now=self._clock()
                    )
        except Exception as err:  # any store failure: fall back, never stop the calls
            self.stats.store_failures += 1
            self._fallback_until = self._clock() + self.policy.fallback_s
            log.warning(
                "llm rate budget store failed (%s: %s); this process uses %g%% of %s's rate "
                "on its own for %g s",
                type(err).__name__,
                err,
                self.policy.fallback_share * 100,
                self.spec.bucket_id,
                self.policy.fallback_s,
                extra={
                    "fields": {
                        "event": "llm_budget_fallback",
                        "bucket": self.spec.bucket_id,
                        "error": type(err).__name__,
                        "fallback_share": self.policy.fallback_share,
                        "fallback_s": self.policy.fallback_s,
                    }
                },
            )
            return self._local_grant(want, minimum)
        raise AssertionError("tenacity ended without a result")  # pragma: no cover

    def _local_grant(self, want: float, minimum: float) -> Grant:
        self.stats.fallback_leases += 1
        return self._fallback_store.lease(
            self._fallback_spec, want=want, minimum=minimum, now=self._clock()
        )


class RateBudget:
    """The shared buckets of one store, by (provider, key fingerprint, limit kind).

    One per store and process (`budget_for`): every `LLMClient` of the process
    spends the same leased tokens.
    """

    def __init__(
        self,
        store: RateBudgetStore | Callable[[], RateBudgetStore],
        *,
        policy: LeasePolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Buckets in ``store`` (or the store a factory builds on first use)."""
        self._store = store
        self.policy = policy or LeasePolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, float], SharedBucket] = {}

    @property
    def store(self) -> RateBudgetStore:
        """The store, built on first use (a recipe without limits never opens it)."""
        with self._lock:
            if callable(self._store):
                self._store = self._store()
            return self._store

    def bucket(self, provider: str, key_id: str, kind: Kind, per_minute: int) -> SharedBucket:
        """The bucket of ``provider``'s key ``key_id`` for its ``kind`` limit of ``per_minute``."""
        bucket_id = f"{provider}.{key_id}.{kind}"
        store = self.store
        with self._lock:
            found = self._buckets.get((bucket_id, per_minute))
            if found is None:
                rate = per_minute / 60.0
                spec = BucketSpec(bucket_id, rate, max(1.0, rate * self.policy.burst_s))
                found = SharedBucket(store, spec, policy=self.policy, clock=self._clock)
                self._buckets[(bucket_id, per_minute)] = found
            return found

    async def acquire(
        self, provider: str, key_id: str, *, rpm: int | None, tpm: int | None, tokens: int
    ) -> bool:
        """One request of ``tokens`` (estimated) on ``key_id``; returns whether it waited."""
        waited = False
        if rpm:
            waited |= await self.bucket(provider, key_id, "rpm", rpm).acquire(1)
        if tpm:
            waited |= await self.bucket(provider, key_id, "tpm", tpm).acquire(tokens)
        return waited

    def stats(self) -> dict[str, dict[str, Any]]:
        """Each bucket's counters in this process, by bucket id."""
        with self._lock:
            buckets = list(self._buckets.values())
        return {b.spec.bucket_id: vars(b.stats).copy() for b in buckets}


_BUDGETS: dict[tuple[str, ...], RateBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def budget_for(settings: Settings) -> RateBudget | None:
    """The process's shared budget for ``settings``' backend (None: per-client limiters).

    ``LR_LLM_RATE_BUDGET=shared`` (the default): Firestore on ``gcp``, the state
    DB's SQLite file locally, so every process of the deployment shares it.
    ``process``: each client keeps its own in-process limiter.
    """
    if settings.llm_rate_budget == "process":
        return None
    policy = LeasePolicy(fallback_share=settings.llm_rate_budget_fallback_share)
    ident: tuple[str, ...]
    if settings.backend == "gcp":
        ident = (
            "gcp",
            settings.gcp_project,
            settings.firestore_database,
            settings.firestore_collection_prefix,
        )
    else:
        ident = ("local", str(settings.state_db.resolve()))
    ident = (*ident, repr(policy))
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(ident)
        if budget is None:
            budget = RateBudget(lambda: store_for(settings), policy=policy)
            _BUDGETS[ident] = budget
        return budget


def store_for(settings: Settings) -> RateBudgetStore:
    """The shared budget's store for ``settings``' backend: Firestore on ``gcp``, else SQLite."""
    if settings.backend == "gcp":
        from common.adapters.gcp.firestore_budget import FirestoreRateBudgetStore

        return FirestoreRateBudgetStore(
            settings.gcp_project,
            database=settings.firestore_database,
            prefix=settings.firestore_collection_prefix,
        )
    from common.adapters.local.sqlite_budget import SQLiteRateBudgetStore

    return SQLiteRateBudgetStore(settings.state_db)
