"""RateBudgetStore on SQLite: one row per bucket, one ``BEGIN IMMEDIATE`` transaction per lease.

Every process of a local deployment that opens the same file (the state DB by
default) shares the buckets: ``BEGIN IMMEDIATE`` takes the database's write
lock before reading, so two processes never refill and take the same tokens.
A lease holds that lock for well under a millisecond.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from common.adapters.local._sqlite import connect
from common.errors import TransientError
from common.ports.ratebudget import BucketSpec, BucketState, Grant, take

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_rate_buckets (
    bucket_id TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated REAL NOT NULL,
    rate_per_s REAL NOT NULL,
    capacity REAL NOT NULL,
    leases INTEGER NOT NULL DEFAULT 0
);
"""

_BUSY_TIMEOUT_S = 5.0
"""How long a lease waits for another process's write lock before it is a `TransientError`."""


class SQLiteRateBudgetStore:
    """Token buckets in a table of a SQLite file shared by local processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = connect(path, timeout=_BUSY_TIMEOUT_S)
        self._con.executescript(_SCHEMA)

    def lease(self, spec: BucketSpec, *, want: float, minimum: float, now: float) -> Grant:
        """Refill and take in one transaction (see `common.ports.ratebudget.take`).

        Raises:
            TransientError: the file stayed locked by another process (or is unusable) longer
                than the busy timeout.
        """
        try:
            with self._lock:
                self._con.execute("BEGIN IMMEDIATE")
                try:
                    row = self._con.execute(
                        "SELECT tokens, updated FROM llm_rate_buckets WHERE bucket_id = ?",
                        (spec.bucket_id,),
                    ).fetchone()
                    before = BucketState(row[0], row[1]) if row else None
                    state, grant = take(before, spec, want=want, minimum=minimum, now=now)
                    if grant.granted or before is None:
                        self._con.execute(
                            "INSERT INTO llm_rate_buckets"
                            " (bucket_id, tokens, updated, rate_per_s, capacity, leases)"
                            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (bucket_id) DO UPDATE SET"
                            " tokens = excluded.tokens, updated = excluded.updated,"
                            " rate_per_s = excluded.rate_per_s, capacity = excluded.capacity,"
                            " leases = leases + excluded.leases",
                            (
                                spec.bucket_id,
                                state.tokens,
                                state.updated,
                                spec.rate_per_s,
                                spec.capacity,
                                1 if grant.granted else 0,
                            ),
                        )
                except BaseException:
                    self._con.execute("ROLLBACK")
                    raise
                self._con.execute("COMMIT")
                return grant
        except sqlite3.OperationalError as err:
            raise TransientError(
                f"rate budget store busy: {err}", where=f"{self.path}: llm_rate_buckets"
            ) from err

    def peek(self, bucket_id: str) -> BucketState | None:
        """The stored state (None: never leased)."""
        with self._lock:
            row = self._con.execute(
                "SELECT tokens, updated FROM llm_rate_buckets WHERE bucket_id = ?", (bucket_id,)
            ).fetchone()
        return BucketState(row[0], row[1]) if row else None
