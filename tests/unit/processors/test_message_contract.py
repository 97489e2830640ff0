"""Issue 18: `conform_messages`, the conversations contract on a frame (vectorised)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from common.errors import DataError
from common.processors.base import MESSAGE_SCHEMA, conform_messages


def _frame(sent_at: list, sender: list[str | None], zone: str | None = "UTC") -> pl.DataFrame:
    n = len(sent_at)
    return pl.DataFrame(
        {
            "lead_key": ["a"] * n,
            "message_id": [f"m{i}" for i in range(n)],
            "sent_at": pl.Series(sent_at, dtype=pl.Datetime("us", zone)),
            "sender": sender,
            "text": ["hola"] * n,
        }
    )


def test_zone_less_times_across_a_dst_change_read_in_the_stated_zone() -> None:
    # New York wall clock, 01:00 and 05:00 on 2026-03-08 (clocks jump 02:00 -> 03:00).
    naive = _frame([datetime(2026, 3, 8, 1), datetime(2026, 3, 8, 5)], ["user", "bot"], None)
    with pytest.raises(DataError, match="no time zone"):
        conform_messages(naive, where="q.sql")
    out, dropped = conform_messages(naive, where="q.sql", sent_at_timezone="America/New_York")
    gap = out["sent_at"][1] - out["sent_at"][0]
    assert gap.total_seconds() == 3 * 3600 and not dropped
    assert out.schema == pl.Schema(MESSAGE_SCHEMA)


def test_unknown_senders_are_named_with_counts() -> None:
    when = datetime(2026, 11, 20, tzinfo=UTC)
    frame = _frame([when] * 4, ["customer", "Customer ", "cliente", "bot"])
    with pytest.raises(DataError) as info:
        conform_messages(frame, where="q.sql")
    assert "'customer' x2, 'cliente' x1" in str(info.value)
    out, _ = conform_messages(
        frame, where="q.sql", sender_map={"customer": "user", "cliente": "user"}
    )
    assert out["sender"].to_list() == ["user", "user", "user", "bot"]


def test_null_senders_are_outside_the_contract() -> None:
    frame = _frame([datetime(2026, 11, 20, tzinfo=UTC)], [None])
    with pytest.raises(DataError, match="None x1"):
        conform_messages(frame, where="q.sql")


def test_undated_messages_are_dropped_and_counted() -> None:
    when = datetime(2026, 11, 20, tzinfo=UTC)
    out, dropped = conform_messages(_frame([when, None, None], ["user"] * 3), where="q.sql")
    assert out.height == 1 and dropped == {"sent_at is NULL": 2}
