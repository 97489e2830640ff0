"""Turn a parsed server message into the `CallEvent` the CallStore applies."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from common.calls import disposition as dispo
from common.calls.callback_time import asks_for_callback
from common.calls.models import EndOfCallReport, StatusUpdate, normalize_phone
from common.calls.transcripts import MAX_TRANSCRIPT, call_messages, customer_spoke
from common.ports.callstore import CallEvent


def body_hash(message: dict[str, Any]) -> str:
    """SHA-256 of the message's canonical JSON (key order and spacing do not matter)."""
    canonical = json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_id(call_id: str, kind: str, status: str, digest: str) -> str:
    """The identity of one message: call, type, status and body hash."""
    return hashlib.sha256(f"{call_id}\n{kind}\n{status}\n{digest}".encode()).hexdigest()[:40]


def _provider_time(value: float | str | None) -> tuple[str | None, datetime | None]:
    """The message's ``timestamp`` as sent, and as a time when it is epoch milliseconds or ISO."""
    if value is None:
        return None, None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return str(value), datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return str(value), None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value, None
    return value, moment.astimezone(UTC) if moment.tzinfo else None


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def build_event(
    message: EndOfCallReport | StatusUpdate, raw: dict[str, Any], *, received_at: datetime
) -> CallEvent:
    """The store's view of one accepted message.

    Args:
        message: The parsed message.
        raw: The same message as plain JSON (its hash is part of the identity).
        received_at: When the webhook accepted it (aware).
    """
    call_id = message.call.id
    metadata = message.metadata
    phone = normalize_phone(message.customer_number)
    sent, sent_at = _provider_time(message.timestamp)
    common: dict[str, Any] = {
        "call_id": call_id,
        "received_at": received_at,
        "lead_key": metadata.lead_key,
        "phone": phone,
        "timezone": metadata.timezone,
        "provider_time": sent,
    }
    digest = body_hash(raw)
    if isinstance(message, StatusUpdate):
        ended = message.status == "ended"
        return CallEvent(
            event_id=event_id(call_id, message.type, message.status, digest),
            type="status-update",
            status=message.status,
            ended_reason=message.ended_reason,
            disposition=dispo.provisional(message.ended_reason) if ended else None,
            final=False,
            ended_at=(sent_at or received_at) if ended else None,
            fields={"ended_reason": message.ended_reason} if message.ended_reason else {},
            **common,
        )
    analysis, artifact = message.analysis, message.artifact
    messages = call_messages(message, call_id=call_id, fallback_time=received_at)
    structured = dispo.flatten(analysis.structured_data, artifact.structured_outputs)
    outcome = dispo.classify(
        message.ended_reason,
        success_evaluation=analysis.success_evaluation,
        structured=structured,
        customer_spoke=customer_spoke(messages),
        callback_asked=asks_for_callback(analysis.summary),
    )
    callback_at = dispo.callback_time(structured)
    # Words are read once the lead's zone is known (in the store's transaction).
    callback_text = None
    if outcome == dispo.Disposition.CALLBACK_REQUESTED and callback_at is None:
        callback_text = dispo.callback_words(structured) or analysis.summary or None
    fields = {
        "ended_reason": message.ended_reason,
        "started_at": _iso(message.started_at),
        "ended_at": _iso(message.ended_at),
        "cost": message.cost,
        "summary": analysis.summary or None,
        "success_evaluation": analysis.success_evaluation,
        "structured_data": analysis.structured_data,
        "structured_outputs": artifact.structured_outputs,
        "transcript": (artifact.transcript or "")[:MAX_TRANSCRIPT] or None,
        "messages": messages,
    }
    return CallEvent(
        event_id=event_id(call_id, message.type, "ended", digest),
        type="end-of-call-report",
        status="ended",
        ended_reason=message.ended_reason,
        disposition=outcome.value,
        final=True,
        ended_at=message.ended_at or sent_at or received_at,
        callback_at=callback_at,
        callback_text=callback_text,
        fields=fields,
        **common,
    )
