"""Structured logs that Cloud Logging understands, readable in a terminal.

Every record carries the labels of the work it belongs to (``run_id``,
``recipe``, ``step``, ``shard``) from a context variable, so a step sets them
once and every library log line inherits them.

Customers' personal data is masked here, in one place, for every logger and
level: both formatters pass the finished line through `redact` (phone numbers
and e-mail addresses anywhere: message, arguments, structured ``fields``,
labels, stack traces), and the values of known personal fields in ``fields``
(`PII_FIELDS`: ``name``, ``phone``, ``customer_number``, ...) are replaced
whatever they look like. The limit: a name written in free text (a message
string, an exception's text) cannot be recognised here; code must pass names
only as structured fields, never in the message.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

_labels: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "lr_labels", default=MappingProxyType({})
)
_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("lr_trace", default=None)
_span: contextvars.ContextVar[str | None] = contextvars.ContextVar("lr_span", default=None)

PII_FIELDS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "customer_name",
        "lead_name",
        "phone",
        "phone_number",
        "customer_number",
        "email",
        "e_mail",
        "address",
    }
)
"""Keys of structured log ``fields`` whose values are personal whatever they look like."""

_EMAIL = re.compile(r"[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# A run of digits with the separators people write in numbers (space, dot, dash,
# parentheses): 10-15 digits, or 8-15 behind a "+". Dates (2026-11-20) and times
# have at most 8 digits between other characters, so they stay readable.
_PHONE = re.compile(r"(?<![\w+])(\+)?\(?\d(?:[ .()-]{0,2}\d){7,16}(?![\w])")
PHONE_MASK = "<PHONE>"
EMAIL_MASK = "<EMAIL>"
FIELD_MASK = "<REDACTED>"


def _phone_or_keep(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    low = 8 if match.group(1) else 10
    return PHONE_MASK if low <= digits <= 15 else match.group(0)


def redact(text: str) -> str:
    """Mask e-mail addresses and phone numbers in ``text``.

    Args:
        text: Any text bound for a log line.

    Returns:
        The text with ``<EMAIL>`` and ``<PHONE>`` in their place.
    """
    return _PHONE.sub(_phone_or_keep, _EMAIL.sub(EMAIL_MASK, text))


def redact_fields(value: Any) -> Any:
    """Structured log fields with known personal keys masked (nested mappings and lists too)."""
    if isinstance(value, Mapping):
        return {
            k: (FIELD_MASK if str(k).lower() in PII_FIELDS and v else redact_fields(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_fields(v) for v in value]
    return value


_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


@contextlib.contextmanager
def log_context(trace: str | None = None, span: str | None = None, **labels: Any) -> Iterator[None]:
    """Add labels (and optionally a trace id and a span id) to every log line inside the block.

    ``trace`` is the 32-hex-digit trace id and ``span`` the 16-hex-digit span
    id (`common.observability.trace_context`); the JSON lines carry them as
    ``logging.googleapis.com/trace`` and ``logging.googleapis.com/spanId``.
    """
    merged = {**_labels.get(), **{k: str(v) for k, v in labels.items() if v is not None}}
    token = _labels.set(merged)
    trace_token = _trace.set(trace) if trace else None
    span_token = _span.set(span) if span else None
    try:
        yield
    finally:
        _labels.reset(token)
        if trace_token is not None:
            _trace.reset(trace_token)
        if span_token is not None:
            _span.reset(span_token)


def current_trace() -> tuple[str | None, str | None]:
    """The trace id and span id in effect (what the messages published now carry)."""
    return _trace.get(), _span.get()


def current_labels() -> dict[str, str]:
    """The labels in effect (for run documents and tests)."""
    return dict(_labels.get())


class JsonFormatter(logging.Formatter):
    """One JSON object per line, in the shape Cloud Logging parses from stdout."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            "logging.googleapis.com/labels": dict(_labels.get()),
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            },
        }
        trace = _trace.get()
        project = os.environ.get("LR_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if trace:
            entry["logging.googleapis.com/trace"] = (
                f"projects/{project}/traces/{trace}" if project else trace
            )
            span = _span.get()
            if span:
                entry["logging.googleapis.com/spanId"] = span
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update(redact_fields(fields))
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Short human lines: time, level, labels, message."""

    def format(self, record: logging.LogRecord) -> str:
        labels = _labels.get()
        tag = " ".join(f"{k}={v}" for k, v in labels.items() if k in ("recipe", "step", "shard"))
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {('[' + tag + '] ') if tag else ''}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: Any = None) -> None:
    """Install one handler on the root logger (idempotent)."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_lead_recovery", False):
            root.removeHandler(existing)
    handler._lead_recovery = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in (
        "urllib3",
        "google.auth",
        "google.api_core",
        "grpc",
        "httpx",
        "httpx2",
        "openai",
        "google_genai",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
