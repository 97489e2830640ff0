"""Choose the adapter behind each port from `Settings` (``LR_BACKEND``), never by code edits."""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import ConfigError
from common.ports import BlobStore, Bus, StateStore, Warehouse
from common.ports.summarycache import SummaryCache
from common.settings import Settings


@dataclass(frozen=True)
class Backends:
    """The ports a step talks to, already wired to one backend."""

    warehouse: Warehouse
    blobs: BlobStore
    state: StateStore
    bus: Bus
    cache: SummaryCache


def build_backends(settings: Settings, *, bus: Bus | None = None) -> Backends:
    """Build every adapter for ``settings.backend`` (the warehouse per ``settings.warehouse``).

    Nothing is cached here: the caller (an entry point, the CLI, a test) holds
    the result for as long as it needs it. Google clients are created lazily by
    the adapters, so building costs no network call.

    Args:
        settings: Resolved settings.
        bus: A bus to use instead of the backend's own (e.g. the local runner's
            in-process bus that drives the next step).

    Raises:
        ConfigError: the backend is unknown or lacks a required setting.
    """
    if settings.backend == "local":
        from common.adapters.local.folder_blobstore import FolderBlobStore
        from common.adapters.local.inprocess_bus import InProcessBus
        from common.adapters.local.sqlite_cache import SQLiteSummaryCache
        from common.adapters.local.sqlite_state import SQLiteStateStore

        return Backends(
            warehouse=_warehouse(settings),
            blobs=FolderBlobStore(settings.data_dir),
            state=SQLiteStateStore(settings.state_db),
            bus=bus if bus is not None else InProcessBus(),
            # Beside the state file, so whatever isolates the state (a test's
            # tmp_path, a second checkout) isolates the cache too.
            cache=SQLiteSummaryCache(settings.state_db.with_name("summary_cache.sqlite")),
        )
    if settings.backend == "gcp":
        # Imported here so a local run never pays for (or needs) the Google SDKs.
        from common.adapters.gcp.firestore_cache import FirestoreSummaryCache
        from common.adapters.gcp.firestore_state import FirestoreStateStore
        from common.adapters.gcp.gcs_blobstore import GCSBlobStore
        from common.adapters.gcp.pubsub_bus import PubSubBus

        project = settings.gcp_project
        if not settings.bucket:
            raise ConfigError("no Cloud Storage bucket", where="settings", expected="LR_BUCKET")
        return Backends(
            warehouse=_warehouse(settings),
            blobs=GCSBlobStore(settings.bucket, project),
            state=FirestoreStateStore(
                project,
                database=settings.firestore_database,
                prefix=settings.firestore_collection_prefix,
            ),
            bus=bus if bus is not None else PubSubBus(project, prefix=settings.topic_prefix),
            cache=FirestoreSummaryCache(
                project,
                database=settings.firestore_database,
                prefix=settings.firestore_collection_prefix,
            ),
        )
    raise ConfigError(
        "unknown backend",
        where="settings",
        expected="LR_BACKEND `local` or `gcp`",
        found=settings.backend,
    )


def _warehouse(settings: Settings) -> Warehouse:
    """The warehouse `settings.warehouse` names; ``auto`` follows the backend."""
    kind = settings.warehouse
    if kind == "auto":
        kind = "bigquery" if settings.backend == "gcp" else "duckdb"
    if kind == "duckdb":
        from common.adapters.local.duckdb_warehouse import DuckDBWarehouse

        return DuckDBWarehouse(settings.warehouse_dir)
    if kind == "bigquery":
        from common.adapters.gcp.bigquery_warehouse import BigQueryWarehouse

        return BigQueryWarehouse(
            settings.gcp_project,
            location=settings.bigquery_location,
            page_size=settings.bigquery_page_size,
        )
    raise ConfigError(
        "unknown warehouse",
        where="settings",
        expected="LR_WAREHOUSE `auto`, `duckdb` or `bigquery`",
        found=kind,
    )
