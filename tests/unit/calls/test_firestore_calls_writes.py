"""What the Firestore call store sends: changed fields only, appends as ArrayUnion, versions kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers

from common.adapters.gcp.firestore_calls import FirestoreCallStore, _Version

T1 = datetime(2026, 1, 1, 0, 0, 1, 5, tzinfo=UTC)


def _store(cache_size: int = 10_000) -> FirestoreCallStore:
    # A client that never connects: building writes needs no server.
    client = firestore.Client(project="p", credentials=AnonymousCredentials())
    return FirestoreCallStore("p", cache_size=cache_size, client=client)


def _write(store: FirestoreCallStore, old: _Version, data: dict[str, Any]) -> Any:
    """The one write the store adds to a batch for ``calls/c1``."""
    batch = store.client.batch()
    store._write(batch, "calls/c1", old, data)
    (write,) = batch._write_pbs
    return write._pb  # the protobuf message, as sent


def _fields(write: Any) -> dict[str, Any]:
    return {k: _helpers.decode_value(v, None) for k, v in write.update.fields.items()}


def _appended(write: Any) -> dict[str, list[Any]]:
    return {
        t.field_path: [_helpers.decode_value(v, None) for v in t.append_missing_elements.values]
        for t in write.update_transforms
    }


def test_new_document_is_created() -> None:
    write = _write(_store(), _Version(None, None), {"a": 1, "b": {"c": [1, None]}})
    assert write.update.name == "projects/p/databases/(default)/documents/calls/c1"
    assert _fields(write) == {"a": 1, "b": {"c": [1, None]}}
    assert write.current_document.HasField("exists") and not write.current_document.exists
    assert not write.HasField("update_mask")


def test_only_changes_are_sent_and_appends_are_array_unions() -> None:
    store = _store()
    old = {
        "status": "queued",
        "rank": 2,
        "events": ["e1", "e2"],
        "history": [{"event_id": "e1"}, {"event_id": "e2"}],
        "phone": "+1",
        "odd-key": 1,
    }
    new = {
        **old,
        "status": "ringing",
        "rank": 3,
        "events": ["e1", "e2", "e3"],
        "history": [{"event_id": "e1"}, {"event_id": "e2"}, {"event_id": "e3"}],
        "odd-key": 2,
    }
    write = _write(store, _Version(old, T1), new)
    assert write.current_document.update_time.ToDatetime(tzinfo=UTC) == T1
    assert _fields(write) == {"status": "ringing", "rank": 3, "odd-key": 2}
    assert sorted(write.update_mask.field_paths) == ["`odd-key`", "rank", "status"]
    assert _appended(write) == {"events": ["e3"], "history": [{"event_id": "e3"}]}
    # A list that changed otherwise than by appending is written whole.
    write = _write(store, _Version(old, T1), {**old, "events": ["e2", "e1"]})
    assert _fields(write) == {"events": ["e2", "e1"]} and not write.update_transforms


def test_a_map_field_is_replaced_whole() -> None:
    # The mask names the top-level field only: keys the new map lacks must go.
    old = {"analysis": {"a": 1, "b": 2}}
    write = _write(_store(), _Version(old, T1), {"analysis": {"a": 1}})
    assert list(write.update_mask.field_paths) == ["analysis"]
    assert _fields(write) == {"analysis": {"a": 1}}


def test_unchanged_document_still_asserts_its_version() -> None:
    t9 = datetime(2026, 1, 1, 0, 0, 9, tzinfo=UTC)
    write = _write(_store(), _Version({"a": 1, "b": 2}, t9), {"a": 1, "b": 2})
    assert _fields(write) == {"a": 1} and list(write.update_mask.field_paths) == ["a"]
    assert write.current_document.update_time.ToDatetime(tzinfo=UTC) == t9


def test_versions_are_bounded_least_recently_used() -> None:
    store = _store(cache_size=2)
    for path in ("a", "b"):
        store._remember(path, _Version({}, path))
    assert store._cached("a") is not None  # "a" is now the most recent
    store._remember("c", _Version({}, "c"))
    assert store._cached("b") is None
    assert store._cached("a") is not None and store._cached("c") is not None
    store._forget("a", "zzz")
    assert store._cached("a") is None


def test_an_append_alone_keeps_the_other_fields() -> None:
    # A stale status only appends to events/history: the write must carry an
    # (empty) mask, else Firestore would replace the document with no fields.
    old = {"status": "ended", "events": ["e1"], "history": [{"event_id": "e1"}]}
    new = {**old, "events": ["e1", "e2"], "history": [{"event_id": "e1"}, {"event_id": "e2"}]}
    write = _write(_store(), _Version(old, T1), new)
    assert write.HasField("update_mask") and not write.update_mask.field_paths
    assert not write.update.fields and len(write.update_transforms) == 2
