"""Recipe cron expressions are checked as Cloud Scheduler reads them (`common.schedule`)."""

from __future__ import annotations

import pytest

from common.schedule import check_cron


@pytest.mark.parametrize(
    "cron",
    ["0 10-18 * * 1-5", "*/15 * * * *", "30 9 1,15 JAN-JUN MON", "0 0 * * 7", "5 4 * * SUN"],
)
def test_valid_expressions_are_accepted(cron: str) -> None:
    assert check_cron(cron) == cron


def test_out_of_range_fields_are_refused_each_by_name() -> None:
    with pytest.raises(ValueError) as caught:
        check_cron("99 25 * * 9")
    message = str(caught.value)
    assert message.startswith("invalid cron expression '99 25 * * 9': ")
    assert "minute `99` (expected 0-59)" in message
    assert "hour `25` (expected 0-23)" in message
    assert "day of week `9` (expected 0-7 or SUN-SAT" in message
    assert "day of month" not in message and "month `" not in message


@pytest.mark.parametrize(
    ("cron", "field"),
    [
        ("0 0 L * *", "day of month `L`"),
        ("0 0 * * 5#2", "day of week `5#2`"),
        ("0 0 ? * *", "day of month `?`"),
        ("0 0 1W * *", "day of month `1W`"),
        ("0 0 * FOO *", "month `FOO`"),
        ("0 0 1,,2 * *", "day of month `1,,2`"),
    ],
)
def test_syntax_cloud_scheduler_refuses_is_refused(cron: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        check_cron(cron)


@pytest.mark.parametrize("cron", ["0 0 * *", "0 0 * * * *", "@daily", ""])
def test_anything_but_five_fields_is_refused(cron: str) -> None:
    with pytest.raises(ValueError, match="expected five cron fields"):
        check_cron(cron)
