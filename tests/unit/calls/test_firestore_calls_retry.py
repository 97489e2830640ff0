"""How the Firestore adapters retry: conflicts and unavailability under the one policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from common.adapters.gcp import firestore_calls, firestore_state
from common.adapters.gcp.firestore_calls import FirestoreCallStore
from common.adapters.gcp.firestore_state import FirestoreStateStore
from common.errors import TransientError
from common.ports.callstore import CallEvent
from common.ports.statestore import StepKey


@pytest.fixture(autouse=True)
def _no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        firestore_calls, "RECORD_RETRY", replace(firestore_calls.RECORD_RETRY, initial_s=0.0)
    )
    monkeypatch.setattr(
        firestore_state, "TX_RETRY", replace(firestore_state.TX_RETRY, initial_s=0.0)
    )


def _client() -> firestore.Client:
    return firestore.Client(project="p", credentials=AnonymousCredentials())


def _event() -> CallEvent:
    return CallEvent(
        event_id="e1",
        call_id="c1",
        type="status-update",
        status="ringing",
        received_at=datetime.now(UTC),
    )


class _Failing:
    """Stands for `FirestoreCallStore._attempt`: raises the given errors, then answers."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.fresh: list[bool] = []

    def __call__(self, event: CallEvent, call_path: str, *, fresh: bool) -> Any:
        self.fresh.append(fresh)
        if self.errors:
            raise self.errors.pop(0)
        return "recorded"


def _store(monkeypatch: pytest.MonkeyPatch, attempt: _Failing) -> FirestoreCallStore:
    store = FirestoreCallStore("p", client=_client())
    monkeypatch.setattr(store, "_attempt", attempt)
    return store


def test_a_conflict_forgets_the_versions_and_reads_again(monkeypatch: pytest.MonkeyPatch) -> None:
    attempt = _Failing(gexc.FailedPrecondition("changed"), gexc.AlreadyExists("created"))
    store = _store(monkeypatch, attempt)
    store._remember("calls/c1", firestore_calls._Version({"events": []}, "t0"))
    assert store.record(_event()) == "recorded"
    assert attempt.fresh == [False, True, True]
    assert store._cached("calls/c1") is None


def test_lasting_contention_is_transient_after_every_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts = firestore_calls.RECORD_RETRY.attempts
    attempt = _Failing(*(gexc.FailedPrecondition("changed") for _ in range(attempts + 5)))
    with pytest.raises(TransientError, match=f"still contended after {attempts} attempts"):
        _store(monkeypatch, attempt).record(_event())
    assert len(attempt.fresh) == attempts


def test_unavailability_is_retried_three_times_then_transient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempt = _Failing(*(gexc.ServiceUnavailable("down") for _ in range(5)))
    with pytest.raises(TransientError, match="unavailable"):
        _store(monkeypatch, attempt).record(_event())
    assert len(attempt.fresh) == 3


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    attempt = _Failing(gexc.PermissionDenied("no"))
    with pytest.raises(gexc.PermissionDenied):
        _store(monkeypatch, attempt).record(_event())
    assert len(attempt.fresh) == 1


def _aborted() -> ValueError:
    # What the client raises once a transaction aborted `max_attempts` times.
    try:
        raise gexc.Aborted("contention")
    except gexc.Aborted as cause:
        try:
            raise ValueError("failed to commit") from cause
        except ValueError as err:
            return err


def test_a_contended_transaction_is_run_again_then_transient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FirestoreStateStore("p", client=_client())
    tries: list[int] = []

    def transactional(body: Any) -> Any:
        def run(transaction: Any) -> Any:
            tries.append(1)
            if len(tries) < 3:
                raise _aborted()
            return body(transaction)

        return run

    monkeypatch.setattr(firestore_state.firestore, "transactional", transactional)
    ref = store._run_ref("r1")
    assert store._transact(ref, lambda tx: "done") == "done"
    assert len(tries) == 3
    tries.clear()

    def always(body: Any) -> Any:
        def run(transaction: Any) -> Any:
            tries.append(1)
            raise _aborted()

        return run

    monkeypatch.setattr(firestore_state.firestore, "transactional", always)
    with pytest.raises(TransientError, match="contention"):
        store.begin_step(StepKey("r1", "process", 0), lease_seconds=60)
    assert len(tries) == firestore_state.TX_RETRY.attempts
