"""`build_backends` wires the adapters the settings name, and refuses incomplete settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.adapters.local.duckdb_warehouse import DuckDBWarehouse
from common.adapters.local.folder_blobstore import FolderBlobStore
from common.adapters.local.inprocess_bus import InProcessBus
from common.adapters.local.sqlite_cache import SQLiteSummaryCache
from common.adapters.local.sqlite_state import SQLiteStateStore
from common.backends import build_backends
from common.errors import ConfigError
from common.settings import Settings, get_settings


def _local(tmp_path: Path, **overrides: object) -> Settings:
    fields: dict[str, object] = {
        "backend": "local",
        "data_dir": tmp_path / "data",
        "state_db": tmp_path / "state.sqlite",
        "warehouse_dir": tmp_path / "warehouse",
    }
    return Settings(**(fields | overrides))


def test_local_gives_the_embedded_adapters(tmp_path: Path) -> None:
    backends = build_backends(_local(tmp_path))
    assert isinstance(backends.warehouse, DuckDBWarehouse)
    assert isinstance(backends.blobs, FolderBlobStore)
    assert isinstance(backends.state, SQLiteStateStore)
    assert isinstance(backends.bus, InProcessBus)
    assert backends.blobs.root == (tmp_path / "data").resolve()
    assert backends.state.path == tmp_path / "state.sqlite"
    assert backends.warehouse.root == tmp_path / "warehouse"
    assert isinstance(backends.cache, SQLiteSummaryCache)
    assert (tmp_path / "summary_cache.sqlite").is_file()  # beside the state, isolated with it


def test_local_uses_a_bus_it_is_given(tmp_path: Path) -> None:
    bus = InProcessBus()
    assert build_backends(_local(tmp_path), bus=bus).bus is bus


def test_each_call_builds_new_adapters(tmp_path: Path) -> None:
    settings = _local(tmp_path)
    first, second = build_backends(settings), build_backends(settings)
    assert first.bus is not second.bus and first.state is not second.state


def test_local_backend_does_not_import_google_sdks(tmp_path: Path) -> None:
    # A fresh interpreter: this one may have imported the SDKs for other tests.
    code = (
        "import sys\n"
        "from common.backends import build_backends\n"
        "from common.settings import Settings\n"
        f"build_backends(Settings(backend='local', data_dir={str(tmp_path)!r}))\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('google.cloud.'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_gcp_gives_the_google_adapters_without_network(tmp_path: Path) -> None:
    from common.adapters.gcp.bigquery_warehouse import BigQueryWarehouse
    from common.adapters.gcp.firestore_cache import FirestoreSummaryCache
    from common.adapters.gcp.firestore_state import FirestoreStateStore
    from common.adapters.gcp.gcs_blobstore import GCSBlobStore
    from common.adapters.gcp.pubsub_bus import PubSubBus

    settings = Settings(
        backend="gcp",
        project="proj-1",
        bucket="bkt",
        bigquery_location="EU",
        bigquery_page_size=1000,
        bigquery_staging_dataset="lr_stage",
        firestore_database="lr",
        firestore_collection_prefix="dev_",
        topic_prefix="dev-",
    )
    backends = build_backends(settings)  # clients are lazy: no credentials needed yet
    assert isinstance(backends.warehouse, BigQueryWarehouse)
    assert (backends.warehouse.project, backends.warehouse.location) == ("proj-1", "EU")
    assert backends.warehouse.page_size == 1000
    assert backends.warehouse.staging_dataset == "lr_stage"
    assert isinstance(backends.blobs, GCSBlobStore)
    assert backends.blobs.url("runs/x") == "gs://bkt/runs/x"
    assert isinstance(backends.state, FirestoreStateStore)
    assert (backends.state.database, backends.state.prefix) == ("lr", "dev_")
    assert isinstance(backends.bus, PubSubBus)
    assert backends.bus.topic_path("summarized") == "projects/proj-1/topics/dev-summarized"
    assert isinstance(backends.cache, FirestoreSummaryCache)
    assert (backends.cache.database, backends.cache.prefix) == ("lr", "dev_")


def test_gcp_with_duckdb_warehouse(tmp_path: Path) -> None:
    settings = Settings(
        backend="gcp", project="p", bucket="b", warehouse="duckdb", warehouse_dir=tmp_path
    )
    assert isinstance(build_backends(settings).warehouse, DuckDBWarehouse)


def test_gcp_without_project_names_lr_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LR_BACKEND", "gcp")
    monkeypatch.setenv("LR_BUCKET", "bkt")
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as info:
        get_settings()
    assert "LR_PROJECT" in str(info.value)
    assert "LR_BUCKET" not in str(info.value)


def test_gcp_without_bucket_is_refused_where_the_chain_needs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """call-webhook only talks to Firestore: LR_BUCKET is the chain's business."""
    from common.backends import build_call_store

    monkeypatch.delenv("LR_BUCKET", raising=False)
    settings = Settings(backend="gcp", project="p")
    assert type(build_call_store(settings)).__name__ == "FirestoreCallStore"
    with pytest.raises(ConfigError) as info:
        build_backends(settings)
    assert "LR_BUCKET" in str(info.value)


def test_local_blobs_get_the_mode_a_plain_open_gives(tmp_path: Path) -> None:
    """Atomic writes go through mkstemp (0o600); the stored object is 0o666 less the umask."""
    import os
    import stat

    from common.fsutil import FILE_MODE

    mask = os.umask(0)
    os.umask(mask)
    assert FILE_MODE == 0o666 & ~mask
    FolderBlobStore(tmp_path).put_bytes("runs/r1/report.html", b"<html></html>")
    assert stat.S_IMODE((tmp_path / "runs/r1/report.html").stat().st_mode) == FILE_MODE
