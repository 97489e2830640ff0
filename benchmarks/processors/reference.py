"""Straightforward per-conversation pandas versions of the seven processors.

The benchmark's yardstick: the way these features are usually written, one
conversation at a time (``for lead, chat in df.groupby("lead_key")``), with
Python's ``re``. Each function takes the same typed params as the processor and
the normalised messages as a pandas frame, and returns a polars frame with the
processor's declared schema, so the outputs can be compared exactly.

Python ``re`` and the Rust engine of polars agree on the benchmark's patterns
and texts; they differ on a few exotic "word" characters (the emoji
zero-width joiner, combining accents), which the generated texts avoid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import polars as pl

from common.processors import Processor, ProcessorContext
from common.processors.conversation_state import ConversationStateParams
from common.processors.handoff import HandoffParams
from common.processors.human_transfer import HumanTransferParams
from common.processors.metadata import MessageMetadataParams
from common.processors.template import TemplateDetectionParams
from common.processors.temporal import WEEKDAYS, TemporalParams
from common.processors.validation import ValidationParams

STAFF = ("bot", "agent")
Row = dict[str, Any]


def _compile(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    return [re.compile(p) for p in patterns]


def _matches(regexes: list[re.Pattern[str]], text: object) -> bool:
    return isinstance(text, str) and any(r.search(text) for r in regexes)


def _chats(messages: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    # Rows are already ordered by lead and time (normalize_messages).
    yield from messages.groupby("lead_key", sort=False)


def _frame(rows: list[Row], processor: type[Processor]) -> pl.DataFrame:
    schema = {"lead_key": pl.String(), **{c.name: c.dtype for c in processor.columns}}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _utc(value: Any) -> datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _whole(delta: pd.Timedelta, unit: pd.Timedelta) -> int:
    whole = abs(delta) // unit
    return int(whole if delta >= pd.Timedelta(0) else -whole)


def temporal(
    messages: pd.DataFrame, params: TemporalParams, context: ProcessorContext
) -> list[Row]:
    """`TemporalProcessor`, one conversation at a time."""
    zone = ZoneInfo(params.timezone or context.timezone)
    as_of = pd.Timestamp(context.as_of)
    skip = bool(context.behavior_flags.get("skip_detailed_temporal_processing"))
    rows = []
    for lead, chat in _chats(messages):
        last = chat["sent_at"].max()
        user_times = chat.loc[chat["sender"] == "user", "sent_at"]
        last_user = user_times.max() if len(user_times) else None
        row: Row = {
            "lead_key": lead,
            "LAST_MESSAGE_TIMESTAMP_TZ": last.tz_convert(zone).isoformat(timespec="seconds"),
            "LAST_USER_MESSAGE_TIMESTAMP_TZ": None
            if last_user is None
            else last_user.tz_convert(zone).isoformat(timespec="seconds"),
            "NO_USER_MESSAGES_EXIST": last_user is None,
        }
        if not skip:
            for suffix, when in (("LAST_MESSAGE", last), ("LAST_USER_MESSAGE", last_user)):
                if when is None:
                    hours = minutes = text = None
                else:
                    minutes = _whole(as_of - when, pd.Timedelta(minutes=1))
                    hours = _whole(as_of - when, pd.Timedelta(hours=1))
                    text = f"{hours}h {minutes - hours * 60}m"
                row[f"HOURS_SINCE_{suffix}"] = hours
                row[f"MINUTES_SINCE_{suffix}"] = minutes
                row[f"HOURS_MINUTES_SINCE_{suffix}"] = text
            local = last.tz_convert(zone)
            row["LAST_MESSAGE_LOCAL_HOUR"] = local.hour
            row["LAST_MESSAGE_WEEKDAY"] = WEEKDAYS[local.weekday()]
            row["LAST_MESSAGE_IN_BUSINESS_HOURS"] = (
                params.business_hours_start <= local.hour < params.business_hours_end
                and local.isoweekday() in params.business_days
            )
        rows.append(row)
    return rows


def metadata(
    messages: pd.DataFrame, params: MessageMetadataParams, context: ProcessorContext
) -> list[Row]:
    """`MessageMetadataProcessor`, one conversation at a time."""
    limit = params.max_message_length
    rows = []
    for lead, chat in _chats(messages):
        user = chat[chat["sender"] == "user"]
        staff = chat[chat["sender"].isin(STAFF)]
        last_user = user["text"].iloc[-1] if len(user) else None
        last_staff = staff["text"].iloc[-1] if len(staff) else None
        rows.append(
            {
                "lead_key": lead,
                "last_message_sender": chat["sender"].iloc[-1],
                "last_message_ts": _utc(chat["sent_at"].iloc[-1]),
                "last_user_message_text": last_user[:limit] if isinstance(last_user, str) else None,
                "last_agent_message_text": last_staff[:limit]
                if isinstance(last_staff, str)
                else None,
                "user_message_count": len(user),
                "bot_message_count": int((chat["sender"] == "bot").sum()),
                "agent_message_count": int((chat["sender"] == "agent").sum()),
            }
        )
    return rows


def _handoff(chat: pd.DataFrame, params: HandoffParams) -> tuple[bool, str | None, bool]:
    invitation = _compile(params.invitation_patterns)
    accept, decline = _compile(params.accept_patterns), _compile(params.decline_patterns)
    finalized = _compile(params.finalized_patterns)
    senders, texts = chat["sender"].tolist(), chat["text"].tolist()
    invitations = [
        i
        for i, (s, t) in enumerate(zip(senders, texts, strict=True))
        if s in STAFF and _matches(invitation, t)
    ]
    response = None
    if invitations:
        response = "no_answer"
        for sender, text in zip(
            senders[invitations[-1] + 1 :], texts[invitations[-1] + 1 :], strict=True
        ):
            if sender != "user":
                continue
            if _matches(decline, text):
                response = "declined"
                break
            if _matches(accept, text):
                response = "accepted"
                break
    done = any(s in STAFF and _matches(finalized, t) for s, t in zip(senders, texts, strict=True))
    return bool(invitations), response, done


def handoff(messages: pd.DataFrame, params: HandoffParams, context: ProcessorContext) -> list[Row]:
    """`HandoffProcessor`, one conversation at a time."""
    rows = []
    for lead, chat in _chats(messages):
        offered, response, done = _handoff(chat, params)
        rows.append(
            {
                "lead_key": lead,
                "handoff_invitation_offered": offered,
                "handoff_response": response,
                "handoff_finalized": done,
            }
        )
    return rows


def template(
    messages: pd.DataFrame, params: TemplateDetectionParams, context: ProcessorContext
) -> list[Row]:
    """`TemplateDetectionProcessor`, one conversation at a time."""
    counted = params.counted()
    if params.match == "exact":
        checks: dict[str, Callable[[object], bool]] = {
            name: lambda t, p=pattern: isinstance(t, str) and t.strip() == p.strip()
            for name, pattern in counted.items()
        }
    else:
        checks = {
            name: lambda t, r=re.compile(pattern): isinstance(t, str) and bool(r.search(t))
            for name, pattern in counted.items()
        }
    rows = []
    for lead, chat in _chats(messages):
        staff = chat["sender"].isin(STAFF)
        sent = {name: staff & chat["text"].map(check) for name, check in checks.items()}
        is_template = pd.concat(sent.values(), axis=1).any(axis=1) if sent else staff & False
        user_positions = [i for i, s in enumerate(chat["sender"]) if s == "user"]
        after_user = is_template.iloc[user_positions[-1] + 1 :] if user_positions else is_template
        rows.append(
            {
                "lead_key": lead,
                "templates_sent": ",".join(name for name, hit in sent.items() if hit.any()),
                "template_count": int(is_template.sum()),
                "consecutive_templates_without_reply": None
                if params.skip_consecutive_count
                else int(after_user.sum()),
                "only_templates": bool(is_template.all()),
            }
        )
    return rows


def _validation(chat: pd.DataFrame, params: ValidationParams) -> tuple[bool, bool | None, int]:
    questions = _compile(params.question_patterns)
    senders, texts = chat["sender"].tolist(), chat["text"].tolist()
    asked = [
        i
        for i, (s, t) in enumerate(zip(senders, texts, strict=True))
        if s in STAFF and _matches(questions, t)
    ]
    answered = None if not asked else "user" in senders[asked[-1] + 1 :]
    return bool(asked), answered, len(asked)


def validation(
    messages: pd.DataFrame, params: ValidationParams, context: ProcessorContext
) -> list[Row]:
    """`ValidationProcessor`, one conversation at a time."""
    rows = []
    for lead, chat in _chats(messages):
        asked, answered, count = _validation(chat, params)
        rows.append(
            {
                "lead_key": lead,
                "pre_validation_questions_asked": asked,
                "pre_validation_answered": answered,
                "profiling_questions_count": count,
            }
        )
    return rows


def _transfer(chat: pd.DataFrame, params: HumanTransferParams) -> datetime | None:
    announcement = _compile(params.transfer_patterns)
    seen_bot = False
    for sender, text, sent_at in zip(chat["sender"], chat["text"], chat["sent_at"], strict=True):
        if sender == "bot" and _matches(announcement, text):
            return _utc(sent_at)
        if sender == "agent" and seen_bot and params.agent_takeover:
            return _utc(sent_at)
        seen_bot = seen_bot or sender == "bot"
    return None


def human_transfer(
    messages: pd.DataFrame, params: HumanTransferParams, context: ProcessorContext
) -> list[Row]:
    """`HumanTransferProcessor`, one conversation at a time."""
    rows = []
    for lead, chat in _chats(messages):
        at = _transfer(chat, params)
        rows.append({"lead_key": lead, "human_transfer": at is not None, "human_transfer_at": at})
    return rows


def conversation_state(
    messages: pd.DataFrame, params: ConversationStateParams, context: ProcessorContext
) -> list[Row]:
    """`ConversationStateProcessor`: the rule table as an if/elif chain."""
    rows = []
    for lead, chat in _chats(messages):
        senders = chat["sender"].tolist()
        offered, response, done = _handoff(chat, params.handoff)
        asked, answered, _ = _validation(chat, params.validation)
        if not any(s in STAFF for s in senders):
            state = "no_bot_messages"
        elif "user" not in senders:
            state = "no_user_reply"
        elif _transfer(chat, params.human_transfer) is not None:
            state = "with_human_agent"
        elif done:
            state = "handoff_completed"
        elif response == "declined":
            state = "handoff_declined"
        elif offered:
            state = "handoff_pending"
        elif asked and not answered:
            state = "stalled_in_profiling"
        elif senders[-1] in STAFF:
            state = "stalled_after_bot"
        else:
            state = "active"
        rows.append({"lead_key": lead, "conversation_state": state})
    return rows


REFERENCES: dict[str, Callable[[pd.DataFrame, Any, ProcessorContext], list[Row]]] = {
    "TemporalProcessor": temporal,
    "MessageMetadataProcessor": metadata,
    "HandoffProcessor": handoff,
    "TemplateDetectionProcessor": template,
    "ValidationProcessor": validation,
    "ConversationStateProcessor": conversation_state,
    "HumanTransferProcessor": human_transfer,
}
"""Processor name -> its per-conversation reference."""


def run_reference(processor: Processor, messages: pd.DataFrame) -> pl.DataFrame:
    """The reference output of ``processor`` (same params and context) on ``messages``."""
    rows = REFERENCES[processor.name](messages, processor.params, processor.context)
    return _frame(rows, type(processor))
