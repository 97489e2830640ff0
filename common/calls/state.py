"""How one event changes a call document and its lead's outcome (pure; every adapter uses it).

A CallStore adapter reads the two documents inside a transaction, calls
`apply_event`, and writes back what it returns; nothing here does I/O, so the
SQLite and Firestore stores behave the same by construction.

Call document (``calls/{call_id}``)::

    call_id, lead_key, lead_match ("metadata" | "phone"), phone, timezone,
    status, rank, final, disposition, disposition_final, ended_reason,
    started_at, ended_at, cost, summary, success_evaluation, structured_data,
    structured_outputs, transcript, messages[], events[] (processed event ids),
    history[] ({event_id, type, status, received_at, provider_time, applied}),
    created_at, updated_at

Lead outcome document (``lead_outcomes/{lead_key}``)::

    lead_key, lead_match, phone, timezone, calls{call_id: {disposition, final,
    ended_reason, ended_at, callback_at, summary}}, attempts, last_call_id,
    disposition, last_call_at, summary, callback_at, next_attempt_at, retry,
    updated_at, context{timezone, timezone_source, recipe, run_id, updated_at}

``context`` is written by the report step (`CallStore.set_lead_contexts`) when it
hands the lead to the callers: the lead's zone from its latest run. A document
with only a context is no outcome (`has_calls`).

The lead's zone (`lead_timezone`): the call's metadata ``timezone`` (the dialer
said so for this call), else the context's (the ``timezone`` lead column, else
the recipe's zone), else the lead's earlier calls', else the policy's default.

Ordering: a call's status only moves forward through `STATUS_ORDER`, and the
end-of-call report ranks above every status and is final. The lead's
disposition is its latest call's (by end time), and ``attempts`` counts its
calls with a disposition; see `common.calls.retry` for ``next_attempt_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.calls.callback_time import read_callback
from common.calls.retry import RetryPolicy, plan_retry
from common.ports.callstore import CallEvent, RecordOutcome, RecordResult

STATUS_ORDER = ("scheduled", "queued", "ringing", "in-progress", "forwarding", "ended")
"""The provider's call statuses, in the only order a call may move through."""
REPORT_RANK = len(STATUS_ORDER) + 1
"""Rank of the end-of-call report: above ``ended``, final."""
SUMMARY_MAX = 1000


def has_calls(doc: dict[str, Any] | None) -> bool:
    """Whether a lead outcome document holds calls (not only the report's context)."""
    return bool(doc and doc.get("calls"))


def lead_timezone(call: dict[str, Any], lead: dict[str, Any]) -> str | None:
    """The lead's zone: call metadata, then the latest run's context, then earlier calls."""
    context = lead.get("context") or {}
    return call.get("timezone") or context.get("timezone") or lead.get("timezone") or None


def event_rank(event: CallEvent) -> int:
    """Where the event puts the call in the order (1 = scheduled ... 7 = reported)."""
    if event.type == "end-of-call-report":
        return REPORT_RANK
    return STATUS_ORDER.index(event.status) + 1


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def resolve_lead(call: dict[str, Any] | None, event: CallEvent) -> tuple[str | None, str | None]:
    """The lead a call belongs to, and how it was matched (``metadata`` or ``phone``).

    The call's metadata names the lead when it can; else the customer's
    number is the lead key (the demo's lead keys are E.164 numbers).
    """
    call = call or {}
    named = event.lead_key or (
        call.get("lead_key") if call.get("lead_match") == "metadata" else None
    )
    if named:
        return named, "metadata"
    phone = event.phone or call.get("phone")
    return (phone, "phone") if phone else (None, None)


@dataclass(frozen=True)
class Applied:
    """What to write: the call (None for a duplicate: write nothing) and the lead (None: untouched)."""

    call: dict[str, Any] | None
    lead: dict[str, Any] | None
    result: RecordResult


def apply_event(
    call: dict[str, Any] | None,
    lead: dict[str, Any] | None,
    event: CallEvent,
    policy: RetryPolicy,
) -> Applied:
    """Apply ``event`` to the call and lead documents as read in the transaction.

    Args:
        call: The call document, or None when the call is new.
        lead: The outcome document of ``resolve_lead(call, event)``'s key, or
            None when there is none yet (or no key).
        event: The accepted message.
        policy: Retry intervals, cap and business hours.

    Returns:
        The new documents and the result; the inputs are not modified.
    """
    if call is not None and event.event_id in (call.get("events") or ()):
        return Applied(
            None,
            None,
            RecordResult(
                RecordOutcome.DUPLICATE,
                event.call_id,
                str(call.get("status")),
                call.get("lead_key"),
            ),
        )
    received = _iso(event.received_at)
    doc: dict[str, Any] = (
        dict(call)
        if call is not None
        else {"call_id": event.call_id, "status": None, "rank": 0, "created_at": received}
    )
    key, match = resolve_lead(call, event)
    doc.update(lead_key=key, lead_match=match)
    doc["phone"] = event.phone or doc.get("phone")
    doc["timezone"] = event.timezone or doc.get("timezone")

    rank = event_rank(event)
    applied = rank > int(doc.get("rank") or 0)
    doc["events"] = [*(doc.get("events") or []), event.event_id]
    doc["history"] = [
        *(doc.get("history") or []),
        {
            "event_id": event.event_id,
            "type": event.type,
            "status": event.status,
            "received_at": received,
            "provider_time": event.provider_time,
            "applied": applied,
        },
    ]
    if not applied:
        return Applied(
            doc, None, RecordResult(RecordOutcome.STALE, event.call_id, str(doc["status"]), key)
        )

    doc.update(
        status=event.status,
        rank=rank,
        final=rank == REPORT_RANK,
        updated_at=received,
    )
    doc.update({k: v for k, v in event.fields.items() if v is not None})
    if event.ended_at and not doc.get("ended_at"):
        doc["ended_at"] = _iso(event.ended_at)
    if event.disposition is None or key is None:
        return Applied(
            doc, None, RecordResult(RecordOutcome.APPLIED, event.call_id, event.status, key)
        )

    doc.update(disposition=event.disposition, disposition_final=event.final)
    outcome = _lead_outcome(lead, doc, event, key, match, policy)
    return Applied(
        doc,
        outcome,
        RecordResult(
            RecordOutcome.APPLIED,
            event.call_id,
            event.status,
            key,
            disposition=outcome["disposition"],
            next_attempt_at=outcome["next_attempt_at"],
        ),
    )


def _lead_outcome(
    lead: dict[str, Any] | None,
    call: dict[str, Any],
    event: CallEvent,
    key: str,
    match: str | None,
    policy: RetryPolicy,
) -> dict[str, Any]:
    """The lead's outcome once this call's disposition is known."""
    doc: dict[str, Any] = dict(lead) if lead else {"lead_key": key}
    doc.setdefault("created_at", _iso(event.received_at))
    calls: dict[str, dict[str, Any]] = dict(doc.get("calls") or {})
    summary = call.get("summary")
    timezone = lead_timezone(call, doc)
    ended_at = call.get("ended_at") or _iso(event.received_at)
    callback_at = event.callback_at
    if callback_at is None and event.callback_text:
        callback_at = read_callback(
            [event.callback_text],
            after=_time(ended_at) or event.received_at,
            zone=policy.zone(timezone),
        )
    calls[event.call_id] = {
        "disposition": event.disposition,
        "final": event.final,
        "ended_reason": call.get("ended_reason"),
        "ended_at": ended_at,
        "callback_at": _iso(callback_at),
        "summary": summary[:SUMMARY_MAX] if isinstance(summary, str) else None,
    }
    last_id, last = max(
        calls.items(),
        key=lambda item: (_time(item[1]["ended_at"]) or datetime.min.replace(tzinfo=UTC), item[0]),
    )
    last_at = _time(last["ended_at"]) or event.received_at
    plan = plan_retry(
        last["disposition"],
        attempts=len(calls),
        last_call_at=last_at,
        timezone=timezone,
        policy=policy,
        callback_at=_time(last.get("callback_at")),
    )
    doc.update(
        lead_key=key,
        lead_match=match if doc.get("lead_match") != "metadata" else "metadata",
        phone=call.get("phone") or doc.get("phone"),
        timezone=timezone,
        calls=calls,
        attempts=len(calls),
        last_call_id=last_id,
        disposition=last["disposition"],
        last_call_at=_iso(last_at),
        summary=last.get("summary"),
        callback_at=last.get("callback_at"),
        next_attempt_at=_iso(plan.next_attempt_at),
        retry=plan.reason,
        updated_at=_iso(event.received_at),
    )
    return doc
