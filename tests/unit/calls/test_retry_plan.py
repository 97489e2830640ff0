"""Retry plan: intervals, the cap, callbacks, business hours in the lead's zone across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from common.calls.retry import RetryPolicy, next_business_time, plan_retry
from common.errors import ConfigError
from common.settings import Settings

POLICY = RetryPolicy()  # 2 h, 24 h, 72 h; 3 attempts; 9-19 Mon-Fri; UTC
NY = "America/New_York"
MX = "America/Mexico_City"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _local(moment: datetime | None, zone: str) -> datetime:
    assert moment is not None
    return moment.astimezone(ZoneInfo(zone))


def test_interval_by_attempt_then_exhausted() -> None:
    # Tuesday 2026-11-17 15:00 UTC = 09:00 in Mexico City.
    ended = _utc(2026, 11, 17, 15, 0)
    first = plan_retry("no_answer", attempts=1, last_call_at=ended, timezone=MX, policy=POLICY)
    assert (first.reason, first.next_attempt_at) == ("retry", ended + timedelta(hours=2))
    second = plan_retry("voicemail", attempts=2, last_call_at=ended, timezone=MX, policy=POLICY)
    assert second.next_attempt_at == ended + timedelta(hours=24)
    third = plan_retry("busy", attempts=3, last_call_at=ended, timezone=MX, policy=POLICY)
    assert (third.reason, third.next_attempt_at) == ("exhausted", None)
    more = RetryPolicy(max_attempts=5)
    fourth = plan_retry("failed", attempts=4, last_call_at=ended, timezone=MX, policy=more)
    assert fourth.next_attempt_at == ended + timedelta(hours=72)  # the last interval repeats


@pytest.mark.parametrize(
    "disposition", ["recovered", "not_interested", "wrong_number", "no_decision", None]
)
def test_settled_dispositions_are_not_retried(disposition: str | None) -> None:
    plan = plan_retry(
        disposition, attempts=1, last_call_at=_utc(2026, 11, 17, 15), timezone=MX, policy=POLICY
    )
    assert (plan.reason, plan.next_attempt_at) == ("final", None)


def test_after_hours_moves_to_next_opening_in_the_leads_zone() -> None:
    # Tuesday 18:30 in Mexico City (00:30 UTC Wednesday): +2 h is 20:30, closed.
    ended = _utc(2026, 11, 18, 0, 30)
    plan = plan_retry("no_answer", attempts=1, last_call_at=ended, timezone=MX, policy=POLICY)
    local = _local(plan.next_attempt_at, MX)
    assert (local.date().isoformat(), local.hour, local.minute) == ("2026-11-18", 9, 0)


def test_weekend_moves_to_monday() -> None:
    # Friday 2026-11-20 18:00 in New York: +2 h is Friday 20:00 → Monday 09:00.
    ended = datetime(2026, 11, 20, 18, 0, tzinfo=ZoneInfo(NY))
    plan = plan_retry("no_answer", attempts=1, last_call_at=ended, timezone=NY, policy=POLICY)
    local = _local(plan.next_attempt_at, NY)
    assert (local.strftime("%a"), local.hour) == ("Mon", 9)
    assert plan.next_attempt_at == _utc(2026, 11, 23, 14, 0)  # EST, UTC-5


def test_across_the_fall_back_change() -> None:
    # Friday 2025-10-31 18:30 EDT (UTC-4); DST ends Sunday 2025-11-02.
    ended = datetime(2025, 10, 31, 18, 30, tzinfo=ZoneInfo(NY))
    plan = plan_retry("voicemail", attempts=1, last_call_at=ended, timezone=NY, policy=POLICY)
    local = _local(plan.next_attempt_at, NY)
    assert (local.date().isoformat(), local.hour, local.minute) == ("2025-11-03", 9, 0)
    assert plan.next_attempt_at == _utc(2025, 11, 3, 14, 0)  # 09:00 EST, not 13:00 UTC


def test_across_the_spring_forward_change() -> None:
    # Friday 2026-03-06 23:00 EST; DST starts Sunday 2026-03-08; 72 h later is Monday 23:00 EDT.
    policy = RetryPolicy(intervals=(timedelta(hours=72),))
    ended = datetime(2026, 3, 6, 23, 0, tzinfo=ZoneInfo(NY))
    plan = plan_retry("no_answer", attempts=1, last_call_at=ended, timezone=NY, policy=policy)
    assert plan.next_attempt_at == _utc(2026, 3, 10, 13, 0)  # Tuesday 09:00 EDT (UTC-4)


def test_gap_at_opening_hour_reads_as_the_first_instant_after() -> None:
    # Business opening at 02:00 on the spring-forward Sunday (02:00-03:00 does not exist).
    policy = RetryPolicy(start_hour=2, end_hour=5, business_days=frozenset({6}))
    moment = datetime(2026, 3, 8, 0, 30, tzinfo=ZoneInfo(NY))
    opened = next_business_time(moment, ZoneInfo(NY), policy)
    assert opened == _utc(2026, 3, 8, 7, 0)  # 03:00 EDT
    assert _local(opened, NY).hour == 3


def test_within_hours_is_kept_and_unknown_zone_uses_default() -> None:
    ended = _utc(2026, 11, 17, 10, 0)  # Tuesday
    policy = RetryPolicy(default_timezone="Europe/Madrid")
    plan = plan_retry(
        "busy", attempts=1, last_call_at=ended, timezone="Mars/Olympus", policy=policy
    )
    assert plan.next_attempt_at == ended + timedelta(hours=2)  # 13:00 in Madrid, open
    late = _utc(2026, 11, 17, 17, 30)  # 18:30 Madrid + 2 h = 20:30 → Wednesday 09:00 CET
    plan = plan_retry("busy", attempts=1, last_call_at=late, timezone=None, policy=policy)
    assert plan.next_attempt_at == _utc(2026, 11, 18, 8, 0)


def test_callback_at_the_requested_time_or_first_interval() -> None:
    ended = _utc(2026, 11, 20, 16, 6)
    asked = _utc(2026, 11, 23, 20, 0)  # Monday 15:00 in New York
    plan = plan_retry(
        "callback_requested",
        attempts=7,  # a callback is honoured whatever the count
        last_call_at=ended,
        timezone=NY,
        policy=POLICY,
        callback_at=asked,
    )
    assert (plan.reason, plan.next_attempt_at) == ("callback", asked)
    sunday = _utc(2026, 11, 22, 18, 0)
    plan = plan_retry(
        "callback_requested",
        attempts=1,
        last_call_at=ended,
        timezone=NY,
        policy=POLICY,
        callback_at=sunday,
    )
    assert plan.next_attempt_at == _utc(2026, 11, 23, 14, 0)  # moved into business hours
    plan = plan_retry(
        "callback_requested", attempts=1, last_call_at=ended, timezone=NY, policy=POLICY
    )
    assert plan.next_attempt_at == ended + timedelta(hours=2)  # 13:06 in New York


def test_policy_from_settings_and_validation() -> None:
    settings = Settings(
        call_retry_intervals_hours="1,12.5",  # type: ignore[arg-type]
        call_max_attempts=4,
        call_business_hours_start=8,
        call_business_hours_end=20,
        call_business_days="mon,sat",  # type: ignore[arg-type]
        call_default_timezone=MX,
    )
    policy = RetryPolicy.from_settings(settings)
    assert policy.intervals == (timedelta(hours=1), timedelta(hours=12.5))
    assert (policy.max_attempts, policy.start_hour, policy.end_hour) == (4, 8, 20)
    assert policy.business_days == frozenset({0, 5})
    assert policy.default_timezone == MX
    with pytest.raises(ConfigError, match="business hours are empty"):
        Settings(call_business_hours_start=19, call_business_hours_end=9)
    with pytest.raises(ValueError, match="positive"):
        Settings(call_retry_intervals_hours="2,0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings(call_default_timezone="Mars/Olympus")
    with pytest.raises(ValueError):
        Settings(call_business_days="mon,funday")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RetryPolicy(business_days=frozenset())
