"""`steps.merge.read_shards`: every shard in order, or a retryable error naming a missing one."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.errors import TransientError
from common.steps.io import write_frame
from common.steps.merge import read_shards


def test_reads_every_shard_in_order(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path)
    keys = [f"runs/r/features/shard-{i:05d}.parquet" for i in range(20)]
    for i, key in enumerate(keys):
        write_frame(blobs, key, pl.DataFrame({"lead_key": [f"lead-{i}"]}))
    frames = read_shards(blobs, keys)
    assert [f["lead_key"][0] for f in frames] == [f"lead-{i}" for i in range(20)]


def test_a_missing_shard_is_transient(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path)
    keys = [f"runs/r/features/shard-{i:05d}.parquet" for i in range(3)]
    write_frame(blobs, keys[0], pl.DataFrame({"lead_key": ["a"]}))
    with pytest.raises(TransientError, match="2 shard objects are not written yet") as raised:
        read_shards(blobs, keys)
    assert keys[1] in str(raised.value)
