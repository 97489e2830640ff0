"""How events change a call and its lead (the rules every CallStore adapter shares)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from common.calls.events import build_event
from common.calls.models import EndOfCallReport, StatusUpdate, parse_envelope
from common.calls.retry import RetryPolicy
from common.calls.simulate import call_sequence
from common.calls.state import REPORT_RANK, apply_event, resolve_lead
from common.ports.callstore import CallEvent, RecordOutcome
from tests.unit.calls.conftest import golden_bytes

T0 = datetime(2026, 11, 20, 16, 7, tzinfo=UTC)
POLICY = RetryPolicy()


def _event(name: str, at: datetime = T0) -> CallEvent:
    message, raw = parse_envelope(golden_bytes(name))
    assert isinstance(message, EndOfCallReport | StatusUpdate)
    return build_event(message, raw, received_at=at)


class Store:
    """Applies events the way an adapter does: read both docs, apply, write back."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.leads: dict[str, dict[str, Any]] = {}

    def record(self, event: CallEvent) -> Any:
        call = self.calls.get(event.call_id)
        key, _ = resolve_lead(call, event)
        lead = self.leads.get(key) if key else None
        applied = apply_event(call, lead, event, POLICY)
        if applied.call is not None:
            self.calls[event.call_id] = applied.call
        if applied.lead is not None:
            self.leads[applied.lead["lead_key"]] = applied.lead
        return applied.result


def test_statuses_in_order_then_report() -> None:
    store = Store()
    names = [f"status-update.{s}" for s in ("scheduled", "queued", "ringing", "in-progress")]
    for name in names:
        assert store.record(_event(name)).outcome is RecordOutcome.APPLIED
    ended = store.record(_event("status-update.ended"))
    # A connected call's end waits for the report: the lead is not touched yet.
    assert (ended.outcome, ended.status, ended.disposition) == (
        RecordOutcome.APPLIED,
        "ended",
        None,
    )
    assert store.leads == {}
    report = store.record(_event("end-of-call-report.recovered"))
    assert (report.outcome, report.disposition, report.next_attempt_at) == (
        RecordOutcome.APPLIED,
        "recovered",
        None,
    )
    call = store.calls["0f8e5a52-1c3b-4d7e-9a61-6c2f0b9d8e41"]
    assert call["status"] == "ended" and call["final"] is True and call["rank"] == REPORT_RANK
    assert [h["status"] for h in call["history"]] == [
        "scheduled",
        "queued",
        "ringing",
        "in-progress",
        "ended",
        "ended",
    ]
    assert all(h["applied"] for h in call["history"])
    assert len(call["events"]) == len(set(call["events"])) == 6
    assert call["summary"].startswith("La clienta retomará")
    assert [m["sender"] for m in call["messages"]] == ["bot", "user", "bot", "user", "bot"]
    lead = store.leads["+5218164186522"]
    assert (lead["disposition"], lead["attempts"], lead["retry"]) == ("recovered", 1, "final")
    assert lead["timezone"] == "America/Mexico_City" and lead["lead_match"] == "metadata"


def test_duplicates_change_nothing() -> None:
    store = Store()
    store.record(_event("status-update.ringing"))
    store.record(_event("end-of-call-report.recovered"))
    before = (dict(store.calls), dict(store.leads))
    # The same bodies again, later: same identity, nothing written.
    again = store.record(_event("end-of-call-report.recovered", T0 + timedelta(minutes=5)))
    assert again.outcome is RecordOutcome.DUPLICATE and again.status == "ended"
    assert store.record(_event("status-update.ringing", T0 + timedelta(hours=1))).outcome is (
        RecordOutcome.DUPLICATE
    )
    assert (store.calls, store.leads) == before


def test_out_of_order_never_regresses() -> None:
    store = Store()
    store.record(_event("end-of-call-report.recovered"))
    for status in ("in-progress", "ringing", "ended", "queued"):
        result = store.record(_event(f"status-update.{status}"))
        assert result.outcome is RecordOutcome.STALE and result.status == "ended"
    call = store.calls["0f8e5a52-1c3b-4d7e-9a61-6c2f0b9d8e41"]
    assert call["final"] is True and call["disposition"] == "recovered"
    assert [h["applied"] for h in call["history"]] == [True, False, False, False, False]
    assert store.leads["+5218164186522"]["attempts"] == 1
    # Ringing after in-progress is stale too; the call stays in progress.
    other = Store()
    other.record(_event("status-update.in-progress"))
    assert other.record(_event("status-update.ringing")).outcome is RecordOutcome.STALE
    assert other.calls["0f8e5a52-1c3b-4d7e-9a61-6c2f0b9d8e41"]["status"] == "in-progress"


def test_second_report_of_a_call_is_stale() -> None:
    store = Store()
    store.record(_event("end-of-call-report.recovered"))
    message, raw = parse_envelope(golden_bytes("end-of-call-report.recovered"))
    raw = {**raw, "analysis": {"structuredData": {"outcome": "not_interested"}}}
    assert isinstance(message, EndOfCallReport)
    changed = message.model_copy(
        update={
            "analysis": message.analysis.model_copy(
                update={
                    "structured_data": {"outcome": "not_interested"},
                    "success_evaluation": None,
                }
            )
        }
    )
    result = store.record(build_event(changed, raw, received_at=T0))
    assert result.outcome is RecordOutcome.STALE
    assert store.leads["+5218164186522"]["disposition"] == "recovered"


def test_unreached_call_decided_by_ended_status_then_confirmed_by_report() -> None:
    start = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)  # Tuesday 10:00 in Mexico City
    bodies = call_sequence(
        "+5215512345678", "no_answer", started_at=start, timezone="America/Mexico_City"
    )
    store = Store()
    results = []
    for body in bodies:
        message, raw = parse_envelope(json.dumps(body).encode())
        assert isinstance(message, EndOfCallReport | StatusUpdate)
        results.append(store.record(build_event(message, raw, received_at=start)))
    ended, report = results[-2], results[-1]
    assert (ended.disposition, report.disposition) == ("no_answer", "no_answer")
    lead = store.leads["+5215512345678"]
    assert lead["attempts"] == 1  # one call, counted once
    assert lead["calls"][bodies[0]["message"]["call"]["id"]]["final"] is True
    assert lead["retry"] == "retry"
    assert datetime.fromisoformat(lead["next_attempt_at"]) > start


def test_attempts_across_calls_and_latest_call_wins() -> None:
    store = Store()
    lead = "+5215512345678"
    day = datetime(2026, 11, 16, 16, 0, tzinfo=UTC)  # Monday
    for attempt, outcome in enumerate(["no_answer", "voicemail", "busy"], start=1):
        when = day + timedelta(days=attempt)
        for body in call_sequence(lead, outcome, started_at=when, attempt=attempt):
            message, raw = parse_envelope(json.dumps(body).encode())
            assert isinstance(message, EndOfCallReport | StatusUpdate)
            store.record(build_event(message, raw, received_at=when))
    doc = store.leads[lead]
    assert (doc["attempts"], doc["disposition"], doc["retry"]) == (3, "busy", "exhausted")
    assert doc["next_attempt_at"] is None
    # A late report of an older call counts, but does not replace the latest disposition.
    late = call_sequence(lead, "recovered", started_at=day, attempt=0)[-1]
    message, raw = parse_envelope(json.dumps(late).encode())
    assert isinstance(message, EndOfCallReport)
    store.record(build_event(message, raw, received_at=day + timedelta(days=5)))
    doc = store.leads[lead]
    assert (doc["attempts"], doc["disposition"]) == (4, "busy")


def test_phone_is_the_lead_key_without_metadata() -> None:
    store = Store()
    result = store.record(_event("end-of-call-report.no-answer"))
    assert result.lead_key == "+573105550199"
    lead = store.leads["+573105550199"]
    assert lead["lead_match"] == "phone" and lead["disposition"] == "no_answer"
    # No zone given: the default (UTC) business hours; Friday 16:10 + 2 h = 18:10, open.
    assert lead["next_attempt_at"] == "2026-11-20T18:10:32+00:00"


def test_callback_report_schedules_at_requested_time() -> None:
    store = Store()
    result = store.record(_event("end-of-call-report.callback"))
    assert result.disposition == "callback_requested"
    assert result.next_attempt_at == "2026-11-23T20:00:00+00:00"
    assert store.leads["+14047845491"]["timezone"] == "America/New_York"
