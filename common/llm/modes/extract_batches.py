"""The batches of ``extract`` mode: a group's messages as digest lines, cut by size and tokens.

Pure (no calls). See `common.llm.modes.extract` for the mode itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

GROUP = "_group"
"""Column of the group a message or lead belongs to (``llm.extraction.group_by``'s value)."""
MEDIA = "<media>"
TIME_FORMAT = "%Y-%m-%d %H:%M"
ELLIPSIS = "…"
_LINE_BREAKS = r"[ \t]*(?:\r\n|[\r\n\v\f\x85\u2028\u2029])\s*"


@dataclass(frozen=True)
class Batch:
    """Consecutive messages of one group, sent in one extraction call."""

    group: str
    index: int
    """0-based position within the group."""
    count: int
    """Batches in the group."""
    message_ids: tuple[str, ...]
    """In time order."""
    sent_at: tuple[Any, ...]
    """Timestamps of ``message_ids`` (same order)."""
    digest: str

    @property
    def label(self) -> str:
        """``<group>#<n>/<count>``, for logs and reasons."""
        return f"{self.group}#{self.index + 1}/{self.count}"


def cut_batches(tokens: Sequence[int], *, batch_size: int, token_budget: int) -> list[range]:
    """Split consecutive lines into batches: at most ``batch_size`` lines and ``token_budget`` tokens.

    Args:
        tokens: Tokens of each line, in order (a line break costs one more).
        batch_size: Most lines per batch.
        token_budget: Most tokens per batch; a single line over it is alone in its batch.

    Returns:
        The batches as index ranges, covering every line once, in order.
    """
    spans: list[range] = []
    start, used = 0, 0
    for i, cost in enumerate(tokens):
        size = i - start
        if size and (size >= batch_size or used + cost + 1 > token_budget):
            spans.append(range(start, i))
            start, used = i, 0
        used += cost + 1
    if start < len(tokens):
        spans.append(range(start, len(tokens)))
    return spans


def batch_lines(messages: pl.DataFrame, *, timezone: str) -> pl.DataFrame:
    """``_group``, ``message_id``, ``sent_at`` and the digest ``line``, in group and time order.

    Args:
        messages: Canonical messages with a ``_group`` column.
        timezone: IANA zone of the printed times.
    """
    stamp = pl.col("sent_at").dt.convert_time_zone(timezone).dt.strftime(TIME_FORMAT).fill_null("?")
    body = pl.col("text").str.replace_all(_LINE_BREAKS, " ").str.strip_chars().fill_null(MEDIA)
    line = pl.concat_str(
        [
            pl.lit("[id="),
            pl.col("message_id").fill_null("?"),
            pl.lit(" "),
            stamp,
            pl.lit("] "),
            pl.col("sender").fill_null("unknown"),
            pl.lit(": "),
            body,
        ]
    )
    return messages.sort([GROUP, "sent_at", "message_id"], nulls_last=True).select(
        GROUP, "message_id", "sent_at", line.alias("line")
    )


def _cut_line(line: str, budget: int) -> str:
    """The start of ``line`` within ``budget`` tokens (its id and time are at the start)."""
    from common.llm.tokens import encoding

    ids = encoding().encode_ordinary(line)
    return encoding().decode(ids[: max(1, budget - 2)]) + ELLIPSIS


def make_batches(
    messages: pl.DataFrame, *, batch_size: int, token_budget: int, timezone: str
) -> list[Batch]:
    """Every group's messages in time order, cut by `cut_batches`.

    Args:
        messages: Canonical messages with a ``_group`` column.
        batch_size: ``llm.extraction.batch_size``.
        token_budget: ``llm.token_budget`` (most digest tokens per batch).
        timezone: The recipe's zone.

    Returns:
        Batches by group (sorted), then time.
    """
    from common.llm.tokens import count_tokens_batch

    frame = batch_lines(messages, timezone=timezone)
    batches: list[Batch] = []
    for (group,), part in frame.group_by(GROUP, maintain_order=True):
        lines: list[str] = part["line"].to_list()
        tokens = count_tokens_batch(lines)
        for i, cost in enumerate(tokens):
            if cost + 1 > token_budget:
                lines[i] = _cut_line(lines[i], token_budget)
                tokens[i] = token_budget - 1
        ids: list[str] = part["message_id"].to_list()
        times: list[Any] = part["sent_at"].to_list()
        spans = cut_batches(tokens, batch_size=batch_size, token_budget=token_budget)
        for index, span in enumerate(spans):
            batches.append(
                Batch(
                    group=str(group),
                    index=index,
                    count=len(spans),
                    message_ids=tuple(ids[span.start : span.stop]),
                    sent_at=tuple(times[span.start : span.stop]),
                    digest="\n".join(lines[span.start : span.stop]),
                )
            )
    return batches
