"""What a voice call means for its lead: a disposition from the provider's report.

The decision reads, in this order (docs/calls.md has the same table):

1. ``endedReason``: a call that never reached the customer is ``no_answer``,
   ``voicemail``, ``busy`` or ``failed`` whatever else the report says.
2. The structured data the assistant extracted (``analysis.structuredData``
   and ``artifact.structuredOutputs``): an explicit outcome field
   (``outcome``, ``disposition``, ``call_outcome``, ``result``, ``status``)
   or a boolean flag (``callback_requested``, ``not_interested``,
   ``do_not_call``, ``wrong_number``, ``recovered``, ``interested``).
3. ``analysis.successEvaluation``: a pass (``true``, ``pass``, a high score or
   grade) is ``recovered``; a fail is ``no_decision``.
4. A connected call where the customer never spoke is ``no_answer``;
   anything else connected is ``no_decision``.

=====================  ================================================  =========
disposition            typical source                                    retried?
=====================  ================================================  =========
recovered              outcome ``recovered``/``interested``, a passing   no
                       success evaluation
callback_requested     outcome ``callback``, ``callback_requested: true``  at the time asked
not_interested         outcome ``not_interested``/``declined``/``dnc``   no
wrong_number           outcome ``wrong_number``                          no
no_decision            connected, nothing decisive                       no
no_answer              ``customer-did-not-answer``, silence with no      yes
                       customer speech
voicemail              ``voicemail``                                     yes
busy                   ``customer-busy``                                 yes
failed                 ``*-failed-to-connect-*``, ``call.start.error-*``,  yes
                       ``pipeline-error-*``, other errors
=====================  ================================================  =========
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Disposition(StrEnum):
    """The outcome of one call for its lead."""

    RECOVERED = "recovered"
    CALLBACK_REQUESTED = "callback_requested"
    NOT_INTERESTED = "not_interested"
    WRONG_NUMBER = "wrong_number"
    NO_DECISION = "no_decision"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    FAILED = "failed"


RETRYABLE = frozenset(
    {Disposition.NO_ANSWER, Disposition.VOICEMAIL, Disposition.BUSY, Disposition.FAILED}
)
"""Dispositions that schedule another attempt (within `call_max_attempts`)."""

# ---- 1. endedReason ---------------------------------------------------------------------
# Exact reasons first, then patterns; a reason matching none is a connected call
# unless it looks like an error.
_UNREACHED_EXACT: dict[str, Disposition] = {
    "customer-did-not-answer": Disposition.NO_ANSWER,
    "customer-busy": Disposition.BUSY,
    "voicemail": Disposition.VOICEMAIL,
    "assistant-join-timed-out": Disposition.FAILED,
    "manually-canceled": Disposition.FAILED,
    "scheduled-call-deleted": Disposition.FAILED,
    "phone-call-provider-closed-websocket": Disposition.FAILED,
    "customer-did-not-give-microphone-permission": Disposition.FAILED,
}
_UNREACHED_PATTERNS: tuple[tuple[re.Pattern[str], Disposition], ...] = (
    (re.compile(r"no-?answer|did-not-answer"), Disposition.NO_ANSWER),
    (re.compile(r"voicemail|machine-detected"), Disposition.VOICEMAIL),
    (re.compile(r"busy"), Disposition.BUSY),
    (
        re.compile(
            r"failed-to-connect|call\.start\.error|^call-start-error|pipeline-error|"
            r"\.error-|^assistant-(not-|request-|error)|error|fault|failed|invalid|not-found|misdial"
        ),
        Disposition.FAILED,
    ),
)
CONNECTED_REASONS = frozenset(
    {
        "customer-ended-call",
        "assistant-ended-call",
        "assistant-ended-call-after-message-spoken",
        "assistant-ended-call-with-hangup-task",
        "assistant-said-end-call-phrase",
        "assistant-forwarded-call",
        "silence-timed-out",
        "exceeded-max-duration",
    }
)
"""Reasons of calls that reached the customer: the report's analysis decides."""


def unreached(ended_reason: str | None) -> Disposition | None:
    """The disposition of a call that never reached the customer, else None.

    Args:
        ended_reason: The provider's ``endedReason`` (None or empty: unknown).
    """
    reason = (ended_reason or "").strip().lower()
    if not reason or reason in CONNECTED_REASONS:
        return None
    if reason in _UNREACHED_EXACT:
        return _UNREACHED_EXACT[reason]
    for pattern, disposition in _UNREACHED_PATTERNS:
        if pattern.search(reason):
            return disposition
    return None


# ---- 2. structured data ---------------------------------------------------------------
_OUTCOME_FIELDS = ("outcome", "disposition", "call_outcome", "calloutcome", "result", "status")
_OUTCOME_WORDS: dict[Disposition, frozenset[str]] = {
    Disposition.RECOVERED: frozenset(
        {
            "recovered",
            "interested",
            "converted",
            "accepted",
            "agreed",
            "resumed",
            "completed_application",
            "application_completed",
            "sale",
            "won",
            "success",
            "qualified",
        }
    ),
    Disposition.CALLBACK_REQUESTED: frozenset(
        {"callback", "callback_requested", "call_back", "call_back_later", "call_me_later"}
    ),
    Disposition.NOT_INTERESTED: frozenset(
        {
            "not_interested",
            "declined",
            "rejected",
            "refused",
            "do_not_call",
            "dnc",
            "opt_out",
            "opted_out",
            "lost",
            "unqualified",
        }
    ),
    Disposition.WRONG_NUMBER: frozenset({"wrong_number", "wrong_person"}),
    Disposition.VOICEMAIL: frozenset({"voicemail", "answering_machine"}),
    Disposition.NO_ANSWER: frozenset({"no_answer"}),
    Disposition.BUSY: frozenset({"busy"}),
}
# Boolean flags, checked in this order (a declined callback is still "not interested").
_FLAGS: tuple[tuple[tuple[str, ...], Disposition], ...] = (
    (("do_not_call", "not_interested", "opt_out"), Disposition.NOT_INTERESTED),
    (("wrong_number",), Disposition.WRONG_NUMBER),
    (("callback_requested", "callback", "wants_callback"), Disposition.CALLBACK_REQUESTED),
    (("recovered", "interested", "converted"), Disposition.RECOVERED),
)
_CALLBACK_TIME_FIELDS = ("callback_at", "callback_time", "callback_datetime", "call_back_at")


def _norm_key(key: str) -> str:
    """``callbackRequested``, ``callback-requested`` and ``Callback Requested`` alike."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)
    return re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")


def flatten(*sources: Mapping[str, Any] | None) -> dict[str, Any]:
    """One flat map of normalised keys from structured data and structured outputs.

    ``artifact.structuredOutputs`` maps an output id to ``{"name": ..., "result": ...}``;
    a result that is a map is merged, a scalar result is filed under its name.
    """
    flat: dict[str, Any] = {}
    for source in sources:
        for key, value in (source or {}).items():
            if isinstance(value, Mapping) and "result" in value:
                result = value.get("result")
                if isinstance(result, Mapping):
                    flat.update({_norm_key(str(k)): v for k, v in result.items()})
                elif isinstance(value.get("name"), str):
                    flat[_norm_key(value["name"])] = result
            elif isinstance(value, Mapping):
                flat.update({_norm_key(str(k)): v for k, v in value.items()})
            else:
                flat[_norm_key(str(key))] = value
    return flat


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "y", "1", "si", "sí"}
    return False


def from_structured(data: Mapping[str, Any]) -> Disposition | None:
    """The disposition an assistant's extracted data states, if it states one.

    Args:
        data: `flatten` output (normalised keys).
    """
    for name in _OUTCOME_FIELDS:
        value = data.get(name)
        if isinstance(value, str):
            word = _norm_key(value)
            for disposition, words in _OUTCOME_WORDS.items():
                if word in words:
                    return disposition
    for names, disposition in _FLAGS:
        if any(_truthy(data.get(n)) for n in names):
            return disposition
    return None


def callback_time(data: Mapping[str, Any]) -> datetime | None:
    """The callback time the customer asked for (an ISO 8601 value), in UTC."""
    for name in _CALLBACK_TIME_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            try:
                moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is None:
                continue  # a wall time without a zone is ambiguous: ignore it
            return moment.astimezone(UTC)
    return None


def callback_words(data: Mapping[str, Any]) -> str | None:
    """A callback time field that holds words ("lunes a las 4") rather than ISO 8601."""
    for name in _CALLBACK_TIME_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            try:
                datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                return value.strip()
    return None


# ---- 3. success evaluation -----------------------------------------------------------
_PASS_WORDS = frozenset({"true", "pass", "passed", "yes", "success", "successful", "excellent"})
_PASS_WORDS |= {"good", "a", "b", "perfect"}
_FAIL_WORDS = frozenset(
    {"false", "fail", "failed", "no", "unsuccessful", "poor", "bad", "d", "e", "f", "fair"}
)


def evaluation_passed(value: str | bool | float | None) -> bool | None:
    """Whether a success evaluation (any of the provider's rubrics) is a pass.

    Booleans and ``true``/``false``/``pass``/``fail``; letter grades (A and B
    pass); descriptive (Excellent, Good and Perfect pass); numbers on a 0-1,
    1-5, 1-10 or 0-100 scale (at least 0.7, 4, 7 or 70 pass). None when absent
    or unreadable.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = value.strip().lower()
        if text in _PASS_WORDS:
            return True
        if text in _FAIL_WORDS:
            return False
        match = re.fullmatch(r"(\d+(?:\.\d+)?)(?:\s*/\s*(\d+))?", text)
        if not match:
            return None
        number = float(match.group(1))
        if match.group(2):
            return number / float(match.group(2)) >= 0.7
    if number < 0:
        return None
    if number <= 1:
        return number >= 0.7
    if number <= 5:
        return number >= 4
    if number <= 10:
        return number >= 7
    if number <= 100:
        return number >= 70
    return None


# ---- the whole decision ----------------------------------------------------------------
def classify(
    ended_reason: str | None,
    *,
    success_evaluation: str | bool | float | None = None,
    structured: Mapping[str, Any] | None = None,
    customer_spoke: bool | None = None,
    callback_asked: bool = False,
) -> Disposition:
    """The disposition of an ended call (see the module docstring for the order).

    Args:
        ended_reason: The provider's ``endedReason``.
        success_evaluation: ``analysis.successEvaluation``.
        structured: `flatten` output of the structured data and outputs.
        customer_spoke: Whether the transcript has a customer turn (None: unknown).
        callback_asked: The summary says the customer asked to be called back
            (`common.calls.callback_time.asks_for_callback`).
    """
    if (reached_not := unreached(ended_reason)) is not None:
        return reached_not
    if structured and (stated := from_structured(structured)) is not None:
        return stated
    passed = evaluation_passed(success_evaluation)
    if passed:
        return Disposition.RECOVERED
    if callback_asked and customer_spoke is not False:
        return Disposition.CALLBACK_REQUESTED
    if customer_spoke is False:
        return Disposition.NO_ANSWER
    return Disposition.NO_DECISION


def provisional(ended_reason: str | None) -> Disposition | None:
    """The disposition an ``ended`` status update already decides (an unreached call).

    A connected call waits for its end-of-call report, whose analysis decides.
    """
    return unreached(ended_reason)
