"""HandoffProcessor: invitation offered, the customer's answer, handoff finalised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import RecipeError

NAME = "HandoffProcessor"
INVITE = "¿Te gustaría que un asesor te contacte?"
CONFIRM = "Listo, un asesor te contactará en las próximas horas 📞"


def _handoff(row: dict) -> tuple:
    return (row["handoff_invitation_offered"], row["handoff_response"], row["handoff_finalized"])


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Sí, por favor", "accepted"),
        ("SÍ 🙏", "accepted"),
        ("si porfa", "accepted"),
        ("👍", "accepted"),
        ("ok sí", "accepted"),
        ("Yes please", "accepted"),
        ("No, gracias", "declined"),
        ("ahorita no 😅", "declined"),
        ("la verdad ya no me interesa", "declined"),
        ("Not now", "declined"),
        ("maybe later", "declined"),
    ],
)
def test_customer_answer(kit, reply: str, expected: str) -> None:
    row = kit.one(NAME, [("bot", INVITE), ("user", reply)])
    assert _handoff(row) == (True, expected, False)


def test_accepted_and_finalised(kit) -> None:
    row = kit.one(NAME, [("bot", INVITE), ("user", "sí"), ("bot", CONFIRM)])
    assert _handoff(row) == (True, "accepted", True)


def test_unrelated_replies_are_skipped_until_an_answer(kit) -> None:
    turns = [("bot", INVITE), ("user", "¿cuánto cuesta?"), ("bot", "Es gratis"), ("user", "claro")]
    assert _handoff(kit.one(NAME, turns)) == (True, "accepted", False)


def test_no_answer_when_the_customer_never_answers_the_invitation(kit) -> None:
    row = kit.one(NAME, [("user", "hola"), ("bot", INVITE), ("user", "¿y la tasa?")])
    assert _handoff(row) == (True, "no_answer", False)


def test_only_bot_messages(kit) -> None:
    row = kit.one(NAME, [("bot", "Hola 👋"), ("bot", INVITE)])
    assert _handoff(row) == (True, "no_answer", False)


def test_only_user_messages_have_no_invitation(kit) -> None:
    row = kit.one(NAME, [("user", "sí"), ("user", "quiero un asesor")])
    assert _handoff(row) == (False, None, False)


def test_an_answer_before_the_invitation_does_not_count(kit) -> None:
    row = kit.one(NAME, [("user", "sí"), ("bot", INVITE)])
    assert _handoff(row) == (True, "no_answer", False)


def test_the_last_invitation_decides(kit) -> None:
    turns = [("bot", INVITE), ("user", "no gracias"), ("bot", INVITE), ("user", "bueno, sí")]
    assert kit.one(NAME, turns)["handoff_response"] == "no_answer"
    turns[-1] = ("user", "sí, ahora sí")
    assert kit.one(NAME, turns)["handoff_response"] == "accepted"


def test_null_text_replies_are_skipped(kit) -> None:
    row = kit.one(NAME, [("bot", INVITE), ("user", None), ("user", "va")])
    assert row["handoff_response"] == "accepted"


def test_a_customer_cannot_invite_or_finalise(kit) -> None:
    row = kit.one(NAME, [("user", INVITE), ("user", CONFIRM)])
    assert _handoff(row) == (False, None, False)


def test_english_invitation_and_confirmation(kit) -> None:
    turns = [
        ("bot", "Would you like an advisor to call you?"),
        ("user", "sure"),
        ("agent", "Done, an advisor will contact you shortly 📞"),
    ]
    assert _handoff(kit.one(NAME, turns)) == (True, "accepted", True)


def test_out_of_order_rows_are_read_in_time_order(kit) -> None:
    rows = [
        ("a", "user", "sí", kit.T0 + timedelta(minutes=10)),
        ("a", "bot", INVITE, kit.T0),
    ]
    row = kit.by_lead(kit.run(NAME, kit.messages(rows)))["a"]
    assert row["handoff_response"] == "accepted"


def test_answer_after_a_dst_fall_back_is_after_the_invitation(kit) -> None:
    # 05:50 UTC is 01:50 EDT; 06:05 UTC is 01:05 EST, later although its wall clock is earlier.
    rows = [
        ("a", "bot", INVITE, datetime(2024, 11, 3, 5, 50, tzinfo=UTC)),
        ("a", "user", "no gracias", datetime(2024, 11, 3, 6, 5, tzinfo=UTC)),
    ]
    out = kit.run(NAME, kit.messages(rows), timezone="America/New_York")
    assert out["handoff_response"].to_list() == ["declined"]


def test_custom_patterns(kit) -> None:
    params = {
        "invitation_patterns": [r"(?i)\bhablar con (un )?humano\b"],
        "accept_patterns": [r"(?i)^\W*de una\b"],
        "finalized_patterns": [],
    }
    row = kit.one(NAME, [("bot", "¿Quieres hablar con un humano?"), ("user", "De una")], params)
    assert _handoff(row) == (True, "accepted", False)


def test_a_bad_regex_is_a_recipe_error_naming_the_field(kit) -> None:
    with pytest.raises(RecipeError, match=r"`accept_patterns`: .*pattern 1: .*look-around"):
        kit.one(NAME, [("user", "hi")], {"accept_patterns": ["ok", "(?!no)yes"]})
