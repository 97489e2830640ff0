"""When to call a lead again: configurable intervals, a cap, business hours in the lead's zone.

An unreached call (`disposition.RETRYABLE`: no answer, voicemail, busy,
failed) schedules the next attempt ``intervals[n - 1]`` after the call ended,
where ``n`` counts the lead's calls so far (the last interval repeats), until
``max_attempts`` calls were made. A requested callback is scheduled at the
time the customer asked for (or after the first interval when they named
none), whatever the count. Every time is then moved forward to the next
business moment in the lead's time zone: within ``[start_hour, end_hour)`` on
a business day. Intervals are elapsed time; the business-hours step works on
local wall time, so the result is right across daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.calls.disposition import RETRYABLE, Disposition

if TYPE_CHECKING:
    from common.settings import Settings

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class RetryPolicy:
    """How unreached leads are retried (see the module docstring).

    Attributes:
        intervals: Delay after the n-th call (the last one repeats).
        max_attempts: Calls after which unreached leads are not retried.
        start_hour: First local hour of business (inclusive).
        end_hour: Local hour business stops (exclusive; 24 for midnight).
        business_days: Weekdays with business, Monday = 0.
        default_timezone: Zone of leads whose calls carry none.
    """

    intervals: tuple[timedelta, ...] = (
        timedelta(hours=2),
        timedelta(hours=24),
        timedelta(hours=72),
    )
    max_attempts: int = 3
    start_hour: int = 9
    end_hour: int = 19
    business_days: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    default_timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not self.intervals or any(i <= timedelta(0) for i in self.intervals):
            raise ValueError("intervals: expected one or more positive durations")
        if not 0 <= self.start_hour < self.end_hour <= 24:
            raise ValueError(f"business hours {self.start_hour}-{self.end_hour} are empty")
        if not self.business_days or not self.business_days <= set(range(7)):
            raise ValueError("business_days: expected weekdays 0 (Monday) to 6")
        if self.max_attempts < 1:
            raise ValueError("max_attempts: expected at least 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy the ``LR_CALL_*`` settings describe."""
        return cls(
            intervals=tuple(timedelta(hours=h) for h in settings.call_retry_intervals_hours),
            max_attempts=settings.call_max_attempts,
            start_hour=settings.call_business_hours_start,
            end_hour=settings.call_business_hours_end,
            business_days=frozenset(DAY_NAMES.index(d) for d in settings.call_business_days),
            default_timezone=settings.call_default_timezone,
        )

    def zone(self, name: str | None) -> ZoneInfo:
        """The lead's zone, or the default one when ``name`` is empty or unknown."""
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return ZoneInfo(self.default_timezone)

    def interval(self, attempts: int) -> timedelta:
        """The delay after the ``attempts``-th call."""
        return self.intervals[min(max(attempts, 1), len(self.intervals)) - 1]


@dataclass(frozen=True)
class RetryPlan:
    """The next attempt for a lead.

    Attributes:
        next_attempt_at: When to call next (UTC), or None for no further call.
        reason: ``retry``, ``callback``, ``exhausted`` (the cap is reached) or
            ``final`` (the disposition is not retried).
    """

    next_attempt_at: datetime | None
    reason: str


def next_business_time(moment: datetime, zone: ZoneInfo, policy: RetryPolicy) -> datetime:
    """``moment`` if it falls in business hours in ``zone``, else the next opening (UTC).

    Args:
        moment: An aware datetime.
        zone: The lead's time zone.
        policy: Business hours and days.
    """
    # Compared in UTC: aware datetimes sharing a tzinfo compare by wall time,
    # which is ambiguous in the hour a fall-back repeats.
    instant = moment.astimezone(UTC)
    local = instant.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in policy.business_days:
            continue
        opens = _wall(day, policy.start_hour, zone)
        closes = _wall(day, policy.end_hour, zone)
        if offset == 0 and opens <= instant < closes:
            return instant
        if instant < opens:
            return opens
    raise AssertionError("a week always has a business day")  # guarded by RetryPolicy


def _wall(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of local wall time ``day hour:00`` (24 means the next midnight).

    A wall time inside a spring-forward gap reads with the offset before the
    gap, which for hour-aligned gaps is the first instant after it (02:00 on a
    2:00-3:00 gap is 03:00 in the new offset).
    """
    naive = datetime.combine(day + timedelta(days=hour // 24), time(hour % 24))
    return naive.replace(tzinfo=zone).astimezone(UTC)


def plan_retry(
    disposition: str | None,
    *,
    attempts: int,
    last_call_at: datetime,
    timezone: str | None,
    policy: RetryPolicy,
    callback_at: datetime | None = None,
) -> RetryPlan:
    """The next attempt after a lead's latest call.

    Args:
        disposition: The latest call's disposition.
        attempts: Calls made to the lead so far, this one included.
        last_call_at: When the latest call ended (aware).
        timezone: The lead's IANA zone (None or unknown: the policy's default).
        policy: Intervals, cap and business hours.
        callback_at: The time the customer asked to be called back, if any.
    """
    zone = policy.zone(timezone)
    if disposition == Disposition.CALLBACK_REQUESTED:
        wanted = callback_at or (last_call_at + policy.intervals[0])
        return RetryPlan(next_business_time(max(wanted, last_call_at), zone, policy), "callback")
    if disposition not in RETRYABLE:
        return RetryPlan(None, "final")
    if attempts >= policy.max_attempts:
        return RetryPlan(None, "exhausted")
    due = last_call_at + policy.interval(attempts)
    return RetryPlan(next_business_time(due, zone, policy), "retry")
