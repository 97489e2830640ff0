"""SummaryCache contract: SQLite and Firestore (emulator) store and expire answers alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.backends import build_backends
from common.ports.summarycache import SummaryCache
from common.settings import get_settings


@pytest.fixture
def cache(backend_name: str) -> SummaryCache:
    return build_backends(get_settings()).cache


def test_roundtrip_and_missing_keys(cache: SummaryCache) -> None:
    entries = {
        f"k{i:03d}": {"answer": {"reason": "price", "score": i}, "model": "m"} for i in range(350)
    }
    cache.put_many(entries, ttl=timedelta(days=1))
    keys = [*entries, "absent-1", "absent-2", "k001"]  # more than one read batch, a duplicate
    found = cache.get_many(keys)
    assert found == entries
    assert cache.get_many([]) == {}


def test_overwrite_same_key(cache: SummaryCache) -> None:
    cache.put_many({"k": {"answer": {"a": 1}}}, ttl=timedelta(days=1))
    cache.put_many({"k": {"answer": {"a": 1}}}, ttl=timedelta(days=1))
    assert cache.get_many(["k"]) == {"k": {"answer": {"a": 1}}}
    assert cache.stats()["entries"] == 1


def test_expired_entries_are_not_served_and_prune(cache: SummaryCache) -> None:
    cache.put_many({"old": {"answer": {"a": 1}}}, ttl=timedelta(seconds=60))
    cache.put_many({"new": {"answer": {"a": 2}}}, ttl=timedelta(days=2))
    later = datetime.now(UTC) + timedelta(hours=1)
    assert set(cache.get_many(["old", "new"], now=later)) == {"new"}
    assert cache.stats(now=later) == {"entries": 2, "expired": 1}
    assert cache.prune(now=later) == 1
    assert cache.stats(now=later) == {"entries": 1, "expired": 0}
    assert set(cache.get_many(["old", "new"])) == {"new"}


def test_unicode_answers(cache: SummaryCache) -> None:
    value = {"answer": {"summary": 'Quiere el préstamo 😀, pero "no ahora"', "tags": ["a", "ñ"]}}
    cache.put_many({"u": value}, ttl=timedelta(days=1))
    assert cache.get_many(["u"]) == {"u": value}
