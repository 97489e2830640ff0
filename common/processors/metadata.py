"""Message metadata: who spoke last, what was said last, how many messages per sender."""

from __future__ import annotations

from typing import ClassVar

import polars as pl
from pydantic import Field

from common.processors.base import (
    LEAD_KEY,
    Column,
    Frame,
    Processor,
    ProcessorParams,
)
from common.processors.registry import register


class MessageMetadataParams(ProcessorParams):
    """Params of `MessageMetadataProcessor`."""

    max_message_length: int = Field(
        150, ge=1, description="Longer last-message texts are cut to this many characters."
    )


@register
class MessageMetadataProcessor(Processor):
    """Last sender, last user / agent text and time, and message counts per sender."""

    name = "MessageMetadataProcessor"
    Params = MessageMetadataParams
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "last_message_sender", pl.String(), "Sender of the last message: user, bot or agent."
        ),
        Column("last_message_ts", pl.Datetime("us", "UTC"), "Time of the last message (UTC)."),
        Column(
            "last_user_message_text", pl.String(), "Text of the customer's last message, truncated."
        ),
        Column(
            "last_agent_message_text", pl.String(), "Text of the last bot/agent message, truncated."
        ),
        Column("user_message_count", pl.Int64(), "Messages sent by the customer."),
        Column("bot_message_count", pl.Int64(), "Messages sent by the bot."),
        Column("agent_message_count", pl.Int64(), "Messages sent by a human agent."),
    )

    def compute(self, messages: Frame) -> Frame:
        """One row per lead; ``messages`` is sorted by lead and time (see `normalize_messages`)."""
        params = self.params
        assert isinstance(params, MessageMetadataParams)
        limit = params.max_message_length
        sender = pl.col("sender")
        is_user = sender == "user"
        is_staff = sender.is_in(["bot", "agent"])
        return messages.group_by(LEAD_KEY, maintain_order=True).agg(
            sender.last().alias("last_message_sender"),
            pl.col("sent_at").last().alias("last_message_ts"),
            pl.col("text")
            .filter(is_user)
            .last()
            .str.slice(0, limit)
            .alias("last_user_message_text"),
            pl.col("text")
            .filter(is_staff)
            .last()
            .str.slice(0, limit)
            .alias("last_agent_message_text"),
            is_user.sum().cast(pl.Int64).alias("user_message_count"),
            (sender == "bot").sum().cast(pl.Int64).alias("bot_message_count"),
            (sender == "agent").sum().cast(pl.Int64).alias("agent_message_count"),
        )
