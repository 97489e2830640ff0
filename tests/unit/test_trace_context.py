"""Trace headers in, ``traceparent`` out, and the trace and span on every JSON log line."""

from __future__ import annotations

import io
import json
import logging

from common.logging import JsonFormatter, log_context
from common.observability import trace_context as tc

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_traceparent_is_read_and_invalid_ones_are_ignored() -> None:
    assert tc.parse_traceparent(f"00-{TRACE}-00f067aa0ba902b7-01") == tc.TraceContext(
        TRACE, "00f067aa0ba902b7", True
    )
    assert tc.parse_traceparent(f"00-{TRACE}-00f067aa0ba902b7-00").sampled is False
    for bad in (
        None,
        "",
        "garbage",
        f"ff-{TRACE}-00f067aa0ba902b7-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
    ):
        assert tc.parse_traceparent(bad) is None, bad


def test_cloud_trace_context_span_is_decimal() -> None:
    found = tc.parse_cloud_trace_context(f"{TRACE}/1234567890;o=1")
    assert found == tc.TraceContext(TRACE, f"{1234567890:016x}", True)
    assert tc.parse_cloud_trace_context(TRACE) == tc.TraceContext(TRACE, None, True)
    assert tc.parse_cloud_trace_context("nope/12") is None


def test_headers_prefer_traceparent_and_envelopes_read_the_attribute() -> None:
    other = "a" * 32
    headers = {
        "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
        "X-Cloud-Trace-Context": f"{other}/1",
    }
    assert tc.from_headers(headers).trace_id == TRACE
    assert tc.from_headers({"X-Cloud-Trace-Context": f"{other}/1"}).trace_id == other
    envelope = {
        "message": {"data": "", "attributes": {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}}
    }
    assert tc.from_envelope(envelope).trace_id == TRACE
    assert tc.from_envelope({"message": {"data": ""}}) is None


def test_json_lines_carry_trace_and_span_and_publishes_carry_traceparent(monkeypatch) -> None:
    monkeypatch.setenv("LR_PROJECT", "acme")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.trace_context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert tc.current_traceparent() is None
        with log_context(trace=TRACE, span="00f067aa0ba902b7", step="process"):
            logger.info("inside")
            assert tc.current_traceparent() == f"00-{TRACE}-00f067aa0ba902b7-01"
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue().splitlines()[0])
    assert entry["logging.googleapis.com/trace"] == f"projects/acme/traces/{TRACE}"
    assert entry["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
