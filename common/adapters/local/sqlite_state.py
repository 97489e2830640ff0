"""StateStore on SQLite: JSON documents, transactions with ``BEGIN IMMEDIATE``."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common.adapters.local._sqlite import connect
from common.ports.statestore import StepKey, StepStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, recipe TEXT NOT NULL, created_at TEXT NOT NULL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_recipe ON runs (recipe, created_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step_id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS fanin_marks (
    run_id TEXT NOT NULL, stage TEXT NOT NULL, shard INTEGER NOT NULL,
    PRIMARY KEY (run_id, stage, shard)
);
CREATE TABLE IF NOT EXISTS fanin_counts (
    run_id TEXT NOT NULL, stage TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (run_id, stage)
);
"""


def _now() -> datetime:
    return datetime.now(UTC)


class SQLiteStateStore:
    """One SQLite file shared by every process of a local deployment."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._con = connect(path)
        self._con.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def _read_run(self, con: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
        row = con.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def _write_run(self, con: sqlite3.Connection, run_id: str, doc: dict[str, Any]) -> None:
        con.execute(
            "UPDATE runs SET doc = ? WHERE run_id = ?", (json.dumps(doc, default=str), run_id)
        )

    # ---- runs -----------------------------------------------------------------------
    def create_run(self, run_id: str, doc: dict[str, Any]) -> bool:
        """Insert the run document unless it exists."""
        with self._tx() as con:
            cur = con.execute(
                "INSERT OR IGNORE INTO runs (run_id, recipe, created_at, doc) VALUES (?, ?, ?, ?)",
                (run_id, doc.get("recipe", ""), _now().isoformat(), json.dumps(doc, default=str)),
            )
            return cur.rowcount == 1

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run document."""
        with self._lock:
            return self._read_run(self._con, run_id)

    def update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        """Merge top-level fields."""
        with self._tx() as con:
            doc = self._read_run(con, run_id) or {}
            doc.update(fields)
            self._write_run(con, run_id, doc)

    def list_runs(
        self, recipe: str | None = None, limit: int = 50, *, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            rows = self._con.execute(
                "SELECT doc FROM runs WHERE (? IS NULL OR recipe = ?)"
                " AND (? IS NULL OR json_extract(doc, '$.status') = ?)"
                " ORDER BY created_at DESC LIMIT ?",
                (recipe, recipe, status, status, limit),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # ---- steps ----------------------------------------------------------------------
    def begin_step(self, key: StepKey, lease_seconds: int) -> StepStatus:
        """Claim the step unless it is done or held by a live lease."""
        now = _now()
        with self._tx() as con:
            row = con.execute(
                "SELECT doc FROM steps WHERE run_id = ? AND step_id = ?", (key.run_id, key.doc_id)
            ).fetchone()
            doc = json.loads(row[0]) if row else {}
            if doc.get("status") == "done":
                return StepStatus.DONE
            if doc.get("status") == "failed":
                return StepStatus.FAILED
            lease = doc.get("lease_until")
            if doc.get("status") == "running" and lease and datetime.fromisoformat(lease) > now:
                return StepStatus.BUSY
            doc.update(
                step=key.step,
                shard=key.shard,
                status="running",
                attempts=doc.get("attempts", 0) + 1,
                started_at=now.isoformat(),
                lease_until=(now + timedelta(seconds=lease_seconds)).isoformat(),
            )
            con.execute(
                "INSERT OR REPLACE INTO steps (run_id, step_id, doc) VALUES (?, ?, ?)",
                (key.run_id, key.doc_id, json.dumps(doc)),
            )
            return StepStatus.RUN

    def _set_step(self, key: StepKey, **fields: Any) -> dict[str, Any]:
        with self._tx() as con:
            row = con.execute(
                "SELECT doc FROM steps WHERE run_id = ? AND step_id = ?", (key.run_id, key.doc_id)
            ).fetchone()
            doc = json.loads(row[0]) if row else {"step": key.step, "shard": key.shard}
            doc.update(fields)
            con.execute(
                "INSERT OR REPLACE INTO steps (run_id, step_id, doc) VALUES (?, ?, ?)",
                (key.run_id, key.doc_id, json.dumps(doc, default=str)),
            )
            return doc

    def finish_step(self, key: StepKey, result: dict[str, Any]) -> None:
        """Mark done."""
        self._set_step(
            key, status="done", finished_at=_now().isoformat(), lease_until=None, result=result
        )

    def fail_step(self, key: StepKey, error: dict[str, Any], *, terminal: bool) -> None:
        """Record the failure on the step's mark only (the run document is not touched)."""
        status = "failed" if terminal else "retrying"
        self._set_step(
            key, status=status, error=error, lease_until=None, failed_at=_now().isoformat()
        )

    def wait_step(self, key: StepKey, record: dict[str, Any]) -> None:
        """Release the claim; the mark says what the step waits for."""
        self._set_step(
            key,
            status="waiting",
            waiting=record,
            lease_until=None,
            waiting_since=_now().isoformat(),
        )

    def list_steps(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """All step marks of the run (or those with ``status``), in step id order."""
        with self._lock:
            rows = self._con.execute(
                "SELECT doc FROM steps WHERE run_id = ?"
                " AND (? IS NULL OR json_extract(doc, '$.status') = ?) ORDER BY step_id",
                (run_id, status, status),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def complete_shard(self, run_id: str, stage: str, shard: int, shard_count: int) -> bool:
        """Insert the shard's marker; the stage's counter grows only when the insert happened."""
        with self._tx() as con:
            inserted = con.execute(
                "INSERT OR IGNORE INTO fanin_marks (run_id, stage, shard) VALUES (?, ?, ?)",
                (run_id, stage, shard),
            ).rowcount
            if inserted:
                con.execute(
                    "INSERT INTO fanin_counts (run_id, stage, count) VALUES (?, ?, 1)"
                    " ON CONFLICT (run_id, stage) DO UPDATE SET count = count + 1",
                    (run_id, stage),
                )
            row = con.execute(
                "SELECT count FROM fanin_counts WHERE run_id = ? AND stage = ?", (run_id, stage)
            ).fetchone()
            return bool(row) and int(row[0]) >= shard_count

    def counted_shards(self, run_id: str, stage: str) -> set[int]:
        """The shards counted for ``stage``."""
        with self._lock:
            rows = self._con.execute(
                "SELECT shard FROM fanin_marks WHERE run_id = ? AND stage = ?", (run_id, stage)
            ).fetchall()
        return {int(r[0]) for r in rows}
