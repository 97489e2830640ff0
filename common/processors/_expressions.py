"""Pure expression helpers shared by the processors.

Processors never read each other's output: a processor that needs another
family's features (``ConversationStateProcessor``) rebuilds them from the same
helpers. Every processor works in two vectorised passes over the shard:

1. `aggregate` numbers the rows (`ROW`) and adds the processor's row-level
   flags (booleans such as "this bot message is a handoff invitation");
2. one ``group_by(lead_key).agg(...)`` reduces the flags to one row per lead.

Order-dependent questions ("did the customer write after the last profiling
question?") are row flags too: they compare each row's number with the lead's
last (or first) flagged row, see `after_last`, so the aggregations stay simple
reductions (any, sum, first non-null), the fast ones. This relies on the frame
being ordered by lead and time, as `normalize_messages` leaves it.

Regexes run on the Rust ``regex`` engine of polars: no look-around or
back-references; use ``(?i)`` for case-insensitive matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated

import polars as pl
from pydantic import AfterValidator

from common.processors.base import LEAD_KEY, Frame

ROW = "_row"
"""Row number `aggregate` adds; within a lead it grows with time."""

STAFF = ("bot", "agent")
"""Senders that speak for the company."""

SENDER = pl.col("sender")
TEXT = pl.col("text")
IS_USER = SENDER == "user"
IS_BOT = SENDER == "bot"
IS_AGENT = SENDER == "agent"
IS_STAFF = SENDER.is_in(STAFF)


def check_regex(pattern: str) -> str:
    """Return ``pattern`` unchanged if the polars regex engine accepts it.

    Raises:
        ValueError: the engine's own explanation, e.g. that look-around is not supported.
    """
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.ComputeError as err:
        lines = [line.strip() for line in str(err).splitlines()]
        # The engine's message ends with an "error: ..." line; keep just that, on one line.
        reason = next((line[6:].strip() for line in lines if line.startswith("error:")), lines[0])
        raise ValueError(f"invalid regular expression {pattern!r}: {reason}") from err
    return pattern


def _check_patterns(patterns: tuple[str, ...]) -> tuple[str, ...]:
    for index, pattern in enumerate(patterns):
        try:
            check_regex(pattern)
        except ValueError as err:
            raise ValueError(f"pattern {index}: {err}") from err
    return patterns


Patterns = Annotated[tuple[str, ...], AfterValidator(_check_patterns)]
"""A param holding regexes, each validated when the recipe is loaded."""


def text_matches(patterns: Iterable[str], among: pl.Expr) -> pl.Expr:
    """Row-level: a row selected by ``among`` whose text matches any of ``patterns``.

    Other rows, and rows without text, are False; they are not searched at all,
    which roughly halves the cost when ``among`` is one side of the conversation.
    """
    patterns = tuple(patterns)
    if not patterns:
        return pl.lit(False)
    # Each pattern keeps its own inline flags: `(?i)` inside `(?:...)` stops at the group's end.
    combined = "|".join(f"(?:{p})" for p in patterns)
    return pl.when(among).then(TEXT).str.contains(combined).fill_null(False)


def after_last(flag: pl.Expr, *, if_never: bool = False) -> pl.Expr:
    """Row-level: the row comes after the lead's last row where ``flag`` holds.

    Args:
        flag: a boolean row-level expression (usually a flag column added before).
        if_never: the value for every row of a lead where ``flag`` never holds.
    """
    last = pl.col(ROW).filter(flag).max().over(LEAD_KEY)
    return (pl.col(ROW) > last).fill_null(if_never)


def after_first(flag: pl.Expr) -> pl.Expr:
    """Row-level: the row comes after the lead's first row where ``flag`` holds."""
    first = pl.col(ROW).filter(flag).min().over(LEAD_KEY)
    return (pl.col(ROW) > first).fill_null(False)


def aggregate(
    messages: Frame,
    flags: Mapping[str, pl.Expr],
    aggregations: Iterable[pl.Expr],
    finish: Iterable[pl.Expr] = (),
) -> Frame:
    """Add row flags, reduce to one row per lead, then derive the final columns.

    A `pl.LazyFrame` in gives its plan back, uncollected (`compute_features`
    collects every processor's plan at once); a `pl.DataFrame` in is collected.

    Args:
        messages: the shard's messages, normalised (ordered by lead and time).
        flags: row-level expressions by (private) column name; a flag may use the
            columns of the flags listed before it.
        aggregations: per-lead expressions over the messages and the flags.
        finish: expressions over the aggregated frame, added last.

    Returns:
        One row per lead, in order of first appearance.
    """
    frame = messages.lazy().with_row_index(ROW)
    for name, flag in flags.items():
        frame = frame.with_columns(flag.alias(name))
    plan = frame.group_by(LEAD_KEY, maintain_order=True).agg(*aggregations).with_columns(*finish)
    return plan if isinstance(messages, pl.LazyFrame) else plan.collect()
