"""A run's merged shards and its cluster columns: what the cluster and report steps both read.

`merge_shards` joins the per-shard features (and LLM answers) of a run by
lead key; `join_clusters` adds the columns the cluster step wrote to
``runs/<run_id>/clusters.parquet``. Only light imports (polars): the report
loads this without the clustering stack.
"""

from __future__ import annotations

import polars as pl

from common import layout
from common.errors import TransientError
from common.ports import BlobStore
from common.ports.blobstore import BlobNotFound
from common.processors.base import LEAD_KEY
from common.steps.context import StepContext
from common.steps.io import read_frame, side_by_side

IGNORE = "ignore_reason"


def read_shards(blobs: BlobStore, keys: list[str]) -> list[pl.DataFrame]:
    """The shard objects ``keys``, read side by side (`io.side_by_side`), in order.

    One request an object: a missing one is told by the read itself, not by an
    existence check before it.

    Raises:
        TransientError: some are not written yet (their steps are still running).
    """

    def read(key: str) -> pl.DataFrame | None:
        try:
            return read_frame(blobs, key)
        except BlobNotFound:
            return None

    frames = side_by_side(read, keys)
    missing = [key for key, frame in zip(keys, frames, strict=True) if frame is None]
    if missing:
        raise TransientError(f"{len(missing)} shard objects are not written yet", where=missing[0])
    return [frame for frame in frames if frame is not None]


def merge_shards(
    ctx: StepContext, run_id: str, shards: list[int], *, with_summaries: bool = False
) -> pl.DataFrame:
    """The given feature shards of a run (joined with the LLM answers when asked), by lead key."""
    kinds = ["features", "summaries"] if with_summaries else ["features"]
    every = [layout.shard_key(run_id, kind, i) for kind in kinds for i in shards]
    frames = read_shards(ctx.backends.blobs, every)
    if not shards:
        return pl.DataFrame(schema={LEAD_KEY: pl.String, IGNORE: pl.String})
    merged = pl.concat(frames[: len(shards)], how="diagonal_relaxed")
    if with_summaries:
        summaries = pl.concat(frames[len(shards) :], how="diagonal_relaxed")
        merged = (
            merged.join(summaries.rename({IGNORE: "_llm_ignore"}), on=LEAD_KEY, how="left")
            .with_columns(pl.coalesce(IGNORE, "_llm_ignore").alias(IGNORE))
            .drop("_llm_ignore")
        )
    return merged.sort(LEAD_KEY)


def clusters_key(run_id: str) -> str:
    """``runs/<run_id>/clusters.parquet``: each clustered lead's label and name."""
    return f"{layout.RUNS}/{run_id}/clusters.parquet"


def join_clusters(frame: pl.DataFrame, blobs: BlobStore, run_id: str) -> pl.DataFrame:
    """``frame`` with the run's cluster columns joined by lead key (unchanged when not clustered).

    Leads that were not clustered (no text) get nulls. Columns ``frame``
    already has are not replaced.
    """
    key = clusters_key(run_id)
    if not blobs.exists(key):
        return frame
    clusters = read_frame(blobs, key)
    extra = [c for c in clusters.columns if c != LEAD_KEY and c not in frame.columns]
    return frame.join(clusters.select(LEAD_KEY, *extra), on=LEAD_KEY, how="left")
