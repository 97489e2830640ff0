"""fetch-conversations: the messages of one shard's leads, by an ARRAY query parameter."""

from __future__ import annotations

from typing import Any

import polars as pl

from common import chain, layout
from common.errors import DataError
from common.messages import ShardMessage
from common.processors.base import LEAD_KEY, MESSAGE_SCHEMA
from common.steps.context import StepContext
from common.steps.io import read_frame, write_frame
from common.steps.runner import run_shard_once

STEP = "fetch_conversations"


def fetch_conversations(ctx: StepContext, message: ShardMessage) -> None:
    """Query the recipe's conversations SQL for the shard and store the messages."""

    def work() -> dict[str, Any]:
        recipe = ctx.recipe(message.recipe)
        blobs = ctx.backends.blobs
        leads = read_frame(blobs, layout.shard_key(message.run_id, "leads", message.shard_index))
        where = recipe.where(recipe.meta.conversations_sql)
        table = ctx.backends.warehouse.query(
            recipe.conversations_sql,
            {
                "lead_keys": leads[LEAD_KEY].to_list(),
                "as_of": message.options.as_of,
                "recipe": recipe.name,
            },
            where=where,
        )
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
