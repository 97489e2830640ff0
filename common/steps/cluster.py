"""cluster: the themes in what a run's customers say, once per run, then on to the report.

Reads the run's merged shards (and messages, for ``text: user_messages``),
clusters the kept leads' texts (`common.clustering.pipeline.run_clustering`),
writes the outputs under ``output_run/<recipe>/<stamp>/`` and
``runs/<run_id>/clusters.parquet`` (``lead_key, cluster_label, cluster_name``,
the label and name at every depth, ``tags``), which the report joins into the
analysis CSV (`common.steps.merge.join_clusters`), and publishes the run to the
next stage.

The clustering stack (numpy and friends) is imported inside the step.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import polars as pl

from common import chain, layout
from common.errors import TerminalError, TransientError
from common.messages import RunMessage
from common.ports import StateStore, StepKey
from common.processors.base import LEAD_KEY
from common.steps.context import StepContext
from common.steps.io import write_frame
from common.steps.merge import IGNORE, clusters_key, merge_shards, read_shards
from common.steps.runner import run_once

log = logging.getLogger(__name__)
STEP = "cluster"


def _messages(ctx: StepContext, run_id: str, shards: list[int]) -> pl.DataFrame:
    from common.processors.base import normalize_messages

    keys = [layout.shard_key(run_id, "conversations", i) for i in shards]
    frames = read_shards(ctx.backends.blobs, keys)
    if not keys:
        return pl.DataFrame(schema={"lead_key": pl.String, "sender": pl.String, "text": pl.String})
    return normalize_messages(pl.concat(frames, how="diagonal_relaxed"))


def cluster(ctx: StepContext, message: RunMessage) -> dict[str, Any] | None:
    """Cluster the run's texts, write the outputs and pass the run on, once per run."""

    def work() -> dict[str, Any]:
        from common.clustering.outputs import write_outputs
        from common.clustering.pipeline import run_clustering
        from common.clustering.texts import build_texts
        from common.steps.failures import failed_shards

        recipe = ctx.recipe(message.recipe)
        config = recipe.clustering
        if config is None:
            raise TerminalError(
                "the recipe has no clustering section", where=recipe.where(field="clustering")
            )
        state = ctx.backends.state
        blobs = ctx.backends.blobs
        run = state.get_run(message.run_id) or {}
        if "shard_count" not in run:
            raise TransientError("the run document has no shard count yet", where=message.run_id)
        failed = failed_shards(state.list_steps(message.run_id, status="failed"))
        shards = [i for i in range(int(run["shard_count"])) if i not in failed]
        merged = merge_shards(ctx, message.run_id, shards, with_summaries=recipe.llm is not None)
        kept = merged.filter(pl.col(IGNORE).is_null())
        messages = (
            _messages(ctx, message.run_id, shards) if config.text == "user_messages" else None
        )
        texts = build_texts(config, kept, messages)
        texts = _masked_texts(ctx, recipe, config, kept, texts)
        started = datetime.fromisoformat(run["started_at"])

        result = run_clustering(
            recipe=recipe,
            config=config,
            lead_keys=texts[LEAD_KEY].to_list(),
            texts=texts["text"].to_list(),
            settings=ctx.settings,
            blobs=blobs,
            cache=ctx.backends.cache,
            run_id=message.run_id,
            now=started,
            read_cache=not message.options.no_cache,
            previous_topics=(
                previous_topics(state, recipe.name, message.run_id, run["started_at"])
                if config.topics
                else None
            ),
        )
        folder = layout.run_folder(started, message.run_id)
        outputs = write_outputs(
            result,
            blobs=blobs,
            key=lambda name: layout.output_key(recipe.name, folder, name),
            config=config,
            recipe=recipe.name,
            run_id=message.run_id,
        )
        from common.clustering.outputs import assignments_frame

        write_frame(blobs, clusters_key(message.run_id), assignments_frame(result).drop("text"))
        summary = {
            "texts": len(result.texts),
            "leads_without_text": kept.height - len(result.texts),
            **{k: v for k, v in result.stats.items() if k != "model"},
            "outputs": outputs,
        }
        state.update_run(message.run_id, {"clustering": summary})
        ctx.backends.bus.publish(chain.next_stage(recipe, STEP).topic, message)
        log.info("clusters written to %s", outputs.get("cluster_analysis.csv"))
        return summary

    return run_once(ctx, StepKey(message.run_id, STEP), work, recipe=message.recipe)


PREVIOUS_RUNS_SCANNED = 20
"""Run documents of the recipe looked through for the previous run's topic sizes."""


def previous_topics(
    state: StateStore, recipe: str, run_id: str, started_at: str
) -> dict[str, Any] | None:
    """The guided topic stats (``clustering.topics``, with ``run_id``) of the latest run of
    ``recipe`` that started before ``started_at`` and has them (None: none)."""
    start = datetime.fromisoformat(started_at)
    found: tuple[datetime, dict[str, Any]] | None = None
    for doc in state.list_runs(recipe, limit=PREVIOUS_RUNS_SCANNED):
        if doc.get("run_id") == run_id or not doc.get("started_at"):
            continue
        started = datetime.fromisoformat(str(doc["started_at"]))
        clustering = doc.get("clustering")
        topics = clustering.get("topics") if isinstance(clustering, dict) else None
        if started >= start or not isinstance(topics, dict) or "sizes" not in topics:
            continue
        if found is None or started > found[0]:
            found = (started, {"run_id": doc["run_id"], **topics})
    return None if found is None else found[1]


def _masked_texts(
    ctx: StepContext, recipe: Any, config: Any, kept: pl.DataFrame, texts: pl.DataFrame
) -> pl.DataFrame:
    """The texts with identifiers masked when they go to a provider (`common.privacy`).

    Masked when the embedder or the naming model is a remote provider: the
    vectors, the cluster names and the cached embeddings then never hold them.
    """
    from common.clustering.naming import resolve_naming_llm
    from common.llm.factory import effective_provider_model
    from common.privacy.config import REMOTE, build_masker

    naming, _ = effective_provider_model(
        ctx.settings, resolve_naming_llm(recipe, config).provider, None
    )
    provider = next((p for p in (config.embedding.provider, naming) if p in REMOTE), "local")
    masker = build_masker(recipe.meta.privacy, provider, project=ctx.settings.project)
    if masker is None or texts.is_empty():
        return texts
    fields = {
        row[LEAD_KEY]: row
        for row in kept.select(
            LEAD_KEY, *[c for c in masker.name_columns if c in kept.columns]
        ).iter_rows(named=True)
    }
    keys = texts[LEAD_KEY].to_list()
    masked, _ = masker.mask_records(
        [(fields.get(k, {}), t) for k, t in zip(keys, texts["text"], strict=True)]
    )
    return texts.with_columns(pl.Series("text", [t for _, t in masked], dtype=pl.String))
