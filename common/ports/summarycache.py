"""SummaryCache port: content-addressed LLM answers (and later embeddings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol


class SummaryCache(Protocol):
    """Answers keyed by the hash of everything that determined them.

    An entry is a JSON-able dict (the validated answer plus token usage); it
    expires ``ttl`` after it was written (Firestore deletes it by TTL policy,
    SQLite on `prune`). Expired entries are never returned.
    """

    def get_many(
        self, keys: Sequence[str], *, now: datetime | None = None
    ) -> dict[str, dict[str, Any]]:
        """The live entries among ``keys`` (batched reads); missing keys are absent."""
        ...

    def put_many(self, entries: Mapping[str, dict[str, Any]], *, ttl: timedelta) -> None:
        """Write entries (overwriting the same key is harmless: same content)."""
        ...

    def stats(self, *, now: datetime | None = None) -> dict[str, int]:
        """``entries`` and ``expired`` counts."""
        ...

    def prune(self, *, now: datetime | None = None) -> int:
        """Delete expired entries; returns how many."""
        ...
