"""What the Firestore call store sends: changed fields only, appends as ArrayUnion, versions kept."""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from common.adapters.gcp.firestore_calls import FirestoreCallStore, _Version


class FakeBatch:
    def __init__(self) -> None:
        self.ops: list[tuple[str, Any, dict[str, Any], Any]] = []

    def create(self, ref: Any, data: dict[str, Any]) -> None:
        self.ops.append(("create", ref, data, None))

    def update(self, ref: Any, data: dict[str, Any], option: Any = None) -> None:
        self.ops.append(("update", ref, data, option))


class FakeClient:
    def write_option(self, **kwargs: Any) -> Any:
        return ("option", kwargs)


def test_new_document_is_created() -> None:
    store = FirestoreCallStore("p", client=FakeClient())  # type: ignore[arg-type]
    batch = FakeBatch()
    store._write(batch, "ref", _Version(None, None), {"a": 1})
    assert batch.ops == [("create", "ref", {"a": 1}, None)]


def test_only_changes_are_sent_and_appends_are_array_unions() -> None:
    store = FirestoreCallStore("p", client=FakeClient())  # type: ignore[arg-type]
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
    batch = FakeBatch()
    store._write(batch, "ref", _Version(old, "t1"), new)
    [(kind, ref, data, option)] = batch.ops
    assert (kind, ref, option) == ("update", "ref", ("option", {"last_update_time": "t1"}))
    assert set(data) == {"status", "rank", "events", "history", "`odd-key`"}
    assert isinstance(data["events"], firestore.ArrayUnion)
    assert data["events"].values == ["e3"]
    assert data["history"].values == [{"event_id": "e3"}]
    # A list that changed otherwise than by appending is written whole.
    batch = FakeBatch()
    store._write(batch, "ref", _Version(old, "t1"), {**old, "events": ["e2", "e1"]})
    assert batch.ops[0][2] == {"events": ["e2", "e1"]}


def test_unchanged_document_still_asserts_its_version() -> None:
    store = FirestoreCallStore("p", client=FakeClient())  # type: ignore[arg-type]
    batch = FakeBatch()
    store._write(batch, "ref", _Version({"a": 1, "b": 2}, "t9"), {"a": 1, "b": 2})
    [(kind, _, data, option)] = batch.ops
    assert kind == "update" and data == {"a": 1}
    assert option == ("option", {"last_update_time": "t9"})


def test_versions_are_bounded_least_recently_used() -> None:
    store = FirestoreCallStore("p", client=FakeClient(), cache_size=2)  # type: ignore[arg-type]
    for path in ("a", "b"):
        store._remember(path, _Version({}, path))
    assert store._cached("a") is not None  # "a" is now the most recent
    store._remember("c", _Version({}, "c"))
    assert store._cached("b") is None
    assert store._cached("a") is not None and store._cached("c") is not None
    store._forget("a", "zzz")
    assert store._cached("a") is None
