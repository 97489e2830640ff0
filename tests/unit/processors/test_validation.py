"""ValidationProcessor: profiling questions asked, counted, answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

NAME = "ValidationProcessor"
INCOME = "¿Cuál es tu ingreso mensual? 💵"
ZIP = "¿Cuál es tu código postal?"


def _validation(row: dict) -> tuple:
    return (
        row["pre_validation_questions_asked"],
        row["pre_validation_answered"],
        row["profiling_questions_count"],
    )


def test_questions_answered(kit) -> None:
    turns = [("bot", INCOME), ("user", "20 mil"), ("bot", ZIP), ("user", "06700")]
    assert _validation(kit.one(NAME, turns)) == (True, True, 2)


def test_stalled_on_the_last_question(kit) -> None:
    turns = [("bot", INCOME), ("user", "20 mil"), ("bot", "Gracias 🙌"), ("bot", ZIP)]
    assert _validation(kit.one(NAME, turns)) == (True, False, 2)


def test_english_questions(kit) -> None:
    turns = [("bot", "What is your monthly income?"), ("user", "$3k")]
    assert _validation(kit.one(NAME, turns)) == (True, True, 1)


def test_only_bot_messages(kit) -> None:
    assert _validation(kit.one(NAME, [("bot", "Hola 👋"), ("bot", INCOME)])) == (True, False, 1)


def test_only_user_messages(kit) -> None:
    # A customer mentioning their income is not the agent asking.
    turns = [("user", "¿Cuál es tu ingreso mensual mínimo?"), ("user", "😀")]
    assert _validation(kit.one(NAME, turns)) == (False, None, 0)


def test_no_questions_gives_null_answered(kit) -> None:
    assert _validation(kit.one(NAME, [("bot", "Hola"), ("user", "hola")])) == (False, None, 0)


def test_a_reply_without_text_counts_as_an_answer(kit) -> None:
    turns = [("agent", "¿Me compartes tu número de identificación oficial?"), ("user", None)]
    assert _validation(kit.one(NAME, turns)) == (True, True, 1)


def test_a_question_without_text_is_not_a_question(kit) -> None:
    assert _validation(kit.one(NAME, [("bot", None), ("bot", None)])) == (False, None, 0)


def test_custom_patterns(kit) -> None:
    params = {"question_patterns": [r"(?i)\bcu[aá]ntos hijos\b"]}
    turns = [("bot", INCOME), ("bot", "¿Cuántos hijos tienes?")]
    assert _validation(kit.one(NAME, turns, params)) == (True, False, 1)


def test_duplicated_questions_are_counted_once(kit) -> None:
    frame = kit.chats({"a": [("bot", INCOME), ("bot", ZIP)]})
    out = kit.run(NAME, pl.concat([frame, frame.head(1)]))
    assert out["profiling_questions_count"].to_list() == [2]


def test_out_of_order_rows_are_read_in_time_order(kit) -> None:
    rows = [
        ("a", "user", "20 mil", kit.T0 + timedelta(minutes=1)),
        ("a", "bot", INCOME, kit.T0),
    ]
    out = kit.run(NAME, kit.messages(rows))
    assert out["pre_validation_answered"].to_list() == [True]


def test_question_after_a_dst_fall_back_reply(kit) -> None:
    # The reply at 01:40 EDT (05:40 UTC) precedes the question at 01:20 EST (06:20 UTC).
    rows = [
        ("a", "user", "20 mil", datetime(2024, 11, 3, 5, 40, tzinfo=UTC)),
        ("a", "bot", ZIP, datetime(2024, 11, 3, 6, 20, tzinfo=UTC)),
    ]
    out = kit.run(NAME, kit.messages(rows), timezone="America/New_York")
    assert out["pre_validation_answered"].to_list() == [False]
