"""Which text of each lead is clustered (``clustering.text``), from the run's frames."""

from __future__ import annotations

import polars as pl

from common.clustering.config import LLM_SUMMARY_FIELD, ClusteringConfig
from common.errors import DataError

LEAD_KEY = "lead_key"
USER = "user"


def user_messages(messages: pl.DataFrame) -> pl.DataFrame:
    """``lead_key, text``: each lead's user messages in conversation order, one per line.

    ``messages`` must be normalised (`common.processors.base.normalize_messages`):
    lower-case senders, sorted by lead and time.
    """
    return (
        messages.filter((pl.col("sender") == USER) & pl.col("text").is_not_null())
        .with_columns(pl.col("text").str.strip_chars())
        .filter(pl.col("text") != "")
        .group_by(LEAD_KEY, maintain_order=True)
        .agg(pl.col("text").str.join("\n"))
    )


def build_texts(
    config: ClusteringConfig, kept: pl.DataFrame, messages: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``lead_key, text`` for the kept leads that have a non-empty text, sorted by lead key.

    Args:
        config: The clustering section (``text`` picks the source).
        kept: The run's merged rows that are not ignored (lead, processor, LLM columns).
        messages: The run's normalised messages (needed for ``user_messages``).

    Raises:
        DataError: the chosen column is not in the run's data.
    """
    if config.text == "user_messages":
        if messages is None:
            raise DataError(
                "text `user_messages` needs the run's messages", where="clustering.text"
            )
        frame = kept.select(LEAD_KEY).join(user_messages(messages), on=LEAD_KEY, how="inner")
    else:
        column = LLM_SUMMARY_FIELD if config.text == "llm_summary" else config.text.column
        if column not in kept.columns:
            raise DataError(
                f"clustering.text: column `{column}` is not in the run's data",
                where="clustering.text",
                expected="one of " + ", ".join(c for c in kept.columns if c != "ignore_reason"),
            )
        frame = kept.select(LEAD_KEY, pl.col(column).cast(pl.String).alias("text"))
    return (
        frame.with_columns(pl.col("text").str.strip_chars())
        .filter(pl.col("text").is_not_null() & (pl.col("text") != ""))
        .sort(LEAD_KEY)
    )
