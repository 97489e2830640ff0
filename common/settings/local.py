"""Settings of the local (embedded) backends: a folder, SQLite, DuckDB over Parquet."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from common.settings._base import LR_CONFIG


class LocalSettings(BaseSettings):
    """Where the `local` backend keeps its blobs, state and warehouse; how many workers it runs."""

    model_config = LR_CONFIG

    data_dir: Path = Field(
        Path("."),
        description="Root of the local BlobStore: `runs/` and `output_run/` are created here.",
    )
    state_db: Path = Field(
        Path(".lead-recovery/state.sqlite"),
        description="SQLite file of the local StateStore (runs, shard counters, step marks).",
    )
    local_workers: int = Field(
        # One more than the cores: a delivery also waits on files and SQLite, and a third
        # worker keeps two cores busy (benchmarks/scale, 2 cores: 8.7 s vs 10.6 s).
        default_factory=lambda: min((os.cpu_count() or 1) + 1, 4),
        ge=1,
        description="Local runs: messages handled at once, as several function instances "
        "would (default: one more than the CPU count, at most 4).",
    )
    staging_dir: Path | None = Field(
        None,
        description="Local warehouse: where a run's conversations scan is staged as per-shard "
        "Parquet (`<run_id>/_shard=N/`), removed when the run's report is written; default: "
        "`staging/` beside LR_STATE_DB.",
    )
    warehouse_dir: Path = Field(
        Path("data/sample"),
        description="Local warehouse: every `<dataset>/<table>.parquet` under it is a table "
        "`dataset.table` for the recipe SQL (run on DuckDB).",
    )
