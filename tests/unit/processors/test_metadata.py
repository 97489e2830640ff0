"""MessageMetadataProcessor: last sender / texts / time and counts per sender."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl

NAME = "MessageMetadataProcessor"


def test_last_texts_and_counts(kit) -> None:
    row = kit.one(
        NAME,
        [
            ("bot", "Hola, soy Vale 🤖"),
            ("user", "hola"),
            ("agent", "Te llamo en 5 min"),
            ("user", "¡Gracias! 🙏"),
            ("bot", "¿Algo más?"),
        ],
    )
    assert row["last_message_sender"] == "bot"
    assert row["last_message_ts"] == datetime(2024, 4, 2, 16, 20, tzinfo=UTC)
    assert row["last_user_message_text"] == "¡Gracias! 🙏"
    assert row["last_agent_message_text"] == "¿Algo más?"
    assert (row["user_message_count"], row["bot_message_count"], row["agent_message_count"]) == (
        2,
        2,
        1,
    )


def test_only_bot_messages(kit) -> None:
    row = kit.one(NAME, [("bot", "Tienes una oferta 🎉"), ("bot", "¿Sigues ahí?")])
    assert row["last_message_sender"] == "bot"
    assert row["last_user_message_text"] is None
    assert row["last_agent_message_text"] == "¿Sigues ahí?"
    assert row["user_message_count"] == 0 and row["bot_message_count"] == 2


def test_only_user_messages(kit) -> None:
    row = kit.one(NAME, [("user", "hola"), ("user", "¿hay alguien? 👀")])
    assert row["last_message_sender"] == "user"
    assert row["last_user_message_text"] == "¿hay alguien? 👀"
    assert row["last_agent_message_text"] is None
    assert row["user_message_count"] == 2 and row["bot_message_count"] == 0


def test_truncation_counts_characters_not_bytes(kit) -> None:
    row = kit.one(
        NAME,
        [("bot", "👋👋👋👋 hola"), ("user", "Sí, señor ñandú")],
        {"max_message_length": 3},
    )
    assert row["last_agent_message_text"] == "👋👋👋"
    assert row["last_user_message_text"] == "Sí,"


def test_a_last_message_without_text_gives_null_text(kit) -> None:
    row = kit.one(NAME, [("user", "te mando foto"), ("user", None), ("bot", None)])
    assert row["last_user_message_text"] is None
    assert row["last_agent_message_text"] is None
    assert row["user_message_count"] == 2


def test_sender_is_normalised(kit) -> None:
    frame = kit.chats({"a": [("bot", "hola"), (" USER ", "hola")]})
    assert kit.run(NAME, frame)["last_message_sender"].to_list() == ["user"]


def test_duplicated_rows_are_counted_once(kit) -> None:
    frame = kit.chats({"a": [("bot", "hola"), ("user", "hola")]})
    out = kit.run(NAME, pl.concat([frame, frame, frame]))
    assert out.select("user_message_count", "bot_message_count").row(0) == (1, 1)


def test_order_follows_time_across_a_dst_fall_back(kit) -> None:
    # New York 2024-11-03: 01:30 EDT happens before 01:10 EST.
    ny = ZoneInfo("America/New_York")
    rows = [
        ("a", "bot", "later", datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=ny)),
        ("a", "user", "earlier", datetime(2024, 11, 3, 1, 30, tzinfo=ny)),
    ]
    frame = kit.messages(rows).with_columns(pl.col("sent_at").cast(pl.Datetime("us", ny.key)))
    row = kit.by_lead(kit.run(NAME, frame))["a"]
    assert row["last_message_sender"] == "bot"
    assert row["last_message_ts"] == datetime(2024, 11, 3, 6, 10, tzinfo=UTC)
