"""Callback times in words, read in the lead's zone relative to the call's end."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from common.calls.callback_time import asks_for_callback, read_callback

MEXICO = ZoneInfo("America/Mexico_City")
MADRID = ZoneInfo("Europe/Madrid")
ENDED = datetime(2026, 11, 20, 16, 6, tzinfo=UTC)  # Friday 10:06 in Mexico City


@pytest.mark.parametrize(
    ("words", "local"),
    [
        ("el lunes a las 4", datetime(2026, 11, 23, 16)),
        ("Monday 4 pm", datetime(2026, 11, 23, 16)),
        ("lunes a las 4:30", datetime(2026, 11, 23, 16, 30)),
        ("martes a las 11", datetime(2026, 11, 24, 11)),
        ("tomorrow after 6pm", datetime(2026, 11, 21, 18)),
        ("mañana a las 5 de la tarde", datetime(2026, 11, 21, 17)),
        ("Customer asked to be called back next Tuesday at 10am.", datetime(2026, 11, 24, 10)),
    ],
)
def test_words_name_a_local_time_after_the_call(words: str, local: datetime) -> None:
    assert read_callback([words], after=ENDED, zone=MEXICO) == local.replace(
        tzinfo=MEXICO
    ).astimezone(UTC)


def test_the_same_words_mean_another_instant_in_another_zone() -> None:
    found = read_callback(["Monday 4 pm"], after=ENDED, zone=MADRID)
    assert found == datetime(2026, 11, 23, 16, tzinfo=MADRID)


@pytest.mark.parametrize("words", ["", "no time here", "call me now", "at 10am"])
def test_no_time_after_the_call_is_none(words: str) -> None:
    # "at 10am" is today 10:00, before the call ended at 10:06.
    assert read_callback([words, None], after=ENDED, zone=MEXICO) is None


@pytest.mark.parametrize(
    ("summary", "asks"),
    [
        ("Customer asked to be called back Monday 4 pm.", True),
        ("El cliente pidió que le llamen el lunes a las 4.", True),
        ("Can you call me tomorrow afternoon?", True),
        ("Customer is not interested.", False),
        (None, False),
    ],
)
def test_asks_for_callback(summary: str | None, asks: bool) -> None:
    assert asks_for_callback(summary) is asks
