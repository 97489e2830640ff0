"""The voice-call provider's server messages (Vapi-style), as pydantic models.

A request body is ``{"message": {"type": ..., "call": {"id": ...}, ...}}``.
The message is a union discriminated by ``type``: ``end-of-call-report`` and
``status-update`` are read; any other type parses as `OtherMessage` and is
acknowledged without effect. Every model keeps unknown fields (the provider
adds fields often); the fields this project uses are strict: a string is a
string, a status is one of the documented ones, a time is RFC 3339. Bodies are
always validated from JSON text (`parse_envelope`), where strict mode still
reads RFC 3339 strings as datetimes.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from common.errors import PayloadError

END_OF_CALL_REPORT = "end-of-call-report"
STATUS_UPDATE = "status-update"
HANDLED_TYPES = (END_OF_CALL_REPORT, STATUS_UPDATE)
OTHER = "other"

CallStatus = Literal["scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"]

# Call ids become document ids: no "/", bounded, printable (the provider sends UUIDs).
CallId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
LeadKey = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^/]+$")]


class _Model(BaseModel):
    """camelCase on the wire, snake_case here; unknown fields kept; used fields strict."""

    model_config = ConfigDict(
        extra="allow", strict=True, alias_generator=to_camel, populate_by_name=True
    )


class Customer(_Model):
    """The person called."""

    number: str | None = None


class CallMetadata(BaseModel):
    """What the dialer put in ``call.metadata`` (or ``assistantOverrides.metadata``)."""

    model_config = ConfigDict(extra="allow", strict=True)

    lead_key: LeadKey | None = Field(None, validation_alias=AliasChoices("lead_key", "leadKey"))
    timezone: str | None = Field(
        None, validation_alias=AliasChoices("timezone", "timeZone", "lead_timezone")
    )


class AssistantOverrides(_Model):
    """Per-call assistant settings; the dialer may put the lead's metadata here."""

    metadata: CallMetadata | None = None


class CallInfo(_Model):
    """The ``call`` object of a server message."""

    id: CallId
    customer: Customer | None = None
    metadata: CallMetadata | None = None
    assistant_overrides: AssistantOverrides | None = None


class Analysis(_Model):
    """The provider's post-call analysis."""

    summary: str | None = None
    structured_data: dict[str, Any] | None = None
    success_evaluation: bool | float | str | None = None


class ArtifactMessage(_Model):
    """One turn of the call (``role``: ``user``, ``bot``, ``system``, tool roles...)."""

    role: str
    message: str | None = None
    time: float | None = None
    """Epoch milliseconds."""
    seconds_from_start: float | None = None


class Artifact(_Model):
    """What the call produced: transcript, turns, structured outputs."""

    transcript: str | None = None
    messages: list[ArtifactMessage] = Field(default_factory=list)
    structured_outputs: dict[str, Any] | None = None


class _CallMessage(_Model):
    call: CallInfo
    customer: Customer | None = None
    timestamp: float | str | None = None

    @property
    def metadata(self) -> CallMetadata:
        """The call's metadata, else the assistant overrides' (empty when neither)."""
        if self.call.metadata is not None:
            return self.call.metadata
        overrides = self.call.assistant_overrides
        if overrides is not None and overrides.metadata is not None:
            return overrides.metadata
        return CallMetadata()

    @property
    def customer_number(self) -> str | None:
        """The customer's number from the message, else from the call."""
        for customer in (self.customer, self.call.customer):
            if customer is not None and customer.number:
                return customer.number
        return None


class EndOfCallReport(_CallMessage):
    """Sent once the call ended and the provider's analysis is done."""

    type: Literal["end-of-call-report"]
    ended_reason: str = Field(min_length=1)
    analysis: Analysis = Field(default_factory=Analysis)
    artifact: Artifact = Field(default_factory=Artifact)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    cost: float | None = None


class StatusUpdate(_CallMessage):
    """Sent at each change of the call's status."""

    type: Literal["status-update"]
    status: CallStatus
    ended_reason: str | None = None


class OtherMessage(_Model):
    """Any other message type (``transcript``, ``speech-update``, ...): acknowledged, ignored."""

    type: str


def _message_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if kind in HANDLED_TYPES:
        return str(kind)
    return OTHER if isinstance(kind, str) else None


ServerMessage = Annotated[
    Annotated[EndOfCallReport, Tag(END_OF_CALL_REPORT)]
    | Annotated[StatusUpdate, Tag(STATUS_UPDATE)]
    | Annotated[OtherMessage, Tag(OTHER)],
    Discriminator(
        _message_tag,
        custom_error_type="message_type",
        custom_error_message="expected an object with a string `type`",
    ),
]


class Envelope(BaseModel):
    """The request body: ``{"message": {...}}`` plus whatever else the provider sends."""

    model_config = ConfigDict(extra="allow", strict=True)

    message: ServerMessage


_TAGS = {END_OF_CALL_REPORT, STATUS_UPDATE, OTHER}
_REASON_MAX = 200


def short_reason(err: ValidationError) -> str:
    """One line naming the first invalid field, e.g. ``message.call.id: Field required``."""
    first = err.errors(include_url=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return "body is not valid JSON"
    loc = ".".join(str(p) for p in first["loc"] if p not in _TAGS)
    reason = f"{loc}: {first['msg']}" if loc else str(first["msg"])
    return reason[:_REASON_MAX]


def parse_envelope(raw: bytes) -> tuple[EndOfCallReport | StatusUpdate | OtherMessage, dict]:
    """The message of a request body, and the message as plain JSON (for its identity).

    Raises:
        PayloadError: the body is not JSON or not a server message; the
            message is one short line fit for a 400 answer.
    """
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError as err:
        raise PayloadError(short_reason(err), where="call-webhook body") from err
    data = json.loads(raw)
    return envelope.message, data["message"]


_PHONE_JUNK = re.compile(r"[^\d+]")


def normalize_phone(number: str | None) -> str | None:
    """``+52 (81) 6418-6522`` → ``+528164186522``; None when no digit is left."""
    if not number:
        return None
    cleaned = _PHONE_JUNK.sub("", number.strip())
    plus = cleaned.startswith("+")
    digits = cleaned.replace("+", "")
    if not digits:
        return None
    return f"+{digits}" if plus else digits
