"""CallStore contract: SQLite and Firestore (emulator) apply call events alike.

Each test runs once per backend (``[local]`` and ``[gcp]``). The expected
documents come from `common.calls.state.apply_event` run in memory, so an
adapter that stores anything else (or loses a field in the JSON shaping)
fails here.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.backends import build_backends, build_call_store
from common.calls.events import build_event
from common.calls.models import EndOfCallReport, StatusUpdate, parse_envelope
from common.calls.retry import RetryPolicy
from common.calls.simulate import call_sequence
from common.calls.state import apply_event, resolve_lead
from common.ports.callstore import CallEvent, CallStore, RecordOutcome
from common.settings import get_settings

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "vapi"
T0 = datetime(2026, 11, 20, 16, 7, tzinfo=UTC)
RECOVERED_CALL = "0f8e5a52-1c3b-4d7e-9a61-6c2f0b9d8e41"
STATUSES = ["scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"]


@pytest.fixture
def calls(backend_name: str) -> CallStore:
    return build_backends(get_settings()).calls


def _event(body: bytes | dict[str, Any], at: datetime = T0) -> CallEvent:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    message, data = parse_envelope(raw)
    assert isinstance(message, EndOfCallReport | StatusUpdate)
    return build_event(message, data, received_at=at)


def _golden(name: str, at: datetime = T0) -> CallEvent:
    return _event((GOLDEN / f"{name}.json").read_bytes(), at)


def _in_memory(events: list[CallEvent]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The documents the store must hold after ``events`` (pure rules, JSON round trip)."""
    calls: dict[str, Any] = {}
    leads: dict[str, Any] = {}
    for event in events:
        call = calls.get(event.call_id)
        key, _ = resolve_lead(call, event)
        applied = apply_event(call, leads.get(key) if key else None, event, RetryPolicy())
        if applied.call is not None:
            calls[event.call_id] = json.loads(json.dumps(applied.call))
        if applied.lead is not None:
            leads[applied.lead["lead_key"]] = json.loads(json.dumps(applied.lead))
    return calls, leads


def test_lifecycle_stores_what_the_rules_say(calls: CallStore) -> None:
    events = [_golden(f"status-update.{s}") for s in STATUSES]
    events.append(_golden("end-of-call-report.recovered"))
    outcomes = [calls.record(e).outcome for e in events]
    assert outcomes == [RecordOutcome.APPLIED] * 7
    expected_calls, expected_leads = _in_memory(events)
    assert calls.get_call(RECOVERED_CALL) == expected_calls[RECOVERED_CALL]
    assert calls.lead_outcomes() == expected_leads
    doc = calls.get_call(RECOVERED_CALL)
    assert doc is not None and doc["final"] is True and doc["disposition"] == "recovered"
    assert [h["status"] for h in doc["history"]] == [*STATUSES, "ended"]
    assert calls.get_call("missing") is None


def test_duplicates_and_out_of_order(calls: CallStore) -> None:
    report = _golden("end-of-call-report.recovered")
    assert calls.record(report).outcome is RecordOutcome.APPLIED
    before = (calls.get_call(RECOVERED_CALL), calls.lead_outcomes())
    later = T0 + timedelta(minutes=3)
    duplicate = calls.record(_golden("end-of-call-report.recovered", later))
    assert (duplicate.outcome, duplicate.status) == (RecordOutcome.DUPLICATE, "ended")
    assert (calls.get_call(RECOVERED_CALL), calls.lead_outcomes()) == before
    stale = calls.record(_golden("status-update.ringing", later))
    assert (stale.outcome, stale.status) == (RecordOutcome.STALE, "ended")
    assert calls.record(_golden("status-update.ringing", later)).outcome is (
        RecordOutcome.DUPLICATE
    )
    doc = calls.get_call(RECOVERED_CALL)
    assert doc is not None and doc["status"] == "ended" and doc["final"] is True
    assert [h["applied"] for h in doc["history"]] == [True, False]
    assert calls.lead_outcomes() == before[1]


def test_lead_outcomes_by_key_and_transcripts(calls: CallStore) -> None:
    for name in (
        "end-of-call-report.recovered",
        "end-of-call-report.callback",
        "end-of-call-report.not-interested",
        "end-of-call-report.no-answer",
        "end-of-call-report.voicemail",
        "end-of-call-report.failed",
    ):
        calls.record(_golden(name))
    every = calls.lead_outcomes()
    assert {k: v["disposition"] for k, v in every.items()} == {
        "+5218164186522": "recovered",
        "+14047845491": "callback_requested",
        "+34646694821": "not_interested",
        "+573105550199": "no_answer",
        "+12063923330": "voicemail",
        "+5215512345678": "failed",
    }
    some = calls.lead_outcomes(["+34646694821", "+573105550199", "+10000000000"])
    assert set(some) == {"+34646694821", "+573105550199"}
    assert some["+573105550199"]["next_attempt_at"] == "2026-11-20T18:10:32+00:00"
    assert calls.lead_outcomes([]) == {}
    rows = calls.transcripts(["+5218164186522", "+14047845491"])
    assert [r["lead_key"] for r in rows] == ["+14047845491"] * 3 + ["+5218164186522"] * 5
    assert rows[0] == {
        "message_id": "5d1b7c3e-8f2a-4e9b-b0c4-2a6e9f1d3c57:0000",
        "lead_key": "+14047845491",
        "call_id": "5d1b7c3e-8f2a-4e9b-b0c4-2a6e9f1d3c57",
        "sent_at": "2026-11-20T16:02:15.304000+00:00",
        "sender": "bot",
        "text": "Hello Jennifer, this is Vale from Finvera about your personal loan application.",
    }
    assert len(calls.transcripts()) == 3 + 5 + 3 + 1  # voicemail: one bot turn


def test_retry_policy_comes_from_settings(backend_name: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LR_CALL_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("LR_CALL_RETRY_INTERVALS_HOURS", "1")
    get_settings.cache_clear()
    store = build_call_store(get_settings())
    lead = "+5215512345678"
    start = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # Tuesday, 16:00 UTC
    results = []
    for attempt in (1, 2):
        for body in call_sequence(lead, "busy", started_at=start, attempt=attempt):
            results.append(store.record(_event(body, start)))
    first_report, second_report = results[3], results[7]
    assert first_report.next_attempt_at is not None
    assert datetime.fromisoformat(first_report.next_attempt_at) - start < timedelta(
        hours=1, minutes=1
    )
    assert second_report.next_attempt_at is None
    doc = store.lead_outcomes([lead])[lead]
    assert (doc["attempts"], doc["retry"]) == (2, "exhausted")


def test_concurrent_deliveries_apply_once(calls: CallStore) -> None:
    """Every message of a call delivered twice, all at once, to one instance."""
    start = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)
    bodies = call_sequence("+5218164186522", "recovered", started_at=start)
    events = [_event(b, start) for b in bodies] * 2
    barrier = threading.Barrier(len(events))

    def deliver(event: CallEvent) -> RecordOutcome:
        barrier.wait()
        return calls.record(event).outcome

    with ThreadPoolExecutor(len(events)) as pool:
        outcomes = list(pool.map(deliver, events))
    assert outcomes.count(RecordOutcome.DUPLICATE) == len(bodies)
    call_id = bodies[0]["message"]["call"]["id"]
    doc = calls.get_call(call_id)
    assert doc is not None
    assert sorted(doc["events"]) == sorted({e.event_id for e in events})
    # Whatever the arrival order, the report is final and the lead counts one call.
    assert doc["final"] is True and doc["disposition"] == "recovered"
    lead = calls.lead_outcomes(["+5218164186522"])["+5218164186522"]
    assert (lead["attempts"], lead["disposition"]) == (1, "recovered")
    assert [c["call_id"] for c in calls.list_calls()] == [call_id]


def test_two_instances_racing_on_one_message(backend_name: str) -> None:
    """Two processes' stores get the same report at the same instant: one applies it."""
    stores = [build_call_store(get_settings()) for _ in range(2)]
    event = _golden("end-of-call-report.voicemail")
    barrier = threading.Barrier(2)

    def deliver(store: CallStore) -> RecordOutcome:
        barrier.wait()
        return store.record(event).outcome

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(deliver, stores))
    assert outcomes == [RecordOutcome.APPLIED, RecordOutcome.DUPLICATE]
    lead = stores[0].lead_outcomes(["+12063923330"])["+12063923330"]
    assert lead["attempts"] == 1 and lead["disposition"] == "voicemail"


def test_instances_with_stale_knowledge_lose_nothing(backend_name: str) -> None:
    """Each instance remembers what it last wrote; another instance's writes must win."""
    first, second = (build_call_store(get_settings()) for _ in range(2))
    start = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)
    events = [_event(_status(s), start) for s in STATUSES]
    assert first.record(events[0]).outcome is RecordOutcome.APPLIED  # scheduled
    # A first-status message on another instance (which assumes a new call) is not lost.
    assert second.record(events[1]).outcome is RecordOutcome.APPLIED  # queued
    assert second.record(events[2]).outcome is RecordOutcome.APPLIED  # ringing
    # `first` last saw the call at "scheduled": it must not overwrite what `second` wrote.
    assert first.record(events[3]).outcome is RecordOutcome.APPLIED  # in-progress
    assert second.record(events[2]).outcome is RecordOutcome.DUPLICATE
    assert second.record(events[1]).outcome is RecordOutcome.DUPLICATE
    doc = first.get_call(RECOVERED_CALL)
    assert doc is not None
    assert [h["status"] for h in doc["history"]] == STATUSES[:4]
    assert doc["status"] == "in-progress" and len(doc["events"]) == 4


def _status(status: str) -> bytes:
    return (GOLDEN / f"status-update.{status}.json").read_bytes()


def test_gcp_layout_uses_the_collection_prefix(backend_name: str) -> None:
    calls = build_call_store(get_settings())
    calls.record(_golden("end-of-call-report.recovered"))
    if backend_name == "local":
        assert get_settings().state_db.with_name("calls.sqlite").is_file()
        return
    from google.cloud import firestore

    settings = get_settings()
    client = firestore.Client(project=settings.project)
    prefix = settings.firestore_collection_prefix
    assert prefix
    call = client.collection(f"{prefix}calls").document(RECOVERED_CALL).get()
    lead = client.collection(f"{prefix}lead_outcomes").document("+5218164186522").get()
    assert call.exists and lead.exists
    # JSON-shaped: times are ISO strings, sortable for "next attempt due" queries.
    assert isinstance((call.to_dict() or {})["ended_at"], str)


def test_lead_context_plans_retries_in_the_leads_zone(calls: CallStore) -> None:
    """The report's context (the lead's zone from its run) is read with the lead's outcome."""
    lead = "+573105550199"  # the no-answer golden's customer: no metadata, no zone
    calls.set_lead_contexts({lead: {"timezone": "America/Mexico_City", "recipe": "demo"}})
    assert calls.lead_outcomes([lead]) == {}  # a context alone is no outcome
    assert lead not in calls.lead_outcomes()
    body = json.loads((GOLDEN / "end-of-call-report.no-answer.json").read_bytes())
    body["message"]["endedAt"] = "2026-11-20T23:30:00.000Z"  # Friday 17:30 in Mexico City
    result = calls.record(_event(body, datetime(2026, 11, 20, 23, 31, tzinfo=UTC)))
    # +2 h is 19:30 there, closed: Monday 09:00 Mexico City (not 09:00 UTC).
    assert result.next_attempt_at == "2026-11-23T15:00:00+00:00"
    # A later run's context replaces the old one and keeps the outcome.
    calls.set_lead_contexts({lead: {"timezone": "America/Bogota", "recipe": "demo"}})
    outcome = calls.lead_outcomes([lead])[lead]
    assert outcome["context"]["timezone"] == "America/Bogota"
    assert outcome["attempts"] == 1
    assert outcome["next_attempt_at"] == "2026-11-23T15:00:00+00:00"
