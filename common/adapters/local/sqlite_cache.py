"""SummaryCache on SQLite (one table, JSON values, an expiry column)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common.adapters.local._sqlite import connect

_BATCH = 500  # SQLite's default limit on bound parameters is far above this


class SQLiteSummaryCache:
    """Content-addressed answers in a local SQLite file."""

    def __init__(self, path: Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = connect(path)
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS summary_cache ("
            " key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL)"
        )

    def get_many(
        self, keys: Sequence[str], *, now: datetime | None = None
    ) -> dict[str, dict[str, Any]]:
        """Live entries among ``keys``."""
        moment = (now or datetime.now(UTC)).isoformat()
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), _BATCH):
                chunk = unique[start : start + _BATCH]
                marks = ",".join("?" * len(chunk))
                rows = self._con.execute(
                    f"SELECT key, value FROM summary_cache WHERE key IN ({marks}) AND expires_at > ?",  # noqa: S608 - only placeholders
                    (*chunk, moment),
                ).fetchall()
                found.update({key: json.loads(value) for key, value in rows})
        return found

    def put_many(self, entries: Mapping[str, dict[str, Any]], *, ttl: timedelta) -> None:
        """Upsert entries with an expiry ``ttl`` from now."""
        now = datetime.now(UTC)
        rows = [
            (key, json.dumps(value, default=str), now.isoformat(), (now + ttl).isoformat())
            for key, value in entries.items()
        ]
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            self._con.executemany("INSERT OR REPLACE INTO summary_cache VALUES (?, ?, ?, ?)", rows)
            self._con.execute("COMMIT")

    def stats(self, *, now: datetime | None = None) -> dict[str, int]:
        """Entry counts."""
        moment = (now or datetime.now(UTC)).isoformat()
        with self._lock:
            total = self._con.execute("SELECT count(*) FROM summary_cache").fetchone()[0]
            expired = self._con.execute(
                "SELECT count(*) FROM summary_cache WHERE expires_at <= ?", (moment,)
            ).fetchone()[0]
        return {"entries": int(total), "expired": int(expired)}

    def prune(self, *, now: datetime | None = None) -> int:
        """Delete expired entries."""
        moment = (now or datetime.now(UTC)).isoformat()
        with self._lock:
            cur = self._con.execute("DELETE FROM summary_cache WHERE expires_at <= ?", (moment,))
        return int(cur.rowcount)
