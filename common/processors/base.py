"""The processor interface: typed params, declared columns, one whole-frame method.

A processor takes every message of a shard at once (a polars frame in the
canonical message schema, see `MESSAGE_SCHEMA`) and returns one row per
``lead_key`` with exactly the columns it declares. No per-conversation Python
loop: work is expressed as frame operations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, NamedTuple, TypeVar

import polars as pl
from pydantic import BaseModel, ConfigDict

from common.errors import DataError

# polars 2 runs every collect on its streaming engine by default, which costs about
# 1 ms of set-up per collect; a shard's processors collect ~40 times. Measured on
# the 100,000-lead sample (400 leads, ~8,000 messages a shard, 2 cores): 48-53 ms a
# shard streaming vs 18-22 ms in memory, and the whole 2 M-message frame 3.6 s vs
# 2.6 s. A shard always fits in memory, so the in-memory engine is the right one.
pl.Config.set_engine_affinity("in-memory")

LEAD_KEY = "lead_key"

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)
"""A processor works the same on a frame (collected) and on a plan (`pl.LazyFrame`)."""

MESSAGE_SCHEMA: dict[str, pl.DataType] = {
    "lead_key": pl.String(),
    "message_id": pl.String(),
    "sent_at": pl.Datetime("us", "UTC"),
    "sender": pl.String(),
    "text": pl.String(),
}
"""Columns every conversations query must return (``sender`` is user | bot | agent)."""

SENDERS = ("user", "bot", "agent")

UNDATED = "sent_at is NULL"
"""Why `conform_messages` drops a message (the key of its ``dropped`` counts)."""


def require_message_columns(columns: list[str], *, where: str) -> None:
    """Raise `DataError` naming the `MESSAGE_SCHEMA` columns a conversations result lacks."""
    missing = [c for c in MESSAGE_SCHEMA if c not in columns]
    if missing:
        raise DataError(
            f"conversations query lacks column(s) {', '.join(missing)}",
            where=where,
            expected="columns " + ", ".join(MESSAGE_SCHEMA),
            found=columns,
        )


def conform_messages(
    frame: pl.DataFrame,
    *,
    where: str,
    sender_map: Mapping[str, str] | None = None,
    sent_at_timezone: str | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Hold warehouse rows to the conversations contract (README), vectorised.

    ``sent_at`` must be a timestamp with a time zone (converted to UTC); a zone-less
    one is read in ``sent_at_timezone`` or refused. Undated rows are dropped and
    counted. ``sender`` is lowercased and trimmed, mapped by ``sender_map``, and
    must then be one of `SENDERS`.

    Args:
        frame: The rows, with at least the `MESSAGE_SCHEMA` columns.
        where: The query's file, for errors.
        sender_map: The recipe's ``sender_map`` (lowercased keys).
        sent_at_timezone: The recipe's zone for zone-less timestamps.

    Returns:
        The frame in `MESSAGE_SCHEMA` and ``{reason: rows dropped}``.

    Raises:
        DataError: ``sent_at`` is not a timestamp, or is zone-less without a stated
            zone; or senders outside the contract (each value with its count).
    """
    sent_at = frame.schema["sent_at"]
    if not isinstance(sent_at, pl.Datetime):
        raise DataError(
            f"`sent_at` is {sent_at}, not a timestamp",
            where=where,
            expected="a TIMESTAMP column (e.g. PARSE_TIMESTAMP('%Y-%m-%dT%H:%M:%E*S%Ez', sent_at))",
        )
    if sent_at.time_zone is None:
        if sent_at_timezone is None:
            raise DataError(
                "`sent_at` has no time zone (a DATETIME?): its wall-clock times would be read as "
                "UTC",
                where=where,
                expected="a TIMESTAMP (e.g. TIMESTAMP(sent_at, 'America/Mexico_City')), or "
                "`sent_at_timezone` in meta.yml naming the zone of these times",
            )
        stamps = pl.col("sent_at").dt.replace_time_zone(
            sent_at_timezone, ambiguous="earliest", non_existent="null"
        )
    else:
        stamps = pl.col("sent_at")
    frame = frame.with_columns(
        stamps.dt.convert_time_zone("UTC").alias("sent_at"),
        pl.col("sender").cast(pl.String).str.strip_chars().str.to_lowercase(),
    )
    undated = frame.get_column("sent_at").null_count()
    if undated:
        frame = frame.filter(pl.col("sent_at").is_not_null())
    if sender_map:
        frame = frame.with_columns(pl.col("sender").replace(dict(sender_map)))
    unknown = (
        frame.filter(pl.col("sender").is_null() | ~pl.col("sender").is_in(SENDERS))
        .group_by("sender")
        .len()
        .sort(["len", "sender"], descending=[True, False], nulls_last=True)
    )
    if unknown.height:
        counts = ", ".join(f"{s!r} x{n}" for s, n in unknown.head(10).iter_rows())
        raise DataError(
            f"`sender` values outside the contract: {counts}",
            where=where,
            expected="user, bot or agent, or `sender_map` in meta.yml (e.g. "
            "`sender_map: {customer: user}`)",
        )
    conformed = frame.select([pl.col(n).cast(t) for n, t in MESSAGE_SCHEMA.items()])
    return conformed, ({UNDATED: undated} if undated else {})


class Column(NamedTuple):
    """A column a processor produces."""

    name: str
    dtype: pl.DataType
    description: str


class ProcessorParams(BaseModel):
    """Base of every processor's params: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ProcessorContext:
    """What a processor may know about the run besides the messages."""

    as_of: datetime
    timezone: str = "UTC"
    behavior_flags: dict[str, Any] = field(default_factory=dict)


class Processor(ABC):
    """One feature family; subclasses set `name`, `Params`, `columns` and `compute`."""

    name: ClassVar[str]
    Params: ClassVar[type[ProcessorParams]] = ProcessorParams
    columns: ClassVar[tuple[Column, ...]]

    def __init__(self, params: ProcessorParams, context: ProcessorContext) -> None:
        self.params = params
        self.context = context

    @classmethod
    def column_names(cls) -> list[str]:
        """Names of the declared columns, in order."""
        return [c.name for c in cls.columns]

    @classmethod
    def empty_columns(cls) -> list[pl.Expr]:
        """Null expressions of every declared column (for a skipped processor)."""
        return [pl.lit(None, dtype=c.dtype).alias(c.name) for c in cls.columns]

    @abstractmethod
    def compute(self, messages: Frame) -> Frame:
        """Return one row per lead in ``messages``: ``lead_key`` + the declared columns.

        Frame operations only, so that a `pl.LazyFrame` in gives a plan out.
        """

    def run(self, messages: Frame) -> Frame:
        """`compute`, then enforce the declared columns and types (lazy in, lazy out)."""
        out = self.compute(messages)
        return out.select(
            pl.col(LEAD_KEY),
            *[pl.col(c.name).cast(c.dtype) for c in self.columns],
        )


def normalize_messages(messages: pl.DataFrame) -> pl.DataFrame:
    """Canonical message frame: drop exact duplicate rows, order by lead and time.

    Duplicate exports of the same message (same ``message_id``) are dropped;
    ties in time are broken by ``message_id`` so the order is deterministic.
    """
    ordered = (
        messages.select([pl.col(n).cast(t) for n, t in MESSAGE_SCHEMA.items()])
        .with_columns(pl.col("sender").str.to_lowercase().str.strip_chars())
        .unique(subset=["lead_key", "message_id"], keep="first", maintain_order=True)
        .sort(["lead_key", "sent_at", "message_id"], nulls_last=True)
    )
    # After the sort, texts still sit where the input had them, so every regex pass of
    # the processors reads memory out of order (up to 2x slower on a shuffled shard).
    # One copy through Arrow's contiguous layout puts them in row order.
    text = ordered.get_column("text").to_arrow(compat_level=pl.CompatLevel.oldest())
    return ordered.with_columns(pl.Series("text", text, dtype=pl.String))
