"""The disposition table: endedReason first, then structured data, then the success evaluation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from common.calls.disposition import (
    RETRYABLE,
    Disposition,
    callback_time,
    classify,
    evaluation_passed,
    flatten,
    provisional,
)

D = Disposition


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("customer-did-not-answer", D.NO_ANSWER),
        ("voicemail", D.VOICEMAIL),
        ("customer-busy", D.BUSY),
        ("twilio-failed-to-connect-call", D.FAILED),
        ("vonage-failed-to-connect-call", D.FAILED),
        ("call.start.error-get-customer", D.FAILED),
        ("pipeline-error-openai-llm-failed", D.FAILED),
        ("call.in-progress.error-vapifault-openai-llm-failed", D.FAILED),
        ("assistant-join-timed-out", D.FAILED),
        ("assistant-not-found", D.FAILED),
        ("manually-canceled", D.FAILED),
        ("sip-outbound-call-failed-to-connect", D.FAILED),
        ("twilio-reported-customer-misdialed", D.FAILED),
        ("customer-ended-call", None),
        ("assistant-ended-call", None),
        ("assistant-forwarded-call", None),
        ("silence-timed-out", None),
        ("exceeded-max-duration", None),
        ("", None),
        (None, None),
    ],
)
def test_ended_reason_of_unreached_calls(reason: str | None, expected: Disposition | None) -> None:
    assert provisional(reason) == expected


@pytest.mark.parametrize(
    ("structured", "expected"),
    [
        ({"outcome": "recovered"}, D.RECOVERED),
        ({"outcome": "Interested"}, D.RECOVERED),
        ({"disposition": "callback"}, D.CALLBACK_REQUESTED),
        ({"callOutcome": "Call back later"}, D.CALLBACK_REQUESTED),
        ({"outcome": "not interested"}, D.NOT_INTERESTED),
        ({"result": "DNC"}, D.NOT_INTERESTED),
        ({"outcome": "wrong-number"}, D.WRONG_NUMBER),
        ({"callbackRequested": True}, D.CALLBACK_REQUESTED),
        ({"callback_requested": "yes"}, D.CALLBACK_REQUESTED),
        ({"do_not_call": True, "callback_requested": True}, D.NOT_INTERESTED),
        ({"interested": True}, D.RECOVERED),
        ({"interested": False, "notes": "maybe later"}, D.NO_DECISION),
        ({"outcome": "something else"}, D.NO_DECISION),
    ],
)
def test_structured_data_of_connected_calls(
    structured: dict[str, Any], expected: Disposition
) -> None:
    assert classify("customer-ended-call", structured=flatten(structured)) == expected


def test_structured_outputs_are_flattened() -> None:
    outputs = {
        "uuid-1": {"name": "callback", "result": {"callbackRequested": True}},
        "uuid-2": {"name": "Outcome", "result": "not_interested"},
    }
    flat = flatten({"blocker": "docs"}, outputs)
    assert flat == {"blocker": "docs", "callback_requested": True, "outcome": "not_interested"}
    # The explicit outcome field wins over flags.
    assert classify("customer-ended-call", structured=flat) == D.NOT_INTERESTED


@pytest.mark.parametrize(
    ("value", "passed"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("Pass", True),
        ("fail", False),
        ("A", True),
        ("C", None),
        ("F", False),
        ("Excellent", True),
        ("Poor", False),
        (8, True),
        (6, False),
        ("9", True),
        ("4", True),
        ("3", False),
        (0.9, True),
        (75, True),
        (50, False),
        ("7/10", True),
        ("2/5", False),
        ("no idea", None),
        (None, None),
        (-1, None),
    ],
)
def test_success_evaluation_rubrics(value: Any, passed: bool | None) -> None:
    assert evaluation_passed(value) is passed


def test_order_of_the_decision() -> None:
    recovered = flatten({"outcome": "recovered"})
    # An unreached call is unreached, whatever the analysis claims.
    assert classify("voicemail", success_evaluation="true", structured=recovered) == D.VOICEMAIL
    # Structured data beats the success evaluation.
    assert classify(
        "customer-ended-call", success_evaluation="true", structured=flatten({"outcome": "dnc"})
    ) == (D.NOT_INTERESTED)
    # The evaluation decides when nothing is stated.
    assert classify("customer-ended-call", success_evaluation="true") == D.RECOVERED
    assert classify("customer-ended-call", success_evaluation="false") == D.NO_DECISION
    # A connected call where the customer never spoke is unanswered in effect.
    assert classify("silence-timed-out", customer_spoke=False) == D.NO_ANSWER
    assert classify("silence-timed-out", customer_spoke=None) == D.NO_DECISION


def test_retryable_set() -> None:
    assert {d.value for d in RETRYABLE} == {"no_answer", "voicemail", "busy", "failed"}


def test_callback_time() -> None:
    when = callback_time(flatten({"callbackAt": "2026-11-23T15:00:00-05:00"}))
    assert when == datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    assert callback_time({"callback_at": "2026-11-23T15:00:00"}) is None  # no zone
    assert callback_time({"callback_at": "tomorrow"}) is None
    assert callback_time({}) is None
