"""StateStore contract: SQLite and Firestore (emulator) keep runs, claims and fan-in alike.

Each test runs once per backend (``[local]`` and ``[gcp]``) with the same body,
so a difference between the adapters is a failing test, not a surprise in
production.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from common.backends import build_backends
from common.ports import StateStore, StepKey, StepStatus
from common.settings import get_settings

LEASE = 300


@pytest.fixture
def state(backend_name: str) -> StateStore:
    return build_backends(get_settings()).state


def _run_doc(run_id: str, recipe: str = "demo", **extra: object) -> dict:
    return {"run_id": run_id, "recipe": recipe, "status": "running", **extra}


# ---- runs -----------------------------------------------------------------------------
def test_create_run_is_idempotent(state: StateStore) -> None:
    first = _run_doc("r1", options={"limit": 5, "skip_processors": ["a", "b"]})
    assert state.create_run("r1", first) is True
    assert state.create_run("r1", _run_doc("r1", status="other", extra=1)) is False
    assert state.get_run("r1") == first
    assert state.get_run("missing") is None


def test_documents_come_back_json_shaped(state: StateStore) -> None:
    """Datetimes and tuples go in; strings and lists come out, on every backend."""
    when = datetime(2026, 11, 20, 18, 0, 5, 123456, tzinfo=UTC)
    state.create_run("r1", _run_doc("r1", as_of=when, columns=("a", "b"), nested={"n": [1, 2.5]}))
    doc = state.get_run("r1")
    assert doc is not None
    assert doc["as_of"] == str(when)
    assert datetime.fromisoformat(doc["as_of"]) == when
    assert doc["columns"] == ["a", "b"]
    assert doc["nested"] == {"n": [1, 2.5]}
    # The caller's own `created_at` is data, returned untouched.
    state.create_run("r2", _run_doc("r2", created_at="2026-11-20T18:00:00+00:00"))
    assert state.get_run("r2") == _run_doc("r2", created_at="2026-11-20T18:00:00+00:00")


def test_update_run_merges_top_level_fields(state: StateStore) -> None:
    state.create_run("r1", _run_doc("r1", counts={"leads": 10, "shards": 2}, keep="me"))
    state.update_run("r1", {"status": "succeeded", "counts": {"leads": 12}, "key.with-dots": 1})
    assert state.get_run("r1") == _run_doc(
        "r1", status="succeeded", counts={"leads": 12}, keep="me", **{"key.with-dots": 1}
    )
    # Nested maps are replaced, not deep-merged: `shards` is gone.
    state.update_run("missing", {"status": "x"})
    assert state.get_run("missing") is None  # updating a missing run creates nothing


def test_list_runs_newest_first_and_by_recipe(state: StateStore) -> None:
    for run_id, recipe in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b"), ("a3", "a")]:
        state.create_run(run_id, _run_doc(run_id, recipe))
        time.sleep(0.002)  # distinct creation times on any clock
    assert [r["run_id"] for r in state.list_runs()] == ["a3", "b2", "a2", "b1", "a1"]
    assert [r["run_id"] for r in state.list_runs("a")] == ["a3", "a2", "a1"]
    assert [r["run_id"] for r in state.list_runs("b", limit=1)] == ["b2"]
    assert state.list_runs("nope") == []
    assert state.list_runs("a")[0] == _run_doc("a3", "a")


# ---- steps ----------------------------------------------------------------------------
def test_begin_step_claims_then_busy_then_done(state: StateStore) -> None:
    key = StepKey("r1", "summarize", 3)
    assert state.begin_step(key, LEASE) is StepStatus.RUN
    assert state.begin_step(key, LEASE) is StepStatus.BUSY
    state.finish_step(key, {"rows": 42})
    assert state.begin_step(key, LEASE) is StepStatus.DONE
    [mark] = state.list_steps("r1")
    assert mark["step"] == "summarize" and mark["shard"] == 3
    assert mark["status"] == "done" and mark["attempts"] == 1
    assert mark["result"] == {"rows": 42} and mark["lease_until"] is None
    assert datetime.fromisoformat(mark["finished_at"]) >= datetime.fromisoformat(mark["started_at"])


def test_steps_are_keyed_by_run_step_and_shard(state: StateStore) -> None:
    keys = [StepKey("r1", "process", 0), StepKey("r1", "process", 1), StepKey("r1", "report")]
    keys += [StepKey("r2", "process", 0)]
    assert [state.begin_step(k, LEASE) for k in keys] == [StepStatus.RUN] * 4
    marks = state.list_steps("r1")
    assert [(m["step"], m["shard"]) for m in marks] == [
        ("process", 0),
        ("process", 1),
        ("report", -1),
    ]


def test_expired_lease_is_taken_over(state: StateStore) -> None:
    key = StepKey("r1", "process", 0)
    assert state.begin_step(key, 0) is StepStatus.RUN  # a worker that died at once
    time.sleep(0.01)
    assert state.begin_step(key, LEASE) is StepStatus.RUN
    assert state.begin_step(key, LEASE) is StepStatus.BUSY
    [mark] = state.list_steps("r1")
    assert mark["attempts"] == 2


def test_terminal_failure_counts_as_done_and_lives_on_the_step_mark(state: StateStore) -> None:
    """A failure is one write on its own mark; the run document (a hot spot) is untouched."""
    state.create_run("r1", _run_doc("r1"))
    key = StepKey("r1", "fetch_conversations", 2)
    assert state.begin_step(key, LEASE) is StepStatus.RUN
    state.begin_step(StepKey("r1", "fetch_conversations", 3), LEASE)
    state.fail_step(key, {"type": "DataError", "message": "bad SQL"}, terminal=True)
    assert state.begin_step(key, LEASE) is StepStatus.FAILED
    assert state.get_run("r1") == _run_doc("r1")
    [mark] = state.list_steps("r1", status="failed")
    assert (mark["step"], mark["shard"], mark["status"]) == ("fetch_conversations", 2, "failed")
    assert mark["error"] == {"type": "DataError", "message": "bad SQL"}
    assert datetime.fromisoformat(mark["failed_at"]).tzinfo is not None
    assert len(state.list_steps("r1")) == 2 and state.list_steps("r1", status="done") == []


def test_transient_failure_releases_the_claim(state: StateStore) -> None:
    state.create_run("r1", _run_doc("r1"))
    key = StepKey("r1", "summarize", 0)
    assert state.begin_step(key, LEASE) is StepStatus.RUN
    state.fail_step(key, {"type": "TransientError", "message": "429"}, terminal=False)
    assert state.get_run("r1") == _run_doc("r1")  # still running, nothing written to it
    [mark] = state.list_steps("r1", status="retrying")
    assert mark["error"]["message"] == "429" and mark["lease_until"] is None
    assert state.begin_step(key, LEASE) is StepStatus.RUN  # the redelivery runs
    state.finish_step(key, {})
    [mark] = state.list_steps("r1")
    assert mark["status"] == "done" and mark["attempts"] == 2


def test_fail_step_without_a_run_document_only_marks_the_step(state: StateStore) -> None:
    key = StepKey("ghost", "process", 0)
    state.fail_step(key, {"message": "boom"}, terminal=True)
    assert state.get_run("ghost") is None
    assert state.begin_step(key, LEASE) is StepStatus.FAILED


# ---- fan-in ---------------------------------------------------------------------------
def test_complete_shard_true_only_when_all_shards_done(state: StateStore) -> None:
    state.create_run("r1", _run_doc("r1"))
    assert state.complete_shard("r1", "summarize", 2, 3) is False
    assert state.complete_shard("r1", "summarize", 0, 3) is False
    assert state.complete_shard("r1", "summarize", 0, 3) is False  # duplicate: harmless
    assert state.complete_shard("r1", "process", 1, 3) is False  # other stage: separate set
    assert state.complete_shard("r1", "summarize", 1, 3) is True
    assert state.counted_shards("r1", "summarize") == {0, 1, 2}
    assert state.counted_shards("r1", "process") == {1}
    assert state.get_run("r1") == _run_doc("r1")  # the fan-in never writes the run document


def test_redelivered_shard_after_completion_also_returns_true(state: StateStore) -> None:
    """Intended: "complete" is a fact about the set, not about this call.

    A redelivered last shard must be able to start the next stage if the first
    delivery died between `complete_shard` and publishing; the next stage's own
    `begin_step` claim is what makes it run once.
    """
    state.create_run("r1", _run_doc("r1"))
    assert state.complete_shard("r1", "summarize", 0, 2) is False
    assert state.complete_shard("r1", "summarize", 1, 2) is True
    assert state.complete_shard("r1", "summarize", 0, 2) is True
    assert state.complete_shard("r1", "summarize", 1, 2) is True


def test_complete_shard_needs_no_run_document(state: StateStore) -> None:
    assert state.complete_shard("r9", "process", 0, 1) is True
    assert state.get_run("r9") is None
    assert state.counted_shards("r9", "process") == {0}


@pytest.mark.parametrize("shards", [1, 2, 5, 17])
def test_every_shard_count_completes_once_in_any_order(state: StateStore, shards: int) -> None:
    """Group sizes differ when sqrt(n) does not divide n: the last shard, whichever it is, completes."""
    order = list(range(shards))
    random.Random(shards).shuffle(order)
    results = [state.complete_shard("r1", "s", shard, shards) for shard in order]
    assert results == [False] * (shards - 1) + [True]
    assert all(state.complete_shard("r1", "s", shard, shards) for shard in order)


@pytest.mark.parametrize("duplicates", [False, True], ids=["once", "duplicated"])
def test_concurrent_shards_complete_the_set_exactly_once(
    state: StateStore, duplicates: bool
) -> None:
    """Many shards finish at once: exactly one completes the set, never before all are counted.

    With duplicates in flight, whichever delivery of a shard comes second may
    also see the set complete (it is a redelivery), but none sees it early.
    """
    state.create_run("r1", _run_doc("r1"))
    shards, workers = 40, 16
    deliveries = list(range(shards)) + (list(range(0, shards, 3)) if duplicates else [])
    random.Random(7).shuffle(deliveries)
    barrier = threading.Barrier(workers)
    early: list[int] = []

    def finish(i: int) -> bool:
        if i < workers:
            barrier.wait()  # the first wave all at once, to make the writes collide
        complete = state.complete_shard("r1", "summarize", deliveries[i], shards)
        if complete and len(state.counted_shards("r1", "summarize")) < shards:
            early.append(deliveries[i])
        return complete

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(finish, range(len(deliveries))))
    assert early == []
    if duplicates:
        assert 1 <= results.count(True) <= 1 + len(deliveries) - shards
    else:
        assert results.count(True) == 1
    assert state.counted_shards("r1", "summarize") == set(range(shards))
    assert state.complete_shard("r1", "summarize", 0, shards) is True  # late redelivery
    assert state.get_run("r1") == _run_doc("r1")


def test_concurrent_claims_of_one_step_let_exactly_one_run(state: StateStore) -> None:
    key = StepKey("r1", "report")
    workers = 6
    barrier = threading.Barrier(workers)

    def claim(_: int) -> StepStatus:
        barrier.wait()
        return state.begin_step(key, LEASE)

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(claim, range(workers)))
    assert results.count(StepStatus.RUN) == 1
    assert results.count(StepStatus.BUSY) == workers - 1


def test_two_instances_racing_on_the_last_shard(state: StateStore) -> None:
    """Two independent stores (two function instances) finish the last two shards at once.

    Their transactions really contend in the backend (no shared in-process
    lock), so this proves the read-modify-write is transactional and retried.
    """
    other = build_backends(get_settings()).state
    state.create_run("r1", _run_doc("r1"))
    assert state.complete_shard("r1", "summarize", 0, 3) is False
    barrier = threading.Barrier(2)

    def finish(args: tuple[StateStore, int]) -> bool:
        store, shard = args
        barrier.wait()
        return store.complete_shard("r1", "summarize", shard, 3)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(finish, [(state, 1), (other, 2)]))
    assert sorted(results) == [False, True]
    assert state.counted_shards("r1", "summarize") == {0, 1, 2}


def test_list_runs_by_status(state: StateStore) -> None:
    """The sweeper's query: runs still running, newest first."""
    for run_id, status in [("a", "running"), ("b", "succeeded"), ("c", "running")]:
        state.create_run(run_id, _run_doc(run_id, status=status))
        time.sleep(0.002)
    assert [r["run_id"] for r in state.list_runs(status="running")] == ["c", "a"]
    assert [r["run_id"] for r in state.list_runs("demo", status="succeeded")] == ["b"]
    assert state.list_runs(status="partial") == []


# ---- Firestore fan-in: a first delivery that died between its two batches --------------
def test_firestore_redelivery_finishes_a_group_its_first_delivery_left(
    backend_name: str, state: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shard that filled its group died before counting the group at the root.

    Its redelivery finds its marker, re-reads the group, counts the group at
    the root, and completes the stage; nothing is counted twice.
    """
    if backend_name != "gcp":
        pytest.skip("the tree of counters is Firestore's; SQLite counts in one transaction")
    from common.adapters.gcp.firestore_state import FirestoreStateStore
    from common.errors import TransientError

    assert isinstance(state, FirestoreStateStore)
    real = FirestoreStateStore._count_once
    died: list[str] = []

    def dies_once(self, marker, counter, fields):  # type: ignore[no-untyped-def]
        if fields["kind"] == "group" and not died:
            died.append(marker.id)
            raise TransientError("instance killed")
        return real(self, marker, counter, fields)

    monkeypatch.setattr(FirestoreStateStore, "_count_once", dies_once)
    shards = 4  # 2 groups: {0, 2} and {1, 3}
    assert state.complete_shard("r1", "s", 0, shards) is False
    assert state.complete_shard("r1", "s", 1, shards) is False
    with pytest.raises(TransientError):
        state.complete_shard("r1", "s", 2, shards)  # fills group 0, dies before the root
    assert died == ["s-groupdone-00000"]
    assert state.complete_shard("r1", "s", 3, shards) is False  # the root still lacks group 0
    assert state.complete_shard("r1", "s", 2, shards) is True  # the redelivery finishes it
    assert state.complete_shard("r1", "s", 3, shards) is True
    assert state.counted_shards("r1", "s") == {0, 1, 2, 3}
    root = state.client.document(f"{state.prefix}runs/r1/fanin/s-root").get().to_dict()
    assert root is not None and root["count"] == 2  # beside it only the TTL field `expires_at`


# ---- Firestore error mapping (no emulator can fail on demand) --------------------------
class _Unavailable:
    """A Firestore client whose every document read fails."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def collection(self, *_: object) -> _Unavailable:
        return self

    def document(self, *_: object) -> _Unavailable:
        return self

    def get(self, *_: object, **__: object) -> None:
        raise self.error


@pytest.mark.parametrize("error", ["ServiceUnavailable", "DeadlineExceeded", "Aborted"])
def test_firestore_outages_are_transient(error: str) -> None:
    from google.api_core import exceptions as gexc

    from common.adapters.gcp.firestore_state import FirestoreStateStore
    from common.errors import TransientError

    store = FirestoreStateStore("p", client=_Unavailable(getattr(gexc, error)("x")))  # type: ignore[arg-type]
    with pytest.raises(TransientError):
        store.get_run("r1")


def test_firestore_exhausted_contention_is_transient() -> None:
    from google.api_core import exceptions as gexc

    from common.adapters.gcp.firestore_state import _mapped
    from common.errors import TransientError

    @_mapped
    def contended() -> None:
        # What `firestore.transactional` raises after its last attempt.
        raise ValueError("Failed to commit transaction in 5 attempts.") from gexc.Aborted("x")

    @_mapped
    def buggy() -> None:
        raise ValueError("a plain bug stays a bug")

    with pytest.raises(TransientError):
        contended()
    with pytest.raises(ValueError, match="plain bug"):
        buggy()
