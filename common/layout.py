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


def run_stamp(started_at: datetime) -> str:
    """``YYYY-MM-DDTHH-MM`` in UTC: the folder of one run's outputs."""
    return started_at.astimezone(UTC).strftime("%Y-%m-%dT%H-%M")


def output_key(recipe: str, stamp: str, filename: str) -> str:
    """``output_run/<recipe>/<stamp>/<filename>``."""
    return f"{OUTPUT}/{recipe}/{stamp}/{filename}"


def latest_key(recipe: str, filename: str) -> str:
    """``output_run/<recipe>/<filename>`` (latest.csv, latest_ignored.csv)."""
    return f"{OUTPUT}/{recipe}/{filename}"


def uploaded_leads_key(recipe: str) -> str:
    """Where an uploaded leads CSV for a recipe lives in the BlobStore."""
    return f"{UPLOADS}/{recipe}/leads.csv"
