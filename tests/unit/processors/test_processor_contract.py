"""What every registered processor promises, whatever it computes."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from common.processors import registry
from common.processors.base import MESSAGE_SCHEMA
from common.processors.registry import module_path, resolve

SEVEN = [
    "ConversationStateProcessor",
    "HandoffProcessor",
    "HumanTransferProcessor",
    "MessageMetadataProcessor",
    "TemplateDetectionProcessor",
    "TemporalProcessor",
    "ValidationProcessor",
]

MIXED = {
    "a": [
        ("bot", "¡Hola Ana! 🎉 Tienes una oferta preaprobada de préstamo"),
        ("user", "hola 👋"),
        ("bot", "¿Cuál es tu ingreso mensual?"),
        ("user", "20 mil"),
        ("bot", "¿Te gustaría que un asesor te contacte?"),
        ("user", "Sí 🙏"),
        ("bot", "Listo, un asesor te contactará pronto 📞"),
    ],
    "b": [("bot", "Recordatorio: tu oferta vence pronto ⏰"), ("bot", None)],
    "c": [("user", "hola?"), ("user", None), ("user", "😀😀")],
    "d": [
        ("bot", "hola"),
        ("user", "hey"),
        ("bot", "Te transfiero con un agente"),
        ("agent", "Hola, soy Ana 🙋"),
    ],
}


def test_the_seven_processors_are_registered() -> None:
    assert sorted(registry()) == SEVEN


@pytest.mark.parametrize("name", SEVEN)
def test_found_by_name_and_by_module_path(name: str) -> None:
    cls = resolve(name, where="test")
    assert cls.name == name
    assert module_path(cls).startswith("common.processors.")
    assert resolve(module_path(cls), where="test") is cls


@pytest.mark.parametrize("name", SEVEN)
def test_columns_are_declared_once_with_a_description(name: str) -> None:
    cls = registry()[name]
    names = cls.column_names()
    assert len(names) == len(set(names)) and "lead_key" not in names
    assert all(c.description.strip() for c in cls.columns)


@pytest.mark.parametrize("name", SEVEN)
def test_empty_frame_gives_zero_rows_with_the_declared_schema(name: str, kit) -> None:
    out = kit.run(name, pl.DataFrame(schema=MESSAGE_SCHEMA))
    cls = registry()[name]
    assert out.height == 0
    assert out.schema == pl.Schema(
        {"lead_key": pl.String(), **{c.name: c.dtype for c in cls.columns}}
    )


@pytest.mark.parametrize("name", SEVEN)
def test_one_row_per_lead_with_the_declared_schema(name: str, kit) -> None:
    out = kit.run(name, kit.chats(MIXED))
    cls = registry()[name]
    assert out["lead_key"].to_list() == ["a", "b", "c", "d"]
    assert out.columns == ["lead_key", *cls.column_names()]
    assert [out.schema[c.name] for c in cls.columns] == [c.dtype for c in cls.columns]


@pytest.mark.parametrize("name", SEVEN)
def test_duplicated_rows_change_nothing(name: str, kit) -> None:
    frame = kit.chats(MIXED)
    doubled = pl.concat([frame, frame.slice(0, 5), frame.tail(3)])
    assert_frame_equal(kit.run(name, doubled), kit.run(name, frame))


@pytest.mark.parametrize("name", SEVEN)
def test_row_order_changes_nothing(name: str, kit) -> None:
    frame = kit.chats(MIXED)
    expected = kit.run(name, frame)
    assert_frame_equal(kit.run(name, frame.reverse()), expected)
    assert_frame_equal(kit.run(name, frame.sample(fraction=1.0, shuffle=True, seed=7)), expected)


@pytest.mark.parametrize("name", SEVEN)
def test_a_conversation_of_null_texts_still_gets_a_row(name: str, kit) -> None:
    out = kit.run(name, kit.chats({"z": [("bot", None), ("user", None), ("agent", None)]}))
    assert out["lead_key"].to_list() == ["z"]
