"""HumanTransferProcessor: bot-to-human transfer detected, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

NAME = "HumanTransferProcessor"
TRANSFER = "Te transfiero con un agente, en un momento te atiende 🙋"


def _transfer(row: dict) -> tuple:
    return row["human_transfer"], row["human_transfer_at"]


def test_announced_transfer(kit) -> None:
    row = kit.one(NAME, [("bot", "Hola"), ("user", "quiero hablar con alguien"), ("bot", TRANSFER)])
    assert _transfer(row) == (True, kit.T0 + timedelta(minutes=10))


def test_agent_takeover_without_announcement(kit) -> None:
    row = kit.one(NAME, [("bot", "Hola"), ("user", "hola"), ("agent", "Soy Ana 👩‍💼")])
    assert _transfer(row) == (True, kit.T0 + timedelta(minutes=10))


def test_the_first_event_gives_the_time(kit) -> None:
    turns = [("bot", "Hola"), ("bot", TRANSFER), ("agent", "Soy Ana"), ("bot", TRANSFER)]
    assert _transfer(kit.one(NAME, turns)) == (True, kit.T0 + timedelta(minutes=5))


def test_agent_takeover_can_be_turned_off(kit) -> None:
    turns = [("bot", "Hola"), ("agent", "Soy Ana")]
    assert _transfer(kit.one(NAME, turns, {"agent_takeover": False})) == (False, None)


def test_an_agent_who_started_the_chat_is_not_a_transfer(kit) -> None:
    row = kit.one(NAME, [("agent", "Hola, soy Ana"), ("user", "hola"), ("agent", "¿Te ayudo?")])
    assert _transfer(row) == (False, None)


def test_only_a_bot_can_announce(kit) -> None:
    row = kit.one(NAME, [("user", TRANSFER), ("agent", TRANSFER)])
    assert _transfer(row) == (False, None)


def test_only_bot_messages(kit) -> None:
    row = kit.one(NAME, [("bot", "Hola"), ("bot", "Transferring you to a human agent 🙋")])
    assert _transfer(row) == (True, kit.T0 + timedelta(minutes=5))


def test_only_user_messages(kit) -> None:
    assert _transfer(kit.one(NAME, [("user", "hola"), ("user", "¿hay alguien?")])) == (False, None)


def test_agent_message_without_text_still_takes_over(kit) -> None:
    row = kit.one(NAME, [("bot", None), ("agent", None)])
    assert _transfer(row) == (True, kit.T0 + timedelta(minutes=5))


def test_time_is_utc_across_a_dst_change(kit) -> None:
    # 01:59 EST then 03:01 EDT: two minutes apart, not an hour.
    rows = [
        ("a", "bot", "Hola", datetime(2024, 3, 10, 6, 59, tzinfo=UTC)),
        ("a", "agent", "Soy Ana", datetime(2024, 3, 10, 7, 1, tzinfo=UTC)),
    ]
    out = kit.run(NAME, kit.messages(rows), timezone="America/New_York")
    assert out["human_transfer_at"].to_list() == [datetime(2024, 3, 10, 7, 1, tzinfo=UTC)]


def test_out_of_order_rows_are_read_in_time_order(kit) -> None:
    rows = [
        ("a", "agent", "Soy Ana", kit.T0),
        ("a", "bot", "Hola", kit.T0 + timedelta(minutes=1)),
    ]
    assert _transfer(kit.by_lead(kit.run(NAME, kit.messages(rows)))["a"]) == (False, None)


def test_duplicated_rows_keep_the_first_time(kit) -> None:
    frame = kit.chats({"a": [("bot", "Hola"), ("bot", TRANSFER)]})
    out = kit.run(NAME, pl.concat([frame.reverse(), frame]))
    assert out["human_transfer_at"].to_list() == [kit.T0 + timedelta(minutes=5)]
