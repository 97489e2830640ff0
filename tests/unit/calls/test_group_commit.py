"""Group commit: concurrent callers share Commit RPCs, yet each gets its own answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.protobuf.timestamp_pb2 import Timestamp

from common.adapters.gcp.firestore_wire import FirestoreWire, GroupCommit

WIRE = FirestoreWire("p", emulator_host="127.0.0.1:9", group_commit=False)  # builds writes only


def write(doc: str) -> Any:
    return WIRE.create(f"calls/{doc}", {"doc": doc})


class FakeFirestore:
    """Commit RPCs: records each batch, answers one update time per write, fails on demand."""

    def __init__(self, delay_s: float = 0.0, refuse: frozenset[str] = frozenset()) -> None:
        self.delay_s = delay_s
        self.refuse = refuse
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()
        self.clock = 0

    def send(self, writes: list[Any]) -> list[Any]:
        names = [w.update.name.rsplit("/", 1)[1] for w in writes]
        with self.lock:
            self.batches.append(names)
        time.sleep(self.delay_s)
        if self.refuse & set(names):
            raise gexc.FailedPrecondition(f"stale: {sorted(self.refuse & set(names))}")
        with self.lock:
            self.clock += 1
            return [Timestamp(seconds=self.clock, nanos=i) for i in range(len(writes))]


def test_one_caller_at_a_time_commits_alone() -> None:
    store = FakeFirestore()
    group = GroupCommit(store.send)
    for n in range(3):
        assert len(group.commit([write(f"a{n}"), write(f"b{n}")])) == 2
    assert store.batches == [["a0", "b0"], ["a1", "b1"], ["a2", "b2"]]
    assert group._turns == 0


def test_callers_arriving_while_commits_are_in_flight_share_the_next() -> None:
    store = FakeFirestore(delay_s=0.02)
    group = GroupCommit(store.send, max_in_flight=1)
    docs = [f"c{n}" for n in range(40)]
    with ThreadPoolExecutor(20) as pool:
        results = dict(zip(docs, pool.map(lambda d: group.commit([write(d)]), docs), strict=True))
    sent = [name for batch in store.batches for name in batch]
    assert sorted(sent) == sorted(docs)  # every write sent exactly once
    assert len(store.batches) < len(docs) / 2  # ... in far fewer commits
    # Each caller got the update time of its own write in the batch it went in.
    for batch in store.batches:
        times = {results[name][0].seconds for name in batch}
        assert len(times) == 1
        assert [results[name][0].nanos for name in batch] == list(range(len(batch)))
    assert group._turns == 0 and not group._queue


def test_two_writes_to_one_document_never_share_a_commit() -> None:
    store = FakeFirestore(delay_s=0.02)
    group = GroupCommit(store.send, max_in_flight=1)
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda n: group.commit([write(f"same{n % 2}")]), range(12)))
    assert all(len(batch) == len(set(batch)) for batch in store.batches)
    assert sum(len(batch) for batch in store.batches) == 12


def test_a_failed_shared_commit_is_retried_alone_by_each_caller() -> None:
    store = FakeFirestore(delay_s=0.02, refuse=frozenset({"bad"}))
    group = GroupCommit(store.send, max_in_flight=1)
    # ok0 commits alone; the others queue behind it and "bad" is grouped with them.
    docs = [*(f"ok{n}" for n in range(8)), "bad", *(f"ok{n}" for n in range(8, 15))]

    def commit(doc: str) -> str:
        try:
            group.commit([write(doc)])
        except gexc.FailedPrecondition:
            return "refused"
        return "committed"

    with ThreadPoolExecutor(16) as pool:
        answers = dict(zip(docs, pool.map(commit, docs), strict=True))
    # Only the stale write is refused, however it was grouped.
    assert answers == {doc: ("refused" if doc == "bad" else "committed") for doc in docs}
    assert any("bad" in batch and len(batch) > 1 for batch in store.batches)
    assert group._turns == 0


def test_size_limits_split_the_queue() -> None:
    store = FakeFirestore(delay_s=0.02)
    group = GroupCommit(store.send, max_in_flight=1, max_writes=3)
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda n: group.commit([write(f"w{n}")]), range(10)))
    assert max(len(batch) for batch in store.batches) <= 3
    assert sum(len(batch) for batch in store.batches) == 10


def test_turns_are_never_lost_under_many_concurrent_callers() -> None:
    store = FakeFirestore(delay_s=0.001)
    group = GroupCommit(store.send, max_in_flight=3)
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda n: group.commit([write(f"t{n}")]), range(600)))
    assert sum(len(batch) for batch in store.batches) == 600
    assert group._turns == 0 and not group._queue
    # Still serving afterwards (a leaked turn would eventually block every caller).
    assert len(group.commit([write("after")])) == 1


def test_max_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        GroupCommit(FakeFirestore().send, max_in_flight=0)
