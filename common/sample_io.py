"""How the sample-data generators write their files: Parquet and the manifest, atomically.

Shared by ``scripts/generate_sample_data.py`` (the demo's leads and chats) and
``scripts/generate_company_data.py`` (the investor-update companies). A data
set is complete when its ``manifest.json`` exists: `start` removes it first,
every file is written beside itself and renamed into place, and
`write_manifest` comes last. Same columns and schema give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def normalize_anchor(anchor: datetime | None) -> datetime:
    """The data set's "now" in UTC: naive values are UTC; None is the current hour."""
    if anchor is None:
        return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return anchor.replace(tzinfo=UTC) if anchor.tzinfo is None else anchor.astimezone(UTC)


def parse_anchor(value: str) -> datetime:
    """``--anchor`` of the generators (argparse type): ISO 8601, normalised."""
    try:
        return normalize_anchor(datetime.fromisoformat(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 timestamp: {value!r}") from exc


def start(manifest_path: Path) -> None:
    """Mark the data set incomplete (no manifest) before its files are rewritten."""
    manifest_path.unlink(missing_ok=True)


def write_parquet(path: Path, columns: dict[str, list], schema: pa.Schema) -> None:
    """``columns`` as a zstd Parquet file at ``path`` (folders created, replaced atomically)."""
    table = pa.Table.from_pydict(columns, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".parquet.tmp")
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, path)


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """``manifest`` as indented UTF-8 JSON at ``path``, replaced atomically: the data set is complete."""
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(temporary, path)
