"""Time features: how long since the last message / last user message, in the recipe's zone."""

from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from pydantic import Field, field_validator

from common.processors.base import LEAD_KEY, Column, Frame, Processor, ProcessorParams
from common.processors.registry import register

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class TemporalParams(ProcessorParams):
    """Params of `TemporalProcessor`."""

    timezone: str | None = Field(
        None, description="IANA zone; defaults to the recipe's `timezone`."
    )
    business_hours_start: int = Field(9, ge=0, le=23, description="First business hour (local).")
    business_hours_end: int = Field(18, ge=1, le=24, description="Business hours end (exclusive).")
    business_days: tuple[int, ...] = Field(
        (1, 2, 3, 4, 5), description="ISO weekdays that are business days (1 = Monday)."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as err:
                raise ValueError(f"unknown time zone {value!r}") from err
        return value


def _since(later: pl.Expr, earlier: pl.Expr, suffix: str) -> list[pl.Expr]:
    """Whole hours / minutes from ``earlier`` to ``later`` (truncated toward zero)."""
    minutes = (later - earlier).dt.total_minutes().cast(pl.Int64)
    hours = (later - earlier).dt.total_hours().cast(pl.Int64)
    return [
        hours.alias(f"HOURS_SINCE_{suffix}"),
        minutes.alias(f"MINUTES_SINCE_{suffix}"),
        pl.format("{}h {}m", hours, minutes - hours * 60).alias(f"HOURS_MINUTES_SINCE_{suffix}"),
    ]


@register
class TemporalProcessor(Processor):
    """Hours/minutes since the last (user) message, local hour, weekday, business hours."""

    name = "TemporalProcessor"
    Params = TemporalParams
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "LAST_MESSAGE_TIMESTAMP_TZ",
            pl.String(),
            "Last message time in the recipe zone (ISO 8601).",
        ),
        Column(
            "LAST_USER_MESSAGE_TIMESTAMP_TZ",
            pl.String(),
            "Last customer message time in the recipe zone.",
        ),
        Column("NO_USER_MESSAGES_EXIST", pl.Boolean(), "True when the customer never wrote."),
        Column(
            "HOURS_SINCE_LAST_MESSAGE",
            pl.Int64(),
            "Whole hours from the last message to the run's as-of time.",
        ),
        Column(
            "MINUTES_SINCE_LAST_MESSAGE",
            pl.Int64(),
            "Whole minutes from the last message to as-of.",
        ),
        Column("HOURS_MINUTES_SINCE_LAST_MESSAGE", pl.String(), "The same, as `5h 23m`."),
        Column(
            "HOURS_SINCE_LAST_USER_MESSAGE",
            pl.Int64(),
            "Whole hours since the customer's last message.",
        ),
        Column(
            "MINUTES_SINCE_LAST_USER_MESSAGE",
            pl.Int64(),
            "Whole minutes since the customer's last message.",
        ),
        Column("HOURS_MINUTES_SINCE_LAST_USER_MESSAGE", pl.String(), "The same, as `5h 23m`."),
        Column("LAST_MESSAGE_LOCAL_HOUR", pl.Int64(), "Local hour (0-23) of the last message."),
        Column("LAST_MESSAGE_WEEKDAY", pl.String(), "Local weekday name of the last message."),
        Column(
            "LAST_MESSAGE_IN_BUSINESS_HOURS",
            pl.Boolean(),
            "Last message fell inside business hours.",
        ),
    )
    essential: ClassVar[tuple[str, ...]] = (
        "LAST_MESSAGE_TIMESTAMP_TZ",
        "LAST_USER_MESSAGE_TIMESTAMP_TZ",
        "NO_USER_MESSAGES_EXIST",
    )

    def compute(self, messages: Frame) -> Frame:
        """One row per lead; durations are measured to the run's ``as_of``."""
        params = self.params
        assert isinstance(params, TemporalParams)
        zone = params.timezone or self.context.timezone
        as_of = pl.lit(self.context.as_of).cast(pl.Datetime("us", "UTC"))
        last = messages.group_by(LEAD_KEY, maintain_order=True).agg(
            pl.col("sent_at").max().alias("_last"),
            pl.col("sent_at").filter(pl.col("sender") == "user").max().alias("_last_user"),
        )
        local_last = pl.col("_last").dt.convert_time_zone(zone)
        local_user = pl.col("_last_user").dt.convert_time_zone(zone)
        iso = "%Y-%m-%dT%H:%M:%S%:z"
        out = last.with_columns(
            local_last.dt.strftime(iso).alias("LAST_MESSAGE_TIMESTAMP_TZ"),
            local_user.dt.strftime(iso).alias("LAST_USER_MESSAGE_TIMESTAMP_TZ"),
            pl.col("_last_user").is_null().alias("NO_USER_MESSAGES_EXIST"),
        )
        if self.context.behavior_flags.get("skip_detailed_temporal_processing"):
            detailed = [c for c in self.columns if c.name not in self.essential]
            return out.with_columns(pl.lit(None, dtype=c.dtype).alias(c.name) for c in detailed)
        hour = local_last.dt.hour().cast(pl.Int64)
        weekday = local_last.dt.weekday()  # ISO: Monday = 1
        in_hours = hour.is_between(
            params.business_hours_start, params.business_hours_end, closed="left"
        ) & weekday.is_in(list(params.business_days))
        return out.with_columns(
            *_since(as_of, pl.col("_last"), "LAST_MESSAGE"),
            *_since(as_of, pl.col("_last_user"), "LAST_USER_MESSAGE"),
            hour.alias("LAST_MESSAGE_LOCAL_HOUR"),
            weekday.replace_strict(list(range(1, 8)), WEEKDAYS, return_dtype=pl.String).alias(
                "LAST_MESSAGE_WEEKDAY"
            ),
            in_hours.alias("LAST_MESSAGE_IN_BUSINESS_HOURS"),
        )
