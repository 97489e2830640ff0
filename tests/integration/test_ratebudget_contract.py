"""RateBudgetStore contract: SQLite and Firestore (emulator) refill and take alike, atomically.

Each test runs once per backend (``[local]``: the state DB's SQLite file;
``[gcp]``: Firestore) through the store `common.llm.budget` builds from settings.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from common.errors import TransientError
from common.llm.budget import RETRY, store_for
from common.ports.ratebudget import BucketSpec, BucketState, RateBudgetStore, take
from common.settings import get_settings

T0 = 1_800_000_000.0


@pytest.fixture
def store(backend_name: str) -> RateBudgetStore:
    return store_for(get_settings())


def spec(rate: float = 10.0, capacity: float = 10.0) -> BucketSpec:
    return BucketSpec(f"openai.{uuid.uuid4().hex[:8]}.rpm", rate, capacity)


def lease(store: RateBudgetStore, s: BucketSpec, want: float, minimum: float, now: float):
    for attempt in RETRY():
        with attempt:
            return store.lease(s, want=want, minimum=minimum, now=now)
    raise AssertionError  # pragma: no cover


def test_a_new_bucket_starts_full_and_grants_up_to_want(store: RateBudgetStore) -> None:
    s = spec()
    assert store.peek(s.bucket_id) is None
    assert lease(store, s, 4, 1, T0).granted == 4
    assert store.peek(s.bucket_id) == BucketState(6.0, T0)
    # Fewer than `want` but at least `minimum`: what is there, in whole tokens.
    assert lease(store, s, 10, 5, T0).granted == 6


def test_refill_by_elapsed_time_up_to_capacity(store: RateBudgetStore) -> None:
    s = spec(rate=10, capacity=10)
    assert lease(store, s, 10, 1, T0).granted == 10
    assert lease(store, s, 10, 3, T0 + 0.35).granted == 3  # 3.5 refilled, 3 whole
    state = store.peek(s.bucket_id)
    assert state is not None and state.tokens == pytest.approx(0.5, abs=1e-4)
    assert lease(store, s, 50, 1, T0 + 100).granted == 10  # capped at capacity


def test_too_few_tokens_grant_nothing_and_say_how_long(store: RateBudgetStore) -> None:
    s = spec(rate=10, capacity=10)
    lease(store, s, 10, 1, T0)
    grant = lease(store, s, 5, 5, T0 + 0.2)  # 2 there, 5 needed: 0.3 s more
    assert grant.granted == 0
    assert grant.wait_s == pytest.approx(0.3, abs=1e-4)
    assert lease(store, s, 5, 5, T0 + 0.5).granted == 5


def test_a_clock_behind_refills_nothing_and_never_moves_back(store: RateBudgetStore) -> None:
    s = spec(rate=10, capacity=10)
    lease(store, s, 10, 1, T0)
    assert lease(store, s, 1, 1, T0 - 5).granted == 0
    assert lease(store, s, 1, 1, T0 + 0.2).granted == 1
    state = store.peek(s.bucket_id)
    assert state is not None and state.updated == T0 + 0.2


def test_concurrent_leases_never_grant_a_token_twice(store: RateBudgetStore) -> None:
    """Many leases at once against a full bucket of 40 at one instant: 40 granted in all."""
    s = spec(rate=1.0, capacity=40)

    def one(_: int) -> float:
        try:
            return lease(store, s, 3, 1, T0).granted
        except TransientError:
            return 0.0  # contention past the retry policy: nothing granted, nothing lost

    with ThreadPoolExecutor(8) as pool:
        granted = sum(pool.map(one, range(24)))
    state = store.peek(s.bucket_id)
    assert state is not None
    assert granted + state.tokens == pytest.approx(40)
    assert granted > 0


def _hammer(bucket_id: str, seconds: float, out: multiprocessing.Queue) -> None:
    store = store_for(get_settings())
    s = BucketSpec(bucket_id, 20.0, 20.0)
    total = 0.0
    end = time.time() + seconds
    while time.time() < end:
        try:
            grant = lease(store, s, 5, 1, time.time())
        except TransientError:
            continue
        total += grant.granted
        if not grant.granted:
            time.sleep(grant.wait_s)
    out.put(total)


def test_processes_share_the_bucket(store: RateBudgetStore) -> None:
    """4 OS processes leasing as fast as they can get the bucket's rate between them, no more."""
    bucket_id = f"openai.{uuid.uuid4().hex[:8]}.rpm"
    seconds = 3.0
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = context.Queue()
    started = time.time()
    procs = [context.Process(target=_hammer, args=(bucket_id, seconds, out)) for _ in range(4)]
    for p in procs:
        p.start()
    totals = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    elapsed = time.time() - started
    # A full bucket (20) plus 20 a second while any process was leasing.
    assert sum(totals) <= 20 + 20 * elapsed
    assert sum(totals) >= 20 * seconds * 0.8


def test_take_is_the_arithmetic_every_store_runs() -> None:
    s = BucketSpec("b", 2.0, 4.0)
    state, grant = take(None, s, want=10, minimum=1, now=0.0)
    assert (state, grant.granted) == (BucketState(0.0, 0.0), 4)
    # A request larger than the capacity is lowered to it, and passes once the bucket is full.
    state, grant = take(state, s, want=9, minimum=9, now=1.0)
    assert grant.granted == 0 and grant.wait_s == pytest.approx(1.0)
    state, grant = take(state, s, want=9, minimum=9, now=2.0)
    assert grant.granted == 4
