"""Embeddings where the work is spread: each shard embeds its own texts into the vector cache.

A recipe with a ``clustering`` section embeds, in its last per-shard stage
(``summarize`` when it has an LLM, so ``text: llm_summary`` is there, else
``process``), the texts the cluster step will cluster for that shard's kept
leads, into the content-addressed vector cache. The run-level ``cluster``
step then reads every vector from the cache and only fits. Idempotent: a
redelivered shard finds its vectors cached and embeds nothing again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl

from common import layout
from common.messages import ShardMessage
from common.recipe import Recipe
from common.steps.context import StepContext
from common.steps.io import read_frame

IGNORE = "ignore_reason"


def embed_shard_texts(ctx: StepContext, recipe: Recipe, message: ShardMessage) -> dict[str, Any]:
    """Embed the shard's clustering texts into the cache; returns the embedding counters.

    Call it after the stage wrote its own frame (features, or summaries).
    """
    from common.clustering.cache import embed_texts
    from common.clustering.embedders import build_embedder
    from common.clustering.pipeline import prepare_texts
    from common.clustering.texts import build_texts
    from common.clustering.topics import topic_texts
    from common.processors.base import normalize_messages
    from common.steps.cluster import _masked_texts as masked_texts
    from common.steps.merge import merge_shards

    config = recipe.clustering
    if config is None:
        return {}
    merged = merge_shards(
        ctx, message.run_id, [message.shard_index], with_summaries=recipe.llm is not None
    )
    kept = merged.filter(pl.col(IGNORE).is_null())
    messages = None
    if config.text == "user_messages":
        key = layout.shard_key(message.run_id, "conversations", message.shard_index)
        messages = normalize_messages(read_frame(ctx.backends.blobs, key))
    # Masked exactly as the cluster step masks them (same text, same cache key).
    texts = masked_texts(ctx, recipe, config, kept, build_texts(config, kept, messages))
    prepared = prepare_texts(texts["text"].to_list(), config.embedding.max_chars)
    if not prepared:
        return {"unique": 0, "embedded": 0, "cache_hits": 0}
    # The tags' categories and the topics' descriptions and examples are embedded with the
    # same model by the cluster step: cache them here too (a few texts, cached after the
    # first shard), so it makes no call.
    prepared += list(config.tags) if config.tag_with == "embedding" else []
    prepared += [text for topic in config.topics for text in topic_texts(topic)]
    embedder = build_embedder(config.embedding, ctx.settings)
    _, stats = embed_texts(
        prepared,
        embed=lambda batch: embedder.embed(batch),
        provider=embedder.provider,
        model=embedder.model,
        dimensions=embedder.dimensions,
        cache=ctx.backends.cache,
        ttl=timedelta(days=config.embedding.cache_ttl_days),
        read_cache=not message.options.no_cache,
    )
    stats.provider = embedder.stats()
    return stats.as_dict()
