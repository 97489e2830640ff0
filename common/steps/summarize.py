"""summarize: a structured LLM answer per conversation of one shard, through the cache."""

from __future__ import annotations

from typing import Any

import polars as pl

from common import chain, layout
from common.llm.analysis import Item, Outcome
from common.llm.config import LLMConfig
from common.messages import ShardMessage
from common.ports import StepKey
from common.processors.base import LEAD_KEY, normalize_messages
from common.steps.context import StepContext
from common.steps.fanin import shard_finished
from common.steps.io import read_frame, write_frame
from common.steps.runner import run_once

STEP = "summarize"
IGNORE = "ignore_reason"
DTYPES = {
    "string": pl.String(),
    "category": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "list": pl.String(),
}
LIST_SEPARATOR = "; "


def answers_frame(config: LLMConfig, outcomes: list[Outcome]) -> pl.DataFrame:
    """One row per outcome: lead_key, the answer's fields (typed), and the ignore reason."""
    schema: dict[str, Any] = {LEAD_KEY: pl.String(), IGNORE: pl.String()}
    schema.update({name: DTYPES[spec.type] for name, spec in config.output_schema.items()})
    rows = []
    for outcome in outcomes:
        row: dict[str, Any] = {LEAD_KEY: outcome.lead_key, IGNORE: outcome.reason}
        for name, spec in config.output_schema.items():
            value = (outcome.answer or {}).get(name)
            if spec.type == "list" and value is not None:
                value = LIST_SEPARATOR.join(str(v) for v in value)
            row[name] = value
        rows.append(row)
    return pl.DataFrame(rows, schema=schema, orient="row")


def summarize(ctx: StepContext, message: ShardMessage) -> None:
    """Analyse every kept conversation of the shard and store the answers."""

    def work() -> dict[str, Any]:
        from common.llm.digest import build_digests
        from common.llm.factory import build_analyzer

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
        digests = build_digests(
            messages, token_budget=recipe.llm.token_budget, timezone=recipe.meta.timezone
        )
        rows = kept.join(digests.select(LEAD_KEY, "digest", "truncated"), on=LEAD_KEY, how="inner")
        items = [
            Item(
                lead_key=row[LEAD_KEY],
                fields={k: v for k, v in row.items() if k not in ("digest", "truncated")},
                digest=row["digest"],
            )
            for row in rows.iter_rows(named=True)
        ]
        analyzer = build_analyzer(
            recipe, ctx.settings, ctx.backends.cache, read_cache=not message.options.no_cache
        )
        outcomes, stats = analyzer.run(items)
        frame = answers_frame(recipe.llm, outcomes).join(
            rows.select(LEAD_KEY, pl.col("truncated").alias("digest_truncated")),
            on=LEAD_KEY,
            how="left",
        )
        write_frame(
            blobs, layout.shard_key(message.run_id, "summaries", message.shard_index), frame
        )
        if chain.is_last_shard_stage(recipe, STEP):
            shard_finished(ctx, recipe, STEP, message)
        else:
            ctx.backends.bus.publish(chain.next_stage(recipe, STEP).topic, message)
        return {"llm": stats.as_dict(), "client": analyzer.client.stats.as_dict()}

    run_once(ctx, StepKey(message.run_id, STEP, message.shard_index), work, recipe=message.recipe)
