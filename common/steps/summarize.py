"""summarize: a structured LLM answer per conversation of one shard, through the cache."""

from __future__ import annotations

from typing import Any

import polars as pl

from common import chain, layout
from common.llm.batch import ShardScope, shard_scope
from common.messages import ShardMessage
from common.processors.base import LEAD_KEY, normalize_messages
from common.steps.context import StepContext
from common.steps.embed_shard import embed_shard_texts
from common.steps.fanin import shard_finished
from common.steps.io import read_frame, write_frame
from common.steps.runner import run_shard_once

STEP = "summarize"
IGNORE = "ignore_reason"


def summarize(ctx: StepContext, message: ShardMessage) -> None:
    """Analyse every kept conversation of the shard and store the answers."""

    def work() -> dict[str, Any]:
        from common.llm.modes import get_mode

        recipe = ctx.recipe(message.recipe)
        assert recipe.llm is not None  # the chain only routes LLM recipes here
        blobs = ctx.backends.blobs
        features = read_frame(
            blobs, layout.shard_key(message.run_id, "features", message.shard_index)
        )
        messages = read_frame(
            blobs, layout.shard_key(message.run_id, "conversations", message.shard_index)
        )
        kept = features.filter(pl.col(IGNORE).is_null()).drop(IGNORE)
        messages = normalize_messages(messages).filter(
            pl.col(LEAD_KEY).is_in(kept[LEAD_KEY].implode())
        )
        # Batch mode (`llm.batch`): the analyzer may submit the misses as a provider batch
        # and raise BatchPending; `run_once` then marks the step waiting (see common.llm.batch).
        scope = ShardScope(
            blobs, message.run_id, message.shard_index, message.model_dump(mode="json")
        )
        with shard_scope(scope):
            result = get_mode(recipe.llm.mode).run(
                recipe=recipe,
                settings=ctx.settings,
                cache=ctx.backends.cache,
                read_cache=not message.options.no_cache,
                kept=kept,
                messages=messages,
            )
        write_frame(
            blobs, layout.shard_key(message.run_id, "summaries", message.shard_index), result.frame
        )
        extra: dict[str, Any] = {}
        if chain.is_last_shard_stage(recipe, STEP):
            if recipe.clustering is not None:
                extra["embedding"] = embed_shard_texts(ctx, recipe, message)
            shard_finished(ctx, recipe, STEP, message)
        else:
            ctx.backends.bus.publish(chain.next_stage(recipe, STEP).topic, message)
        return {"llm": result.stats, "client": result.client, **extra}

    run_shard_once(ctx, STEP, message, work)
