"""CallStore port: voice calls and their outcome on each lead, applied idempotently.

The call-webhook turns every provider message it accepts into a `CallEvent`
and hands it to `CallStore.record`, which applies it in one transaction over
two documents: the call (``calls/{call_id}``) and the lead's outcome
(``lead_outcomes/{lead_key}``). The rules that decide what changes live in
`common.calls.state` and are shared by every adapter, so SQLite and Firestore
cannot drift apart:

- an event's identity (`CallEvent.event_id`) is the call id, the message type,
  the status and a hash of the message body; an identity the call has already
  processed changes nothing (``duplicate``);
- a call moves forward only, through `common.calls.state.STATUS_ORDER`
  (scheduled → queued → ringing → in-progress → forwarding → ended → report);
  an event that is not ahead of the call is kept in its history and changes
  nothing else (``stale``); the end-of-call report is final.

Documents are JSON-shaped (datetimes as ISO 8601 strings) on every adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

EventType = Literal["status-update", "end-of-call-report"]


class RecordOutcome(StrEnum):
    """What `CallStore.record` did with an event."""

    APPLIED = "applied"  # the call (and maybe the lead) moved forward
    STALE = "stale"  # new, but not ahead of the call: kept in its history only
    DUPLICATE = "duplicate"  # already processed: nothing changed


@dataclass(frozen=True)
class CallEvent:
    """One accepted provider message, reduced to what the store needs.

    Attributes:
        event_id: Identity of the message (see the module docstring).
        call_id: The provider's call id.
        type: ``status-update`` or ``end-of-call-report``.
        status: The provider's call status (``ended`` for an end-of-call report).
        received_at: When the webhook accepted it (UTC).
        lead_key: The lead named by the call's metadata, if any.
        phone: The customer's number, normalised (the fallback lead key).
        timezone: The lead's IANA time zone from the call's metadata, if any.
        ended_reason: The provider's ``endedReason``, if the message has one.
        disposition: What the call means for the lead (`common.calls.disposition`),
            or None when this message does not decide it.
        final: True for the end-of-call report's disposition, False for the
            provisional one of an ``ended`` status update.
        ended_at: When the call ended, if known.
        callback_at: When the customer asked to be called back, if they did.
        callback_text: The customer's words for that time ("el lunes a las 4"),
            when no exact time was given; read in the lead's zone by the store.
        fields: Call-document fields this message sets (JSON-shaped).
        provider_time: The message's own ``timestamp`` as sent, for the history.
    """

    event_id: str
    call_id: str
    type: EventType
    status: str
    received_at: datetime
    lead_key: str | None = None
    phone: str | None = None
    timezone: str | None = None
    ended_reason: str | None = None
    disposition: str | None = None
    final: bool = False
    ended_at: datetime | None = None
    callback_at: datetime | None = None
    callback_text: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    provider_time: str | None = None


@dataclass(frozen=True)
class RecordResult:
    """The effect of one `CallStore.record`."""

    outcome: RecordOutcome
    call_id: str
    status: str
    """The call's status after the event."""
    lead_key: str | None = None
    disposition: str | None = None
    """The lead's disposition after the event (None when the lead was not touched)."""
    next_attempt_at: str | None = None
    """The lead's next call attempt (ISO 8601 UTC), None for no further attempt."""


class CallStore(Protocol):
    """Calls and lead outcomes, shared by the webhook (writes) and the report (reads)."""

    def record(self, event: CallEvent) -> RecordResult:
        """Apply ``event`` to its call and lead in one transaction (idempotent).

        Raises:
            TransientError: the store is unavailable or too contended; the
                provider's retry of the same message is then harmless.
        """
        ...

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        """The call document (status, history, analysis, transcript), or None."""
        ...

    def list_calls(self) -> list[dict[str, Any]]:
        """Every call document, by call id (benchmarks, operations; not for hot paths)."""
        ...

    def lead_outcomes(self, lead_keys: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Lead key → outcome document, for the given leads (every lead when None).

        Leads without any call are absent.
        """
        ...

    def set_lead_contexts(self, contexts: Mapping[str, Mapping[str, Any]]) -> None:
        """Record each lead's call context (``timezone``, ``timezone_source``, ``recipe``, ...).

        The report step writes it when it hands leads to the callers; the
        webhook reads it with the lead's outcome, in the same transaction, so
        retries are planned in the lead's zone without a warehouse query.
        It replaces the lead's ``context`` field and nothing else.
        """
        ...

    def transcripts(self, lead_keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Call transcripts as conversation messages (every lead's when None).

        Each row has ``message_id``, ``lead_key``, ``sent_at`` (ISO 8601 UTC),
        ``sender`` (``user`` or ``bot``), ``text`` and ``call_id``; rows are
        sorted by lead key, time and message id. Calls matched to no lead are left out.
        """
        ...
