"""ConversationStateProcessor: one label per conversation, first matching rule wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import RecipeError
from common.processors.conversation_state import STATE_RULES

NAME = "ConversationStateProcessor"

OFFER = "¡Hola Ana! 🎉 Tienes una oferta preaprobada de $45,000 MXN."
REMINDER = "Recordatorio: tu oferta vence pronto ⏰"
INVITE = "¿Te gustaría que un asesor te contacte?"
CONFIRM = "Listo, un asesor te contactará en breve 📞"
INCOME = "¿Cuál es tu ingreso mensual?"
TRANSFER = "Te transfiero con un agente humano."

CASES = {
    "no_bot_messages": [("user", "hola 👋"), ("user", None)],
    "no_user_reply": [("bot", OFFER), ("bot", REMINDER)],
    "with_human_agent": [
        ("bot", "Hola"),
        ("user", "hola"),
        ("bot", TRANSFER),
        ("agent", "Soy Ana"),
    ],
    "handoff_completed": [("bot", INVITE), ("user", "sí"), ("bot", CONFIRM)],
    "handoff_declined": [("bot", INVITE), ("user", "no gracias"), ("bot", "Entendido 😊")],
    "handoff_pending": [("user", "hola"), ("bot", INVITE)],
    "stalled_in_profiling": [("bot", OFFER), ("user", "hola"), ("bot", INCOME)],
    "stalled_after_bot": [("bot", OFFER), ("user", "hola"), ("bot", "¿Seguimos? 🙂")],
    "active": [("bot", OFFER), ("user", "hola"), ("bot", "¿Qué necesitas?"), ("user", "info")],
}


def test_every_rule_has_a_case() -> None:
    assert list(CASES) == [rule.label for rule in STATE_RULES]


@pytest.mark.parametrize("label", list(CASES))
def test_each_rule(kit, label: str) -> None:
    assert kit.one(NAME, CASES[label])["conversation_state"] == label


def test_all_conversations_of_a_shard_at_once(kit) -> None:
    out = kit.run(NAME, kit.chats(CASES))
    assert dict(out.iter_rows()) == {label: label for label in CASES}


@pytest.mark.parametrize(
    ("turns", "label"),
    [
        # An accepted but unconfirmed handoff is still pending.
        ([("bot", INVITE), ("user", "Sí, por favor 🙏")], "handoff_pending"),
        # The customer never wrote: that wins over a transfer announcement.
        ([("bot", OFFER), ("bot", TRANSFER)], "no_user_reply"),
        # A transfer wins over a pending invitation.
        ([("bot", INVITE), ("user", "¿cuánto?"), ("agent", "Hola, soy Ana")], "with_human_agent"),
        # A decline wins over the templates sent afterwards.
        ([("bot", INVITE), ("user", "no"), ("bot", REMINDER)], "handoff_declined"),
        # Profiling wins over the reminders that followed the unanswered question.
        ([("user", "hola"), ("bot", INCOME), ("bot", REMINDER)], "stalled_in_profiling"),
        # A profiling question answered, then reminders unanswered.
        ([("bot", INCOME), ("user", "20 mil"), ("bot", REMINDER)], "stalled_after_bot"),
        # An agent wrote last (after a human transfer the state is with_human_agent).
        (
            [("agent", "Hola, soy Ana"), ("user", "hola"), ("agent", "¿Te llamo?")],
            "stalled_after_bot",
        ),
        # Only null texts from both sides; the customer wrote last.
        ([("bot", None), ("user", None)], "active"),
    ],
)
def test_rule_precedence(kit, turns: list, label: str) -> None:
    assert kit.one(NAME, turns)["conversation_state"] == label


def test_nested_params_configure_the_detectors(kit) -> None:
    turns = [("bot", "¿Hablamos con un humano?"), ("user", "de una")]
    assert kit.one(NAME, turns)["conversation_state"] == "active"
    params = {
        "handoff": {
            "invitation_patterns": [r"(?i)hablamos con un humano"],
            "accept_patterns": [r"(?i)^de una\b"],
        }
    }
    assert kit.one(NAME, turns, params)["conversation_state"] == "handoff_pending"


def test_nested_params_are_validated(kit) -> None:
    with pytest.raises(RecipeError, match="handoff.invitation_pattern"):
        kit.one(NAME, [("user", "hi")], {"handoff": {"invitation_pattern": ["x"]}})


def test_out_of_order_rows_are_read_in_time_order(kit) -> None:
    rows = [
        ("a", "user", "no gracias", kit.T0 + timedelta(minutes=2)),
        ("a", "bot", INVITE, kit.T0 + timedelta(minutes=1)),
        ("a", "user", "hola", kit.T0),
    ]
    assert kit.run(NAME, kit.messages(rows))["conversation_state"].to_list() == ["handoff_declined"]


def test_reply_across_a_dst_fall_back(kit) -> None:
    # Question at 01:50 EDT (05:50 UTC), answer at 01:10 EST (06:10 UTC): answered.
    rows = [
        ("a", "bot", INCOME, datetime(2024, 11, 3, 5, 50, tzinfo=UTC)),
        ("a", "user", "20 mil", datetime(2024, 11, 3, 6, 10, tzinfo=UTC)),
    ]
    out = kit.run(NAME, kit.messages(rows), timezone="America/New_York")
    assert out["conversation_state"].to_list() == ["active"]
