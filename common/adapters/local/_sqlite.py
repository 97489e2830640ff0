"""How the local stores open their SQLite file (state, call store, summary cache, rate budget).

- ``isolation_level=None``: the stores open their own ``BEGIN IMMEDIATE``
  transactions (a writer takes the lock before it reads, so two processes never
  both read and then both write);
- ``check_same_thread=False``: a store is shared by the local runner's worker
  threads and holds its own lock around the connection;
- WAL: readers do not wait on the writer;
- ``synchronous=NORMAL``: in WAL mode a commit is durable once the WAL is synced
  at a checkpoint; a crash of the process loses nothing, a power cut may lose the
  last commits. With the default (FULL) every commit waited for an fsync: a
  100,000-lead run commits ~2,300 step marks and fan-in counts, and the fsyncs
  were about 8 % of its process step (benchmarks/scale).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path | str, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection to ``path`` (its folder is created; ``:memory:`` is a private database)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    return con
