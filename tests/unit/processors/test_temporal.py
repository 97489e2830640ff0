"""TemporalProcessor: durations to as-of, local time of the last message, business hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import RecipeError

NAME = "TemporalProcessor"


def test_only_bot_messages(kit) -> None:
    row = kit.one(NAME, [("bot", "Hola 👋"), ("bot", "¿Sigues ahí?")])
    assert row["NO_USER_MESSAGES_EXIST"] is True
    assert row["LAST_MESSAGE_TIMESTAMP_TZ"] == "2024-04-02T10:05:00-06:00"
    assert row["HOURS_SINCE_LAST_MESSAGE"] == 25
    assert row["MINUTES_SINCE_LAST_MESSAGE"] == 25 * 60
    assert row["HOURS_MINUTES_SINCE_LAST_MESSAGE"] == "25h 0m"
    for column in (
        "LAST_USER_MESSAGE_TIMESTAMP_TZ",
        "HOURS_SINCE_LAST_USER_MESSAGE",
        "MINUTES_SINCE_LAST_USER_MESSAGE",
        "HOURS_MINUTES_SINCE_LAST_USER_MESSAGE",
    ):
        assert row[column] is None, column


def test_only_user_messages(kit) -> None:
    row = kit.one(NAME, [("user", "hola 👋 ¿me ayudas?")])
    assert row["NO_USER_MESSAGES_EXIST"] is False
    assert row["LAST_USER_MESSAGE_TIMESTAMP_TZ"] == "2024-04-02T10:00:00-06:00"
    assert row["HOURS_SINCE_LAST_USER_MESSAGE"] == 25
    assert row["MINUTES_SINCE_LAST_USER_MESSAGE"] == 25 * 60 + 5
    assert row["HOURS_MINUTES_SINCE_LAST_USER_MESSAGE"] == "25h 5m"
    assert row["LAST_MESSAGE_LOCAL_HOUR"] == 10
    assert row["LAST_MESSAGE_WEEKDAY"] == "Tuesday"
    assert row["LAST_MESSAGE_IN_BUSINESS_HOURS"] is True


def test_a_user_message_without_text_is_still_a_user_message(kit) -> None:
    row = kit.one(NAME, [("bot", "Envíanos tu INE"), ("user", None)])
    assert row["NO_USER_MESSAGES_EXIST"] is False
    assert row["LAST_USER_MESSAGE_TIMESTAMP_TZ"] == "2024-04-02T10:05:00-06:00"


def test_local_weekday_and_hour_differ_from_utc(kit) -> None:
    # Saturday 02:00 UTC is Friday 20:00 in Mexico City.
    rows = [("a", "user", "hola", datetime(2024, 4, 6, 2, 0, tzinfo=UTC))]
    out = kit.by_lead(kit.run(NAME, kit.messages(rows)))["a"]
    assert (out["LAST_MESSAGE_WEEKDAY"], out["LAST_MESSAGE_LOCAL_HOUR"]) == ("Friday", 20)
    assert out["LAST_MESSAGE_IN_BUSINESS_HOURS"] is False
    later = kit.run(NAME, kit.messages(rows), {"business_hours_end": 21})
    assert later["LAST_MESSAGE_IN_BUSINESS_HOURS"].to_list() == [True]


def test_business_days_are_configurable(kit) -> None:
    saturday_morning = [("a", "user", "hola", datetime(2024, 4, 6, 16, 0, tzinfo=UTC))]
    frame = kit.messages(saturday_morning)
    assert kit.run(NAME, frame)["LAST_MESSAGE_IN_BUSINESS_HOURS"].to_list() == [False]
    six_days = {"business_days": [1, 2, 3, 4, 5, 6]}
    assert kit.run(NAME, frame, six_days)["LAST_MESSAGE_IN_BUSINESS_HOURS"].to_list() == [True]


def test_dst_spring_forward_counts_elapsed_hours(kit) -> None:
    # New York, 2024-03-10: 02:00 EST jumps to 03:00 EDT.
    rows = [
        ("a", "user", "hi", datetime(2024, 3, 10, 6, 30, tzinfo=UTC)),  # 01:30 EST
        ("b", "bot", "hello", datetime(2024, 3, 10, 7, 30, tzinfo=UTC)),  # 03:30 EDT
    ]
    as_of = datetime(2024, 3, 10, 8, 30, tzinfo=UTC)  # 04:30 EDT
    out = kit.by_lead(kit.run(NAME, kit.messages(rows), as_of=as_of, timezone="America/New_York"))
    assert out["a"]["LAST_USER_MESSAGE_TIMESTAMP_TZ"] == "2024-03-10T01:30:00-05:00"
    assert out["a"]["HOURS_SINCE_LAST_USER_MESSAGE"] == 2  # wall clock says 3
    assert out["a"]["LAST_MESSAGE_LOCAL_HOUR"] == 1
    assert out["b"]["LAST_MESSAGE_TIMESTAMP_TZ"] == "2024-03-10T03:30:00-04:00"
    assert out["b"]["LAST_MESSAGE_LOCAL_HOUR"] == 3
    assert out["b"]["HOURS_MINUTES_SINCE_LAST_MESSAGE"] == "1h 0m"


def test_params_time_zone_overrides_the_recipe_zone(kit) -> None:
    rows = [("a", "user", "hi", datetime(2024, 7, 1, 12, 0, tzinfo=UTC))]
    out = kit.run(NAME, kit.messages(rows), {"timezone": "Europe/Madrid"}, timezone="UTC")
    assert out["LAST_MESSAGE_TIMESTAMP_TZ"].to_list() == ["2024-07-01T14:00:00+02:00"]


def test_out_of_order_rows_use_the_latest_message(kit) -> None:
    rows = [
        ("a", "user", "second", kit.T0 + timedelta(hours=2)),
        ("a", "bot", "first", kit.T0),
    ]
    out = kit.run(NAME, kit.messages(rows))
    assert out["LAST_MESSAGE_TIMESTAMP_TZ"].to_list() == ["2024-04-02T12:00:00-06:00"]
    assert out["HOURS_SINCE_LAST_MESSAGE"].to_list() == [23]


def test_a_message_after_as_of_gives_negative_durations(kit) -> None:
    rows = [("a", "user", "hi", kit.AS_OF + timedelta(minutes=90))]
    row = kit.by_lead(kit.run(NAME, kit.messages(rows)))["a"]
    assert (row["HOURS_SINCE_LAST_MESSAGE"], row["MINUTES_SINCE_LAST_MESSAGE"]) == (-1, -90)
    assert row["HOURS_MINUTES_SINCE_LAST_MESSAGE"] == "-1h -30m"


def test_skip_detailed_processing_keeps_only_the_essentials(kit) -> None:
    turns = [("bot", "hola"), ("user", "hola 😀")]
    row = kit.one(NAME, turns, behavior_flags={"skip_detailed_temporal_processing": True})
    assert row["LAST_MESSAGE_TIMESTAMP_TZ"] == "2024-04-02T10:05:00-06:00"
    assert row["LAST_USER_MESSAGE_TIMESTAMP_TZ"] == "2024-04-02T10:05:00-06:00"
    assert row["NO_USER_MESSAGES_EXIST"] is False
    detailed = {k: v for k, v in row.items() if k.startswith(("HOURS", "MINUTES", "LAST_MESSAGE_"))}
    detailed.pop("LAST_MESSAGE_TIMESTAMP_TZ")
    assert detailed and all(v is None for v in detailed.values())


def test_unknown_time_zone_is_a_recipe_error(kit) -> None:
    with pytest.raises(RecipeError, match="unknown time zone 'Mars/Olympus'"):
        kit.one(NAME, [("user", "hi")], {"timezone": "Mars/Olympus"})
