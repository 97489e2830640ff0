"""The events of ``extract`` mode: their answer models, the check of their cited sources, and
the list a follow-up prompt shows.

See `common.llm.modes.extract` for the mode itself.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from common.llm.modes.extract_batches import ELLIPSIS

IMPACTS = ("low", "medium", "high")
_ID_TOKEN = re.compile(r"[^\s,;\[\]()<>\"'`=]+")
"""Pieces of a cited string that may be a message id (``id=m1, m2`` → ``m1``, ``m2``)."""

TITLE_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 400
METRIC_MAX_LENGTH = 80
MAX_METRICS = 5
MAX_SOURCES = 10
SUBJECT_MAX_LENGTH = 150
BODY_MAX_LENGTH = 1000
"""About 170 words. llama.cpp (the local provider) cannot build a grammar for a string much
longer: it refuses (and the process may crash) from about 1,100 characters."""


# --- answer models ----------------------------------------------------------------------


def event_model(event_types: Sequence[str]) -> type[BaseModel]:
    """One extracted event, its ``type`` one of ``event_types``."""
    kinds: Any = Literal[tuple(event_types)]
    impact: Any = Literal[IMPACTS]
    fields: dict[str, Any] = {
        "type": (kinds, Field(description="The kind of event.")),
        "title": (Annotated[str, Field(max_length=TITLE_MAX_LENGTH)], Field(description="Short.")),
        "description": (
            Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)],
            Field(description="What happened, with the numbers the messages give."),
        ),
        "impact": (impact, Field(description="Business impact.")),
        "metrics": (
            Annotated[
                list[Annotated[str, Field(max_length=METRIC_MAX_LENGTH)]],
                Field(max_length=MAX_METRICS),
            ],
            Field(description="Figures quoted, e.g. `MRR $182k`, `churn 2.1%`."),
        ),
        "severity": (
            Annotated[int, Field(ge=1, le=5)],
            Field(description="How much an investor should care, 1-5."),
        ),
        "source_message_ids": (
            Annotated[
                list[Annotated[str, Field(max_length=64)]],
                Field(min_length=1, max_length=MAX_SOURCES),
            ],
            Field(description="Ids of the messages the event comes from."),
        ),
    }
    return create_model("Event", __config__=ConfigDict(extra="forbid"), **fields)


def batch_model(event_types: Sequence[str], max_events: int) -> type[BaseModel]:
    """The answer of one batch call: ``{"events": [...]}``."""
    event = event_model(event_types)
    fields: dict[str, Any] = {
        "events": (
            Annotated[list[event], Field(max_length=max_events)],  # type: ignore[valid-type]
            Field(description="Significant events in these messages (may be empty)."),
        )
    }
    return create_model("BatchEvents", __config__=ConfigDict(extra="forbid"), **fields)


MAX_ENUM_IDS = 250
"""Most ids sent as an enum (OpenAI's strict mode limits long enums); larger batches cite freely."""


def constrain_sources(schema: Mapping[str, Any], ids: Sequence[str]) -> dict[str, Any]:
    """A copy of a `batch_model` schema whose ``source_message_ids`` may only be ``ids``.

    Structured output (and the local model's grammar) then cannot cite a message
    outside the batch; with more than `MAX_ENUM_IDS` ids the schema is returned
    unchanged. `check_sources` checks the answer either way.
    """
    out = copy.deepcopy(dict(schema))
    if 0 < len(ids) <= MAX_ENUM_IDS:
        cited = out["$defs"]["Event"]["properties"]["source_message_ids"]["items"]
        cited.pop("maxLength", None)
        cited["enum"] = list(ids)
    return out


class FollowupAnswer(BaseModel):
    """The answer of a group's follow-up call."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=SUBJECT_MAX_LENGTH, description="Subject line.")
    body: str = Field(max_length=BODY_MAX_LENGTH, description="The email body, plain text.")


# --- cited sources ----------------------------------------------------------------------


def resolve_sources(cited: Sequence[str], known: Mapping[str, Any] | set[str]) -> list[str]:
    """The known message ids among ``cited``, in order, without repeats.

    A cited string that is not itself an id may hold some (``id=m1``,
    ``m1, m2``): its pieces that are known ids count.
    """
    found: list[str] = []
    for text in cited:
        candidates = [text.strip()] if text.strip() in known else _ID_TOKEN.findall(text)
        for candidate in candidates:
            if candidate in known and candidate not in found:
                found.append(candidate)
    return found


@dataclass
class SourceCheck:
    """What checking the cited ids of a batch's events found."""

    unknown_ids: int = 0
    """Cited strings that named no message of the batch."""
    unsourced_events: int = 0
    """Events dropped because none of their cited ids is in the batch."""


def check_sources(
    events: Sequence[Mapping[str, Any]], known: Mapping[str, Any] | set[str]
) -> tuple[list[dict[str, Any]], SourceCheck]:
    """Keep only cited ids present in the batch; drop events left without any.

    Args:
        events: The batch answer's events.
        known: The batch's message ids.

    Returns:
        The kept events (``source_message_ids`` replaced by the known ones) and counters.
    """
    kept: list[dict[str, Any]] = []
    check = SourceCheck()
    for event in events:
        cited = [str(s) for s in event.get("source_message_ids") or []]
        sources = resolve_sources(cited, known)
        check.unknown_ids += sum(1 for s in cited if not resolve_sources([s], known))
        if not sources:
            check.unsourced_events += 1
            continue
        kept.append({**event, "source_message_ids": sources})
    return kept, check


def render_events(events: Sequence[Mapping[str, Any]], token_budget: int) -> str:
    """The compact event list of a follow-up prompt, within ``token_budget`` tokens.

    One line per event, oldest first::

        - 2026-09-14 funding (impact high, severity 5): Seed closed — $4M led by … [$4M; 18 months runway]

    When the list is over budget, the least severe events are left out and a
    last line says how many.
    """
    from common.llm.tokens import count_tokens_batch

    def line(event: Mapping[str, Any]) -> str:
        metrics = "; ".join(event.get("metrics") or [])
        return (
            f"- {event.get('first_seen', '?')} {event['type']} (impact {event['impact']}, "
            f"severity {event['severity']}): {event['title']} — {event['description']}"
            + (f" [{metrics}]" if metrics else "")
        )

    lines = [line(e) for e in events]
    costs = count_tokens_batch(lines)
    rank = sorted(
        range(len(events)),
        key=lambda i: (-int(events[i]["severity"]), -IMPACTS.index(events[i]["impact"]), i),
    )
    chosen: set[int] = set()
    used = 0
    for i in rank:
        if used + costs[i] + 1 > token_budget and chosen:
            break
        chosen.add(i)
        used += costs[i] + 1
    text = "\n".join(lines[i] for i in range(len(events)) if i in chosen)
    left = len(events) - len(chosen)
    if left:
        text += f"\n[{ELLIPSIS} {left} less severe events omitted]"
    return text
