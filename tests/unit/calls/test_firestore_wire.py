"""The raw-protobuf Firestore values: every JSON shape round-trips, the rest is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from common.adapters.gcp.firestore_wire import Value, decode_value, field_path, fill_value


def _roundtrip(value: Any) -> Any:
    target = Value()
    fill_value(target, value)
    return decode_value(Value.FromString(target.SerializeToString()))


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -(2**63),
        1.5,
        "",
        "sí, claro ✓",
        [],
        {},
        [1, "a", None, [2, {}], {"x": []}],
        {"calls": {"c-1": {"final": True, "cost": 0.25, "summary": None}}, "n": 3},
        b"\x00\xff",
    ],
)
def test_json_shapes_round_trip(value: Any) -> None:
    got = _roundtrip(value)
    assert got == value and type(got) is type(value)


def test_bools_stay_bools_and_ints_stay_ints() -> None:
    assert _roundtrip([True, 1, 1.0]) == [True, 1, 1.0]
    assert [type(v) for v in _roundtrip([True, 1, 1.0])] == [bool, int, float]


def test_datetimes_become_timestamps() -> None:
    moment = datetime(2026, 11, 20, 18, 0, 1, 250000, tzinfo=UTC)
    assert _roundtrip(moment) == moment


def test_other_types_are_refused_with_their_name() -> None:
    with pytest.raises(TypeError, match="set"):
        fill_value(Value(), {"a": {1, 2}})
    with pytest.raises(TypeError, match="map keys must be strings"):
        fill_value(Value(), {1: "x"})


def test_field_paths_quote_what_is_not_an_identifier() -> None:
    assert field_path("next_attempt_at") == "next_attempt_at"
    assert field_path("odd-key") == "`odd-key`"
    assert field_path("a`b") == "`a\\`b`"
