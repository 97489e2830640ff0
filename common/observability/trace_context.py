"""One trace per run across the chain: W3C ``traceparent`` and Google's ``X-Cloud-Trace-Context``.

A run's first function takes the trace from its HTTP request (``traceparent``,
else ``X-Cloud-Trace-Context``, which Cloud Run sets on every request) or from
the Pub/Sub message that started it, and starts a new trace when there is none.
Every step runs as its own span (a new ``spanId``) of that trace, and every
message it publishes carries ``traceparent`` (the trace and the step's span)
as a Pub/Sub attribute, which the next step reads back from the push envelope
(``message.attributes``) or the CloudEvent. `common.logging` writes the trace
as ``logging.googleapis.com/trace`` (``projects/<project>/traces/<trace id>``)
and the span as ``logging.googleapis.com/spanId`` on every JSON line, so Logs
Explorer's "show entries for this trace" shows one run across functions.

Pure standard library on purpose: function entry points import it at start-up.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TRACEPARENT = "traceparent"
CLOUD_TRACE_HEADER = "X-Cloud-Trace-Context"

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$")
# TRACE_ID/SPAN_ID;o=OPTIONS, the span id in decimal; both parts after the trace optional.
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=([01]))?$")


@dataclass(frozen=True)
class TraceContext:
    """A trace id (32 hex digits) and the caller's span id (16 hex digits), when known."""

    trace_id: str
    parent_span_id: str | None = None
    sampled: bool = True


def parse_traceparent(value: Any) -> TraceContext | None:
    """A W3C ``traceparent`` (``00-<trace>-<span>-<flags>``); None when absent or invalid."""
    match = _TRACEPARENT.match(str(value or "").strip().lower())
    if not match:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return TraceContext(trace_id, span_id, bool(int(flags, 16) & 1))


def parse_cloud_trace_context(value: Any) -> TraceContext | None:
    """Google's ``X-Cloud-Trace-Context`` (``TRACE/SPAN;o=1``, span in decimal); None if invalid."""
    match = _CLOUD_TRACE.match(str(value or "").strip())
    if not match or match.group(1) == "0" * 32:
        return None
    trace_id, span, options = match.groups()
    span_id = None
    if span and 0 < int(span) < 2**64:
        span_id = f"{int(span):016x}"
    return TraceContext(trace_id.lower(), span_id, options != "0")


def from_headers(headers: Any) -> TraceContext | None:
    """The trace of an HTTP request: ``traceparent`` first, then ``X-Cloud-Trace-Context``."""
    if headers is None:
        return None
    return parse_traceparent(headers.get(TRACEPARENT)) or parse_cloud_trace_context(
        headers.get(CLOUD_TRACE_HEADER)
    )


def from_envelope(payload: Any) -> TraceContext | None:
    """The ``traceparent`` attribute of a Pub/Sub push envelope (``message.attributes``)."""
    message = payload.get("message") if isinstance(payload, Mapping) else None
    attributes = message.get("attributes") if isinstance(message, Mapping) else None
    if not isinstance(attributes, Mapping):
        return None
    return parse_traceparent(attributes.get(TRACEPARENT))


def new_trace_id() -> str:
    """A random trace id (32 hex digits, never all zeros)."""
    return secrets.token_hex(16).replace("0" * 32, "1" * 32)


def new_span_id() -> str:
    """A random span id (16 hex digits, never all zeros)."""
    return secrets.token_hex(8).replace("0" * 16, "1" * 16)


def format_traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    """``00-<trace>-<span>-01`` (``-00`` when not sampled)."""
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def current_traceparent() -> str | None:
    """The ``traceparent`` of the step running now (for the messages it publishes), or None."""
    from common.logging import current_trace

    trace_id, span_id = current_trace()
    if not trace_id or not re.fullmatch(r"[0-9a-f]{32}", trace_id):
        return None
    return format_traceparent(trace_id, span_id or new_span_id())
