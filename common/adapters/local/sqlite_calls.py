"""CallStore on SQLite: JSON documents, one ``BEGIN IMMEDIATE`` transaction per event.

Two tables mirror Firestore's two collections (``calls``, ``lead_outcomes``);
`common.calls.state.apply_event` decides what changes, so both adapters behave
alike. Several processes (e.g. gunicorn workers) may share the file: SQLite's
write lock serialises their transactions.

The leads' ``context`` (what the report hands the callers, `set_lead_contexts`)
lives in a third table, ``lead_contexts``, and is put back into the lead's
document on every read: the report writes every kept lead's context each run
(100,000 leads), and as a plain row that is one ``executemany``, where a
read-modify-write of each lead's JSON document took 0.7-3.5 s a run.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common.adapters.local._sqlite import connect
from common.calls.retry import RetryPolicy
from common.calls.state import apply_event, has_calls, resolve_lead
from common.calls.transcripts import message_rows
from common.errors import TransientError
from common.ports.callstore import CallEvent, RecordResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY, lead_key TEXT, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_lead ON calls (lead_key);
CREATE TABLE IF NOT EXISTS lead_outcomes (
    lead_key TEXT PRIMARY KEY, next_attempt_at TEXT, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lead_outcomes_next ON lead_outcomes (next_attempt_at);
CREATE TABLE IF NOT EXISTS lead_contexts (
    lead_key TEXT PRIMARY KEY, updated_at TEXT, context TEXT NOT NULL
);
"""
_CONTEXT_WRITES = 5_000  # contexts a transaction (the webhook waits on the write lock)
_CHUNK = 500  # bound parameters per IN (...) query


def _chunks(keys: Sequence[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


class SQLiteCallStore:
    """Calls and lead outcomes in one SQLite file.

    Args:
        path: The database file (created with its folder).
        policy: Retry policy applied when a call decides a lead's outcome.
    """

    def __init__(self, path: Path, policy: RetryPolicy | None = None) -> None:
        self.path = Path(path)
        self.policy = policy or RetryPolicy()
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._con = connect(path)
        self._con.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:  # "database is locked" after the timeout
                raise TransientError(f"call store busy: {err}", where=str(self.path)) from err
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    @staticmethod
    def _doc(row: tuple[Any, ...] | None) -> dict[str, Any] | None:
        return json.loads(row[0]) if row else None

    def record(self, event: CallEvent) -> RecordResult:
        """Apply one event to its call and lead, in one transaction."""
        with self._tx() as con:
            call = self._doc(
                con.execute("SELECT doc FROM calls WHERE call_id = ?", (event.call_id,)).fetchone()
            )
            key, _ = resolve_lead(call, event)
            lead = None
            if key is not None and event.disposition is not None:
                lead = self._doc(
                    con.execute(
                        "SELECT doc FROM lead_outcomes WHERE lead_key = ?", (key,)
                    ).fetchone()
                )
                context = con.execute(
                    "SELECT context FROM lead_contexts WHERE lead_key = ?", (key,)
                ).fetchone()
                if context is not None:
                    lead = {**(lead or {"lead_key": key}), "context": json.loads(context[0])}
            applied = apply_event(call, lead, event, self.policy)
            if applied.call is not None:
                con.execute(
                    "INSERT OR REPLACE INTO calls (call_id, lead_key, doc) VALUES (?, ?, ?)",
                    (
                        event.call_id,
                        applied.call.get("lead_key"),
                        json.dumps(applied.call, default=str),
                    ),
                )
            if applied.lead is not None:
                con.execute(
                    "INSERT OR REPLACE INTO lead_outcomes (lead_key, next_attempt_at, doc) "
                    "VALUES (?, ?, ?)",
                    (
                        applied.lead["lead_key"],
                        applied.lead.get("next_attempt_at"),
                        json.dumps(applied.lead, default=str),
                    ),
                )
            return applied.result

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        """The call document, or None."""
        with self._lock:
            row = self._con.execute("SELECT doc FROM calls WHERE call_id = ?", (call_id,))
            return self._doc(row.fetchone())

    def list_calls(self) -> list[dict[str, Any]]:
        """Every call document, by call id."""
        with self._lock:
            rows = self._con.execute("SELECT doc FROM calls ORDER BY call_id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def lead_outcomes(self, lead_keys: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Lead key → outcome document (every lead when ``lead_keys`` is None)."""
        with self._lock:
            rows = self._select("lead_outcomes", "doc", lead_keys)
            docs = {key: json.loads(doc) for key, doc in rows}
            outcomes = {key: doc for key, doc in docs.items() if has_calls(doc)}
            contexts = self._select("lead_contexts", "context", list(outcomes)) if outcomes else []
        for key, context in contexts:
            outcomes[key]["context"] = json.loads(context)
        return outcomes

    def _select(
        self, table: str, column: str, lead_keys: Sequence[str] | None
    ) -> list[tuple[str, str]]:
        """``(lead_key, column)`` rows of ``table`` (every row when ``lead_keys`` is None)."""
        query = f"SELECT lead_key, {column} FROM {table}"  # noqa: S608 - constant names
        if lead_keys is None:
            return self._con.execute(query).fetchall()
        rows: list[tuple[str, str]] = []
        for chunk in _chunks(lead_keys):
            marks = ",".join("?" * len(chunk))
            rows += self._con.execute(f"{query} WHERE lead_key IN ({marks})", chunk).fetchall()
        return rows

    def set_lead_contexts(self, contexts: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace each lead's ``context`` (its own table; see the module docstring)."""
        # Leads share a handful of distinct contexts (one per zone): encode each once.
        encoded: dict[int, str] = {}
        rows = []
        for key, context in contexts.items():
            text = encoded.get(id(context))
            if text is None:
                text = encoded[id(context)] = json.dumps(dict(context), default=str)
            rows.append((key, context.get("updated_at"), text))
        for start in range(0, len(rows), _CONTEXT_WRITES):
            with self._tx() as con:
                con.executemany(
                    "INSERT OR REPLACE INTO lead_contexts (lead_key, updated_at, context) "
                    "VALUES (?, ?, ?)",
                    rows[start : start + _CONTEXT_WRITES],
                )

    def transcripts(self, lead_keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every call turn of the given leads, as canonical conversation messages."""
        with self._lock:
            if lead_keys is None:
                rows = self._con.execute(
                    "SELECT doc FROM calls WHERE lead_key IS NOT NULL"
                ).fetchall()
            else:
                rows = []
                for chunk in _chunks(lead_keys):
                    marks = ",".join("?" * len(chunk))
                    rows += self._con.execute(
                        f"SELECT doc FROM calls WHERE lead_key IN ({marks})",  # noqa: S608
                        chunk,
                    ).fetchall()
        return message_rows([json.loads(r[0]) for r in rows])
