"""Hand-made conversations and a runner shared by the processor tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from common.processors import ProcessorContext, build
from common.processors.base import MESSAGE_SCHEMA, normalize_messages

T0 = datetime(2024, 4, 2, 16, 0, tzinfo=UTC)
"""Tuesday 2024-04-02, 10:00 in Mexico City (UTC-6, no DST since 2022)."""

AS_OF = datetime(2024, 4, 3, 17, 5, tzinfo=UTC)
"""The run's as-of time: 25 h 05 min after T0."""

Turn = tuple[str, str | None]
"""(sender, text) of one message; times are assigned in order."""

Row = tuple[str, str, str | None, datetime]
"""(lead_key, sender, text, sent_at) of one message."""


def messages(rows: Iterable[Row]) -> pl.DataFrame:
    """A raw message frame (not normalised) with ids ``m0, m1, ...`` in row order."""
    rows = list(rows)
    return pl.DataFrame(
        {
            "lead_key": [r[0] for r in rows],
            "message_id": [f"m{i}" for i in range(len(rows))],
            "sent_at": [r[3] for r in rows],
            "sender": [r[1] for r in rows],
            "text": [r[2] for r in rows],
        },
        schema=MESSAGE_SCHEMA,
    )


def chat_rows(
    lead: str, turns: Iterable[Turn], start: datetime = T0, every: timedelta = timedelta(minutes=5)
) -> list[Row]:
    """Rows of one conversation whose messages are ``every`` apart, starting at ``start``."""
    return [(lead, sender, text, start + i * every) for i, (sender, text) in enumerate(turns)]


def chats(conversations: Mapping[str, Iterable[Turn]]) -> pl.DataFrame:
    """A raw frame of several conversations, each starting at `T0`."""
    return messages(row for lead, turns in conversations.items() for row in chat_rows(lead, turns))


def run(
    name: str,
    frame: pl.DataFrame,
    params: Mapping[str, Any] | None = None,
    *,
    as_of: datetime = AS_OF,
    timezone: str = "America/Mexico_City",
    behavior_flags: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Normalise ``frame`` as the pipeline does, run processor ``name``, sort by lead."""
    context = ProcessorContext(
        as_of=as_of, timezone=timezone, behavior_flags=dict(behavior_flags or {})
    )
    processor = build(name, dict(params or {}), context, where="test")
    return processor.run(normalize_messages(frame)).sort("lead_key")


def by_lead(out: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Output rows keyed by lead: ``by_lead(out)["a"]["handoff_response"]``."""
    return {row["lead_key"]: row for row in out.iter_rows(named=True)}


def one(
    name: str, turns: Iterable[Turn], params: Mapping[str, Any] | None = None, **context: Any
) -> dict[str, Any]:
    """Run processor ``name`` on a single conversation; its output row as a dict."""
    out = run(name, chats({"a": turns}), params, **context)
    assert out.height == 1
    return out.row(0, named=True)


class Kit:
    """The builders above, handed to tests by the `kit` fixture."""

    T0 = T0
    AS_OF = AS_OF
    messages = staticmethod(messages)
    chat_rows = staticmethod(chat_rows)
    chats = staticmethod(chats)
    run = staticmethod(run)
    by_lead = staticmethod(by_lead)
    one = staticmethod(one)


@pytest.fixture
def kit() -> type[Kit]:
    """Conversation builders and a processor runner (see `Kit`)."""
    return Kit
