"""TemplateDetectionProcessor: templates sent, unanswered streak, only-templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from pydantic import ValidationError

from common.errors import RecipeError
from common.processors.template import TemplateDetectionParams

NAME = "TemplateDetectionProcessor"
TEMPLATES = {
    "offer": {"pattern": r"(?i)oferta preaprobada|pre-approved offer", "type": "offer"},
    "nudge": {"pattern": r"(?i)no terminaste tu solicitud", "type": "recovery"},
    "reminder": {"pattern": r"(?i)^\W*(recordatorio|reminder):", "type": "recovery"},
}
OFFER = "¡Hola Ana! 🎉 Tienes una oferta preaprobada de $45,000 MXN."
NUDGE = "Hola Ana, vimos que no terminaste tu solicitud 💰"
REMINDER = "⏰ Recordatorio: tu oferta vence pronto."


def _templates(row: dict) -> tuple:
    return (
        row["templates_sent"],
        row["template_count"],
        row["consecutive_templates_without_reply"],
        row["only_templates"],
    )


def test_templates_sent_and_unanswered_after_the_last_reply(kit) -> None:
    turns = [
        ("bot", OFFER),
        ("user", "hola 👋"),
        ("bot", "¿Seguimos?"),
        ("bot", NUDGE),
        ("bot", REMINDER),
    ]
    row = kit.one(NAME, turns, {"templates": TEMPLATES})
    assert _templates(row) == ("nudge,offer,reminder", 3, 2, False)


def test_only_bot_templates(kit) -> None:
    row = kit.one(NAME, [("bot", OFFER), ("bot", REMINDER)], {"templates": TEMPLATES})
    assert _templates(row) == ("offer,reminder", 2, 2, True)


def test_a_non_template_bot_message_is_not_only_templates(kit) -> None:
    row = kit.one(NAME, [("bot", OFFER), ("bot", None)], {"templates": TEMPLATES})
    assert _templates(row) == ("offer", 1, 1, False)


def test_only_user_messages(kit) -> None:
    row = kit.one(NAME, [("user", OFFER), ("user", "😀")], {"templates": TEMPLATES})
    assert _templates(row) == ("", 0, 0, False)


def test_a_reply_resets_the_streak(kit) -> None:
    turns = [("bot", OFFER), ("bot", REMINDER), ("user", None)]
    row = kit.one(NAME, turns, {"templates": TEMPLATES})
    assert _templates(row) == ("offer,reminder", 2, 0, False)


def test_template_type_selects_a_family(kit) -> None:
    params = {"templates": TEMPLATES, "template_type": "recovery"}
    row = kit.one(NAME, [("bot", OFFER), ("bot", NUDGE)], params)
    assert _templates(row) == ("nudge", 1, 1, False)


def test_skip_consecutive_count(kit) -> None:
    params = {"templates": TEMPLATES, "skip_consecutive_count": True}
    row = kit.one(NAME, [("bot", OFFER), ("bot", REMINDER)], params)
    assert _templates(row) == ("offer,reminder", 2, None, True)


def test_exact_match_ignores_surrounding_whitespace_only(kit) -> None:
    params = {"templates": {"hi": "Hola, ¿cómo estás? 😊"}, "match": "exact"}
    turns = [
        ("bot", "  Hola, ¿cómo estás? 😊\n"),
        ("bot", "hola, ¿cómo estás? 😊"),
        ("bot", "Hola"),
    ]
    row = kit.one(NAME, turns, params)
    assert (row["templates_sent"], row["template_count"]) == ("hi", 1)


def test_exact_match_does_not_treat_the_text_as_a_regex(kit) -> None:
    params = {"templates": {"price": "Precio: $100 (IVA incluido)?"}, "match": "exact"}
    row = kit.one(NAME, [("bot", "Precio: $100 (IVA incluido)?")], params)
    assert row["template_count"] == 1


def test_duplicated_template_rows_are_counted_once(kit) -> None:
    frame = kit.chats({"a": [("bot", OFFER), ("bot", REMINDER)]})
    out = kit.run(NAME, pl.concat([frame, frame]), {"templates": TEMPLATES})
    assert out["template_count"].to_list() == [2]


def test_out_of_order_rows_are_read_in_time_order(kit) -> None:
    rows = [
        ("a", "bot", REMINDER, kit.T0 + timedelta(hours=3)),
        ("a", "user", "ok", kit.T0 + timedelta(hours=2)),
        ("a", "bot", OFFER, kit.T0),
    ]
    out = kit.run(NAME, kit.messages(rows), {"templates": TEMPLATES})
    assert out["consecutive_templates_without_reply"].to_list() == [1]


def test_reply_across_dst_spring_forward(kit) -> None:
    # The user's 03:05 EDT reply (07:05 UTC) comes after the 01:55 EST template (06:55 UTC).
    rows = [
        ("a", "bot", OFFER, datetime(2024, 3, 10, 6, 55, tzinfo=UTC)),
        ("a", "user", "sí", datetime(2024, 3, 10, 7, 5, tzinfo=UTC)),
    ]
    out = kit.run(NAME, kit.messages(rows), {"templates": TEMPLATES}, timezone="America/New_York")
    assert out["consecutive_templates_without_reply"].to_list() == [0]


def test_default_templates_are_generic_spanish_and_english(kit) -> None:
    turns = [("bot", "Tienes un préstamo preaprobado 🎉"), ("bot", "Reminder: your offer expires")]
    row = kit.one(NAME, turns)
    assert _templates(row) == ("preapproved_offer,reminder", 2, 2, True)


def test_shorthand_and_full_form_are_equivalent() -> None:
    short = TemplateDetectionParams.model_validate({"templates": {"a": "x+"}})
    full = TemplateDetectionParams.model_validate({"templates": {"a": {"pattern": "x+"}}})
    assert short == full
    assert short.counted() == {"a": "x+"}


def test_a_bad_template_regex_names_the_template() -> None:
    with pytest.raises(ValidationError, match=r"template `nudge`: invalid regular expression"):
        TemplateDetectionParams.model_validate({"templates": {"ok": "a", "nudge": "(unclosed"}})


def test_an_invalid_regex_is_fine_in_exact_mode() -> None:
    params = TemplateDetectionParams.model_validate(
        {"templates": {"a": "(unclosed"}, "match": "exact"}
    )
    assert params.counted() == {"a": "(unclosed"}


def test_an_unknown_template_type_lists_the_types(kit) -> None:
    with pytest.raises(RecipeError, match="no template has type `recovry`; types present: offer"):
        kit.one(NAME, [("bot", OFFER)], {"templates": TEMPLATES, "template_type": "recovry"})


def test_a_template_name_with_a_comma_is_rejected() -> None:
    with pytest.raises(ValidationError, match="contain no comma"):
        TemplateDetectionParams.model_validate({"templates": {"a,b": "x"}})


def test_no_templates_configured(kit) -> None:
    row = kit.one(NAME, [("bot", OFFER), ("user", "hola")], {"templates": {}})
    assert _templates(row) == ("", 0, 0, False)
