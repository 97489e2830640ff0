"""fetch-conversations: one shard's part of the run's staged conversations scan.

fetch-leads ran the recipe's conversations SQL once for the whole run
(`Warehouse.stage_scan`); this step reads only its shard's rows, checks their
types and stores them where the shard's later steps read them.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from common import chain, layout
from common.errors import DataError
from common.messages import ShardMessage
from common.processors.base import MESSAGE_SCHEMA
from common.steps.context import StepContext
from common.steps.io import write_frame
from common.steps.runner import run_shard_once

STEP = "fetch_conversations"


def fetch_conversations(ctx: StepContext, message: ShardMessage) -> None:
    """Query the recipe's conversations SQL for the shard and store the messages."""

    def work() -> dict[str, Any]:
        recipe = ctx.recipe(message.recipe)
        blobs = ctx.backends.blobs
        where = recipe.where(recipe.meta.conversations_sql)
        table = ctx.backends.warehouse.read_staged(message.run_id, message.shard_index, where=where)
        missing = [c for c in MESSAGE_SCHEMA if c not in table.column_names]
        if missing:
            raise DataError(
                f"conversations query lacks column(s) {', '.join(missing)}",
                where=where,
                expected="columns " + ", ".join(MESSAGE_SCHEMA),
                found=table.column_names,
            )
        frame = pl.from_arrow(table).select(list(MESSAGE_SCHEMA))  # type: ignore[union-attr]
        try:
            frame = frame.cast(MESSAGE_SCHEMA)  # type: ignore[arg-type]
        except pl.exceptions.PolarsError as err:
            raise DataError(f"conversations have unexpected types: {err}", where=where) from err
        write_frame(
            blobs, layout.shard_key(message.run_id, "conversations", message.shard_index), frame
        )
        ctx.backends.bus.publish(chain.next_stage(recipe, STEP).topic, message)
        return {"messages": frame.height}

    run_shard_once(ctx, STEP, message, work)
