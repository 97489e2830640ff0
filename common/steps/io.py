"""Parquet in and out of the BlobStore."""

from __future__ import annotations

import io

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from common.ports import BlobStore


def write_frame(blobs: BlobStore, key: str, frame: pl.DataFrame | pa.Table) -> None:
    """Write a frame as Parquet (deterministic bytes for the same content)."""
    table = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    blobs.put_bytes(key, buffer.getvalue(), content_type="application/vnd.apache.parquet")


def read_frame(blobs: BlobStore, key: str) -> pl.DataFrame:
    """Read a Parquet object into polars."""
    return pl.from_arrow(pq.read_table(io.BytesIO(blobs.get_bytes(key))))  # type: ignore[return-value]
