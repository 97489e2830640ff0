"""`lead-recovery prune`: the local backend's retention (the cloud's are TTL and lifecycle rules).

Deletes what is older than each kind's days (`common.retention.KINDS`,
``LR_RETENTION_<KIND>_DAYS``; ``--older-than`` overrides them all):

- state DB (``LR_STATE_DB``): runs by their ``created_at``, with their step
  marks and fan-in rows; LLM rate buckets by their last refill (``updated``);
- call store (``calls.sqlite`` beside it): calls and lead outcomes by their
  document's ``updated_at`` (else ``created_at``);
- blob store (``LR_DATA_DIR``): ``runs/<run_id>/`` and
  ``output_run/<recipe>/<folder>/`` folders by their newest file; never the
  ``latest.*`` copies, nor the folder of the run ``latest.json`` records
  (``latest.html`` links into it);
- staging (``LR_STAGING_DIR``): ``<run_id>/`` folders by their newest file.

A kind kept 0 days is kept forever. Pruning twice removes nothing the second time.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from common.errors import ConfigError, LeadRecoveryError
from common.layout import OUTPUT, RUNS
from common.retention import retention_days
from common.settings import Settings, get_settings


@dataclass(frozen=True)
class Removal:
    """One thing pruned (or that a dry run would prune)."""

    kind: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.kind:<16} {self.where}: {self.what}"


def parse_older_than(text: str) -> int:
    """Days from ``--older-than`` (``30``, ``30d``, ``4w``).

    Raises:
        ConfigError: not a whole number of days or weeks.
    """
    match = re.fullmatch(r"\s*(\d+)\s*([dw]?)\s*", text)
    if not match:
        raise ConfigError(
            "not a duration", where="--older-than", expected="days like 30, 30d or 4w", found=text
        )
    return int(match[1]) * (7 if match[2] == "w" else 1)


def _cutoff(kind: str, now: datetime, older_than: int | None) -> datetime | None:
    days = retention_days(kind) if older_than is None else older_than
    return None if days <= 0 else now - timedelta(days=days)


def _newest_mtime(folder: Path) -> datetime:
    times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()]
    return datetime.fromtimestamp(max(times, default=folder.stat().st_mtime), UTC)


def _old_folders(parent: Path, cutoff: datetime, keep: set[Path]) -> Iterator[Path]:
    if not parent.is_dir():
        return
    for folder in sorted(parent.iterdir()):
        if folder.is_dir() and folder not in keep and _newest_mtime(folder) < cutoff:
            yield folder


def _latest_folders(outputs: Path) -> set[Path]:
    """The run folder each recipe's ``latest.json`` records (kept while it is the latest)."""
    keep = set()
    for record in outputs.glob("*/latest.json"):
        try:
            folder = json.loads(record.read_text(encoding="utf-8")).get("folder")
        except (OSError, ValueError):
            continue
        if folder:
            keep.add(record.parent / str(folder))
    return keep


def _rows(
    db: Path, table: str, key: str, when_sql: str, cutoff: datetime, dry_run: bool
) -> list[str]:
    """Keys of ``table`` whose ``when_sql`` (ISO text) is before ``cutoff``; deleted unless a dry run."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if not exists:
            return []
        # ISO 8601 texts in UTC compare as times; normalise the offset spelling first.
        old = f"replace({when_sql}, 'Z', '+00:00') < ?"
        keys = [
            r[0]
            # Table and column names are this module's constants, never input.
            for r in conn.execute(f"SELECT {key} FROM {table} WHERE {old}", (cutoff.isoformat(),))  # noqa: S608
        ]
        if keys and not dry_run:
            conn.execute(f"DELETE FROM {table} WHERE {old}", (cutoff.isoformat(),))  # noqa: S608
    return sorted(str(k) for k in keys)


def prune_local(
    settings: Settings,
    *,
    now: datetime | None = None,
    older_than_days: int | None = None,
    dry_run: bool = False,
) -> list[Removal]:
    """Delete the local backend's data older than each kind's retention.

    Args:
        settings: Resolved settings (paths of the state DB, data and staging dirs).
        now: The present (tests).
        older_than_days: Days applied to every kind instead of ``LR_RETENTION_*_DAYS``.
        dry_run: Say what would be removed; remove nothing.

    Returns:
        What was removed (or would be), kind by kind.
    """
    now = now or datetime.now(UTC)
    removed: list[Removal] = []
    state_db = Path(settings.state_db)

    if (cutoff := _cutoff("runs", now, older_than_days)) is not None:
        runs = _rows(state_db, "runs", "run_id", "created_at", cutoff, dry_run=True)
        if runs and not dry_run:
            with sqlite3.connect(state_db) as conn:
                for table in ("steps", "fanin_marks", "fanin_counts", "runs"):
                    delete = f"DELETE FROM {table} WHERE run_id = ?"  # noqa: S608 - constant names
                    conn.executemany(delete, [(r,) for r in runs])
        removed += [Removal("runs", str(state_db), f"run {r} (and its steps)") for r in runs]

    if (cutoff := _cutoff("llm_rate_budget", now, older_than_days)) is not None:
        when = "strftime('%Y-%m-%dT%H:%M:%S+00:00', updated, 'unixepoch')"
        buckets = _rows(state_db, "llm_rate_buckets", "bucket_id", when, cutoff, dry_run)
        removed += [Removal("llm_rate_budget", str(state_db), f"bucket {b}") for b in buckets]

    calls_db = state_db.with_name("calls.sqlite")
    doc_time = "coalesce(json_extract(doc, '$.updated_at'), json_extract(doc, '$.created_at'))"
    for kind, table, key, label, when in (
        ("calls", "calls", "call_id", "call", doc_time),
        ("lead_outcomes", "lead_outcomes", "lead_key", "lead outcome", doc_time),
        ("lead_outcomes", "lead_contexts", "lead_key", "lead context", "updated_at"),
    ):
        if (cutoff := _cutoff(kind, now, older_than_days)) is not None:
            keys = _rows(calls_db, table, key, when, cutoff, dry_run)
            removed += [Removal(kind, str(calls_db), f"{label} {k}") for k in keys]

    data = Path(settings.data_dir)
    staging = Path(settings.staging_dir or state_db.parent / "staging")
    outputs = data / OUTPUT
    for kind, root in (("intermediate", data / RUNS), ("outputs", outputs), ("staging", staging)):
        if (cutoff := _cutoff(kind, now, older_than_days)) is None or not root.is_dir():
            continue
        if kind == "outputs":  # output_run/<recipe>/<folder>/, never latest.* nor its run
            keep = _latest_folders(outputs)
            parents = sorted(p for p in outputs.iterdir() if p.is_dir())
            old = [f for recipe in parents for f in _old_folders(recipe, cutoff, keep)]
        else:
            old = list(_old_folders(root, cutoff, set()))
        for folder in old:
            if not dry_run:
                shutil.rmtree(folder)
            removed.append(Removal(kind, str(root), f"{folder.relative_to(root)}/"))
    return removed


@click.command("prune")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option(
    "--older-than",
    metavar="DAYS",
    help="Remove what is older than this (30, 30d, 4w) for every kind, "
    "instead of each kind's LR_RETENTION_<KIND>_DAYS.",
)
def prune_command(dry_run: bool, older_than: str | None) -> None:
    """Delete local data older than its retention (docs/privacy.md, "Retention")."""
    try:
        settings = get_settings()
        if settings.backend != "local":
            raise ConfigError(
                "prune is for the local backend (Google Cloud deletes by TTL policies "
                "and lifecycle rules)",
                where="LR_BACKEND",
                expected="local",
                found=settings.backend,
            )
        days = parse_older_than(older_than) if older_than is not None else None
        removed = prune_local(settings, older_than_days=days, dry_run=dry_run)
    except LeadRecoveryError as err:
        raise click.ClickException(str(err)) from err
    verb = "would remove" if dry_run else "removed"
    for item in removed:
        click.echo(f"{verb} {item}")
    click.echo(f"{verb} {len(removed)} item(s)" if removed else "nothing to prune")
