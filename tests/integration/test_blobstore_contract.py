"""BlobStore contract: the folder store and Cloud Storage (fake-gcs-server) behave alike.

Each test runs once per backend (``[local]`` and ``[gcp]``), with the adapter
that `build_backends` wires from the environment, as production does.
"""

from __future__ import annotations

import threading

import pytest

from common.backends import build_backends
from common.errors import DataError, TransientError
from common.ports import BlobNotFound, BlobStore, GenerationMismatch
from common.settings import get_settings


@pytest.fixture
def blobs(backend_name: str) -> BlobStore:
    return build_backends(get_settings()).blobs


def test_binary_roundtrip(blobs: BlobStore) -> None:
    data = bytes(range(256)) * 40 + b"\x00\xff\r\n"
    blobs.put_bytes("runs/r1/leads/shard-00000.parquet", data, "application/octet-stream")
    assert blobs.get_bytes("runs/r1/leads/shard-00000.parquet") == data


def test_unicode_keys_with_spaces(blobs: BlobStore) -> None:
    key = "output_run/ventas café/2026-11-20T18-00/informe final ✓.csv"
    blobs.put_bytes(key, "ñandú, 日本\n".encode(), "text/csv")
    assert blobs.get_bytes(key).decode() == "ñandú, 日本\n"
    assert blobs.exists(key)
    assert blobs.list("output_run/ventas café/") == [key]


def test_overwrite_replaces_whole_object(blobs: BlobStore) -> None:
    blobs.put_bytes("runs/r1/x.csv", b"a much longer first version\n" * 10)
    blobs.put_bytes("runs/r1/x.csv", b"short")
    assert blobs.get_bytes("runs/r1/x.csv") == b"short"
    assert blobs.list("runs/r1/") == ["runs/r1/x.csv"]


def test_list_by_prefix_is_sorted_and_excludes_siblings(blobs: BlobStore) -> None:
    for key in [
        "runs/a/summaries/shard-00001.parquet",
        "runs/ab/leads/shard-00000.parquet",
        "runs/a/leads/shard-00000.parquet",
        "runs/b/leads/shard-00000.parquet",
        "runs/a/leads/shard-00002.parquet",
    ]:
        blobs.put_bytes(key, key.encode())
    assert blobs.list("runs/a/") == [
        "runs/a/leads/shard-00000.parquet",
        "runs/a/leads/shard-00002.parquet",
        "runs/a/summaries/shard-00001.parquet",
    ]
    # A prefix is a name prefix, not only a folder.
    assert blobs.list("runs/a") == blobs.list("runs/a/") + ["runs/ab/leads/shard-00000.parquet"]
    assert blobs.list("runs/a/leads/shard-0000") == [
        "runs/a/leads/shard-00000.parquet",
        "runs/a/leads/shard-00002.parquet",
    ]
    assert blobs.list("runs/zzz/") == []


def test_get_missing_raises_blob_not_found(blobs: BlobStore) -> None:
    blobs.put_bytes("runs/r1/present", b"1")
    with pytest.raises(BlobNotFound) as info:
        blobs.get_bytes("runs/r1/absent")
    assert "runs/r1/absent" in str(info.value)
    assert isinstance(info.value, DataError)  # terminal: retrying will not create it


def test_exists(blobs: BlobStore) -> None:
    assert not blobs.exists("runs/r1/leads/shard-00000.parquet")
    blobs.put_bytes("runs/r1/leads/shard-00000.parquet", b"")
    assert blobs.exists("runs/r1/leads/shard-00000.parquet")
    assert blobs.get_bytes("runs/r1/leads/shard-00000.parquet") == b""
    # A "folder" is not an object.
    assert not blobs.exists("runs/r1/leads")


@pytest.mark.parametrize("key", ["../outside.txt", "runs/../../outside.txt", "/etc/passwd"])
def test_keys_that_escape_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(DataError):
        blobs.put_bytes(key, b"x")


def test_url_names_the_object(blobs: BlobStore, backend_name: str) -> None:
    blobs.put_bytes("output_run/demo/latest.csv", b"x")
    url = blobs.url("output_run/demo/latest.csv")
    assert url.endswith("output_run/demo/latest.csv")
    if backend_name == "gcp":
        assert url == f"gs://{get_settings().bucket}/output_run/demo/latest.csv"


def test_create_only_if_absent(blobs: BlobStore) -> None:
    blobs.put_bytes("output_run/demo/latest.json", b"first", if_generation_match=0)
    with pytest.raises(GenerationMismatch) as info:
        blobs.put_bytes("output_run/demo/latest.json", b"second", if_generation_match=0)
    assert "output_run/demo/latest.json" in str(info.value)
    assert isinstance(info.value, TransientError)  # read again, decide again
    assert blobs.get_bytes("output_run/demo/latest.json") == b"first"
    assert blobs.list("output_run/demo/") == ["output_run/demo/latest.json"]


def test_compare_and_swap_on_the_generation_read(blobs: BlobStore) -> None:
    key = "output_run/demo/latest.json"
    with pytest.raises(BlobNotFound):
        blobs.get_versioned(key)
    blobs.put_bytes(key, b"v1", "application/json")
    first = blobs.get_versioned(key)
    assert first.data == b"v1" and first.generation > 0
    blobs.put_bytes(key, b"v2", "application/json", if_generation_match=first.generation)
    second = blobs.get_versioned(key)
    assert second.data == b"v2" and second.generation != first.generation
    # A writer still holding the first generation loses and changes nothing.
    with pytest.raises(GenerationMismatch):
        blobs.put_bytes(key, b"stale", if_generation_match=first.generation)
    assert blobs.get_bytes(key) == b"v2"
    # A plain write moves the generation too, so a swap prepared before it fails.
    blobs.put_bytes(key, b"v2")
    with pytest.raises(GenerationMismatch):
        blobs.put_bytes(key, b"late", if_generation_match=second.generation)
    assert blobs.get_bytes(key) == b"v2"
    # Even the same bytes rewritten within the same instant get a new generation.
    generations = set()
    for _ in range(5):
        blobs.put_bytes(key, b"same")
        generations.add(blobs.get_versioned(key).generation)
    assert len(generations) == 5


def test_one_of_many_concurrent_swaps_wins(blobs: BlobStore) -> None:
    key = "output_run/demo/latest.json"
    blobs.put_bytes(key, b"start")
    seen = blobs.get_versioned(key).generation
    won: list[int] = []
    lost: list[int] = []
    barrier = threading.Barrier(8)

    def swap(i: int) -> None:
        barrier.wait()
        try:
            blobs.put_bytes(key, f"writer {i}".encode(), if_generation_match=seen)
            won.append(i)
        except GenerationMismatch:
            lost.append(i)

    threads = [threading.Thread(target=swap, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 7
    assert blobs.get_bytes(key) == f"writer {won[0]}".encode()
    assert blobs.list("output_run/demo/") == [key]


# ---- Cloud Storage error mapping (no emulator can fail on demand) ----------------------
class _FailingBlob:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def download_as_bytes(self, **_: object) -> bytes:
        raise self.error


class _FailingClient:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def bucket(self, name: str) -> _FailingClient:
        return self

    def blob(self, name: str) -> _FailingBlob:
        return _FailingBlob(self.error)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("NotFound", BlobNotFound),
        ("Forbidden", DataError),
        ("ServiceUnavailable", TransientError),
        ("TooManyRequests", TransientError),
        ("InternalServerError", TransientError),
        ("ConnectionError", TransientError),
    ],
)
def test_gcs_errors_map_to_retry_meaning(error: str, expected: type[Exception]) -> None:
    import requests
    from google.api_core import exceptions as gexc

    from common.adapters.gcp.gcs_blobstore import GCSBlobStore

    exc = (
        requests.ConnectionError("refused")
        if error == "ConnectionError"
        else getattr(gexc, error)("x")
    )
    store = GCSBlobStore("bkt", "proj", client=_FailingClient(exc))  # type: ignore[arg-type]
    with pytest.raises(expected) as info:
        store.get_bytes("runs/r1/x")
    assert "gs://bkt/runs/r1/x" in str(info.value)
    if expected is DataError:
        assert not isinstance(info.value, TransientError | BlobNotFound)
