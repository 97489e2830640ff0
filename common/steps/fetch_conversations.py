"""fetch-conversations: one shard's part of the run's staged conversations scan.

fetch-leads ran the recipe's conversations SQL once for the whole run
(`Warehouse.stage_scan`); this step reads only its shard's rows, checks their
types and stores them where the shard's later steps read them.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from common import chain, layout
from common.errors import DataError
from common.messages import ShardMessage
from common.processors.base import MESSAGE_SCHEMA, conform_messages, require_message_columns
from common.steps.context import StepContext
from common.steps.io import write_frame
from common.steps.runner import run_shard_once

STEP = "fetch_conversations"
log = logging.getLogger(__name__)


def fetch_conversations(ctx: StepContext, message: ShardMessage) -> None:
    """Query the recipe's conversations SQL for the shard and store the messages."""

    def work() -> dict[str, Any]:
        recipe = ctx.recipe(message.recipe)
        blobs = ctx.backends.blobs
        where = recipe.where(recipe.meta.conversations_sql)
        table = ctx.backends.warehouse.read_staged(message.run_id, message.shard_index, where=where)
        require_message_columns(table.column_names, where=where)
        frame = pl.from_arrow(table).select(list(MESSAGE_SCHEMA))  # type: ignore[union-attr]
        try:
            frame, dropped = conform_messages(
                frame,
                where=where,
                sender_map=recipe.meta.sender_map,
                sent_at_timezone=recipe.meta.sent_at_timezone,
            )
        except pl.exceptions.PolarsError as err:
            raise DataError(f"conversations have unexpected types: {err}", where=where) from err
        if dropped:
            log.warning("messages dropped: %s", dropped, extra={"fields": {"dropped": dropped}})
        write_frame(
            blobs, layout.shard_key(message.run_id, "conversations", message.shard_index), frame
        )
        ctx.backends.bus.publish(chain.next_stage(recipe, STEP).topic, message)
        return {"messages": frame.height, "dropped": dropped}

    run_shard_once(ctx, STEP, message, work)
