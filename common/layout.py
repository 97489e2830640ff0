"""Object names of the storage layout; deterministic so retries overwrite, never duplicate."""

from __future__ import annotations

from datetime import UTC, datetime

RUNS = "runs"
OUTPUT = "output_run"
UPLOADS = "uploads"


def shard_key(run_id: str, kind: str, shard: int) -> str:
    """``runs/<run_id>/<kind>/shard-00000.parquet`` (kind: leads, conversations, features…)."""
    return f"{RUNS}/{run_id}/{kind}/shard-{shard:05d}.parquet"


def shard_prefix(run_id: str, kind: str) -> str:
    """Prefix listing every shard of one kind."""
    return f"{RUNS}/{run_id}/{kind}/shard-"


def run_folder(started_at: datetime, run_id: str) -> str:
    """``YYYY-MM-DDTHH-MM-SS_<run_id>``: the folder of one run's outputs.

    The start time (UTC, to the second) makes folders sort by when their runs
    started; the run id keeps two runs started in the same second apart, and a
    retried step of the same run writes into the same folder.
    """
    return f"{started_at.astimezone(UTC):%Y-%m-%dT%H-%M-%S}_{run_id}"


def output_key(recipe: str, folder: str, filename: str) -> str:
    """``output_run/<recipe>/<folder>/<filename>``."""
    return f"{OUTPUT}/{recipe}/{folder}/{filename}"


def latest_key(recipe: str, filename: str) -> str:
    """``output_run/<recipe>/<filename>`` (latest.csv, latest_ignored.csv, latest.json…)."""
    return f"{OUTPUT}/{recipe}/{filename}"


def uploaded_leads_key(recipe: str) -> str:
    """Where an uploaded leads CSV for a recipe lives in the BlobStore."""
    return f"{UPLOADS}/{recipe}/leads.csv"
