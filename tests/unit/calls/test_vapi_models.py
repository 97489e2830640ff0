"""Server-message models: golden payloads parse; unknown fields pass; used fields are strict."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from common.calls.models import (
    EndOfCallReport,
    OtherMessage,
    StatusUpdate,
    normalize_phone,
    parse_envelope,
)
from common.errors import PayloadError
from tests.unit.calls.conftest import GOLDEN, golden_bytes

STATUSES = ["scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"]


def _parse(body: dict[str, Any]) -> Any:
    return parse_envelope(json.dumps(body).encode())[0]


def test_every_golden_payload_parses_to_its_type() -> None:
    names = sorted(p.stem for p in GOLDEN.glob("*.json"))
    assert len(names) == 14
    for name in names:
        message, raw = parse_envelope(golden_bytes(name))
        expected = {
            "end-of-call-report": EndOfCallReport,
            "status-update": StatusUpdate,
        }.get(name.split(".")[0], OtherMessage)
        assert type(message) is expected, name
        assert raw == json.loads(golden_bytes(name))["message"]


def test_end_of_call_report_fields() -> None:
    report, _ = parse_envelope(golden_bytes("end-of-call-report.recovered"))
    assert isinstance(report, EndOfCallReport)
    assert report.call.id == "0f8e5a52-1c3b-4d7e-9a61-6c2f0b9d8e41"
    assert report.ended_reason == "customer-ended-call"
    assert report.metadata.lead_key == "+5218164186522"
    assert report.metadata.timezone == "America/Mexico_City"
    assert report.analysis.structured_data == {
        "outcome": "recovered",
        "blocker": "missing_document",
        "next_step": "upload proof of address",
    }
    assert report.analysis.success_evaluation == "true"
    assert report.started_at == datetime(2026, 11, 20, 16, 2, 14, 104000, tzinfo=UTC)
    assert report.cost == pytest.approx(0.1873)
    assert report.customer_number == "+5218164186522"
    roles = [m.role for m in report.artifact.messages]
    assert roles[:2] == ["system", "bot"] and "tool_calls" in roles
    # Unknown fields are kept, not refused.
    assert report.model_extra is not None and report.model_extra["durationSeconds"] == 264.413


def test_metadata_from_assistant_overrides_and_camel_case_keys() -> None:
    report, _ = parse_envelope(golden_bytes("end-of-call-report.callback"))
    assert isinstance(report, EndOfCallReport)
    assert report.call.metadata is None
    assert report.metadata.lead_key == "+14047845491"
    assert report.metadata.timezone == "America/New_York"
    outputs = report.artifact.structured_outputs or {}
    assert {o["name"] for o in outputs.values()} == {"callback", "sentiment"}


def test_report_without_metadata_has_empty_metadata() -> None:
    report, _ = parse_envelope(golden_bytes("end-of-call-report.no-answer"))
    assert report.metadata.lead_key is None and report.metadata.timezone is None
    assert normalize_phone(report.customer_number) == "+573105550199"


@pytest.mark.parametrize("status", STATUSES)
def test_status_updates(status: str) -> None:
    update, _ = parse_envelope(golden_bytes(f"status-update.{status}"))
    assert isinstance(update, StatusUpdate)
    assert update.status == status
    assert update.ended_reason == ("customer-ended-call" if status == "ended" else None)


def test_unknown_types_are_other_messages() -> None:
    assert _parse({"message": {"type": "hang", "anything": [1, 2]}}) == OtherMessage(
        type="hang", anything=[1, 2]
    )
    assert isinstance(parse_envelope(golden_bytes("transcript"))[0], OtherMessage)


def _report(**changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "end-of-call-report",
        "endedReason": "customer-ended-call",
        "call": {"id": "c-1"},
    }
    message.update(changes)
    return {"message": message}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "message: Field required"),
        ({"message": "hello"}, "message: expected an object with a string `type`"),
        ({"message": {"type": 7}}, "message: expected an object with a string `type`"),
        ({"message": {"type": "status-update", "call": {"id": "c"}}}, "message.status"),
        (
            {"message": {"type": "status-update", "status": "paused", "call": {"id": "c"}}},
            "message.status: Input should be",
        ),
        ({"message": {"type": "status-update", "status": "ringing"}}, "message.call: Field"),
        (_report(call={}), "message.call.id: Field required"),
        (_report(call={"id": 12}), "message.call.id: Input should be a valid string"),
        (_report(call={"id": "a/b"}), "message.call.id: String should match pattern"),
        (_report(endedReason=None), "message.endedReason"),
        (_report(cost="0.12"), "message.cost"),
        (_report(startedAt="yesterday"), "message.startedAt"),
        (_report(analysis={"summary": 3}), "message.analysis.summary"),
        (_report(analysis={"structuredData": []}), "message.analysis.structuredData"),
        (_report(artifact={"messages": [{"message": "hi"}]}), "message.artifact.messages.0.role"),
        (
            _report(call={"id": "c", "metadata": {"lead_key": 5215512345678}}),
            "message.call.metadata.lead_key",
        ),
    ],
)
def test_malformed_bodies_fail_with_one_short_reason(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        _parse(body)
    assert caught.value.message.startswith(reason), caught.value.message
    assert "\n" not in caught.value.message and len(caught.value.message) <= 200


def test_not_json_is_refused() -> None:
    with pytest.raises(PayloadError, match="body is not valid JSON"):
        parse_envelope(b"{nope")


@pytest.mark.parametrize(
    ("number", "normal"),
    [
        ("+52 (81) 6418-6522", "+528164186522"),
        ("+5218164186522", "+5218164186522"),
        ("310 555 0199", "3105550199"),
        ("", None),
        (None, None),
        ("ext.", None),
    ],
)
def test_normalize_phone(number: str | None, normal: str | None) -> None:
    assert normalize_phone(number) == normal
