"""Realistic provider messages for demos, tests and the load benchmark (no provider needed).

`call_sequence` gives what the provider sends for one call to one lead
(status updates, then the end-of-call report) for a chosen outcome, and
`auth_headers` signs a body the way ``LR_CALL_WEBHOOK_*`` expects, so
``scripts/simulate_calls.py`` and ``benchmarks/webhook`` talk to the real
webhook exactly as the provider would.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from common.calls.auth import SECRET_HEADER, sign

if TYPE_CHECKING:
    from common.settings import Settings

_NS = uuid.UUID("7d4c1f0e-2b1a-4c3d-9e8f-0a1b2c3d4e5f")

# outcome → (endedReason, structuredData, successEvaluation, turns)
OUTCOMES: dict[str, tuple[str, dict[str, Any] | None, str | None, list[tuple[str, str]]]] = {
    "recovered": (
        "customer-ended-call",
        {"outcome": "recovered", "next_step": "finish the application today"},
        "true",
        [
            ("bot", "Hi {name}, this is Vale from Finvera about your application."),
            ("user", "Yes, I got stuck uploading a document."),
            ("bot", "I just sent you the link; it takes two minutes."),
            ("user", "Great, I'll finish it today."),
        ],
    ),
    "callback_requested": (
        "customer-ended-call",
        {"outcome": "callback", "callback_requested": True},
        "false",
        [
            ("bot", "Hi {name}, this is Vale from Finvera."),
            ("user", "I'm busy now, call me tomorrow please."),
        ],
    ),
    "not_interested": (
        "customer-ended-call",
        {"outcome": "not_interested"},
        "false",
        [
            ("bot", "Hi {name}, this is Vale from Finvera about your offer."),
            ("user", "No thanks, I'm not interested anymore."),
        ],
    ),
    "no_answer": ("customer-did-not-answer", None, None, []),
    "voicemail": ("voicemail", None, None, [("bot", "Hi {name}, please call us back.")]),
    "busy": ("customer-busy", None, None, []),
    "failed": ("twilio-failed-to-connect-call", None, None, []),
}
STATUSES_CONNECTED = ("queued", "ringing", "in-progress", "ended")
STATUSES_UNREACHED = ("queued", "ringing", "ended")


def call_id_for(*parts: str) -> str:
    """A deterministic UUID call id (the same parts give the same call)."""
    return str(uuid.uuid5(_NS, "/".join(parts)))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _call(call_id: str, phone: str, metadata: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "orgId": "00000000-0000-4000-8000-000000000001",
        "type": "outboundPhoneCall",
        "status": status,
        "customer": {"number": phone},
        "metadata": metadata,
        "phoneCallProvider": "twilio",
    }


def status_update(
    call_id: str,
    status: str,
    *,
    phone: str,
    metadata: dict[str, Any],
    at: datetime,
    ended_reason: str | None = None,
) -> dict[str, Any]:
    """A ``status-update`` body."""
    message: dict[str, Any] = {
        "timestamp": _ms(at),
        "type": "status-update",
        "status": status,
        "customer": {"number": phone},
        "call": _call(call_id, phone, metadata, status),
    }
    if ended_reason:
        message["endedReason"] = ended_reason
    return {"message": message}


def end_of_call_report(
    call_id: str,
    outcome: str,
    *,
    phone: str,
    metadata: dict[str, Any],
    started_at: datetime,
    name: str = "there",
) -> dict[str, Any]:
    """An ``end-of-call-report`` body for one of `OUTCOMES`."""
    reason, structured, evaluation, turns = OUTCOMES[outcome]
    messages, lines = [], []
    clock = started_at + timedelta(seconds=1)
    for role, template in turns:
        text = template.format(name=name)
        messages.append(
            {
                "role": role,
                "message": text,
                "time": _ms(clock),
                "secondsFromStart": (clock - started_at).total_seconds(),
            }
        )
        lines.append(f"{'AI' if role == 'bot' else 'User'}: {text}")
        clock += timedelta(seconds=4 + len(text) // 12)
    ended_at = clock + timedelta(seconds=1)
    analysis: dict[str, Any] = {"summary": f"Simulated call: {outcome.replace('_', ' ')}."}
    if structured is not None:
        analysis["structuredData"] = structured
    if evaluation is not None:
        analysis["successEvaluation"] = evaluation
    return {
        "message": {
            "timestamp": _ms(ended_at + timedelta(seconds=2)),
            "type": "end-of-call-report",
            "endedReason": reason,
            "analysis": analysis,
            "artifact": {"messages": messages, "transcript": "\n".join(lines)},
            "startedAt": _iso(started_at),
            "endedAt": _iso(ended_at),
            "cost": round(0.01 + 0.02 * len(turns), 4),
            "customer": {"number": phone},
            "call": _call(call_id, phone, metadata, "ended"),
        }
    }


def call_sequence(
    lead_key: str,
    outcome: str,
    *,
    started_at: datetime,
    phone: str | None = None,
    timezone: str | None = None,
    name: str = "there",
    attempt: int = 1,
) -> list[dict[str, Any]]:
    """Every message the provider sends for one call, in order.

    Args:
        lead_key: The lead (put in ``call.metadata.lead_key``).
        outcome: One of `OUTCOMES`.
        started_at: When the call starts.
        phone: The customer's number (the lead key by default, as in the demo data).
        timezone: The lead's zone, passed in the metadata.
        name: Used in the simulated transcript.
        attempt: Makes the call id differ between attempts to the same lead.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    call_id = call_id_for(lead_key, str(attempt), started_at.isoformat())
    phone = phone or lead_key
    metadata: dict[str, Any] = {"lead_key": lead_key}
    if timezone:
        metadata["timezone"] = timezone
    reason = OUTCOMES[outcome][0]
    statuses = STATUSES_CONNECTED if OUTCOMES[outcome][3] else STATUSES_UNREACHED
    bodies = [
        status_update(
            call_id,
            status,
            phone=phone,
            metadata=metadata,
            at=started_at - timedelta(seconds=len(statuses) - i),
            ended_reason=reason if status == "ended" else None,
        )
        for i, status in enumerate(statuses)
    ]
    bodies.append(
        end_of_call_report(
            call_id, outcome, phone=phone, metadata=metadata, started_at=started_at, name=name
        )
    )
    return bodies


def auth_headers(settings: Settings, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The headers the provider adds to ``body`` under these settings (first secret)."""
    if not settings.call_webhook_secret:
        raise ValueError("no LR_CALL_WEBHOOK_SECRET to sign with")
    secret = settings.call_webhook_secret[0].get_secret_value()
    if settings.call_webhook_auth == "secret":
        return {SECRET_HEADER: secret}
    stamp = str(int(time.time() if now is None else now))
    return {
        settings.call_webhook_timestamp_header: stamp,
        settings.call_webhook_signature_header: sign(
            body,
            secret,
            timestamp=stamp,
            algorithm=settings.call_webhook_hmac_algorithm,
            payload=settings.call_webhook_signed_payload,
            encoding=settings.call_webhook_signature_encoding,
            prefix=settings.call_webhook_signature_prefix,
        ),
    }
