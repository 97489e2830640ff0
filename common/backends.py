"""Choose the adapter behind each port from `Settings` (``LR_BACKEND``), never by code edits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from common.errors import ConfigError

if TYPE_CHECKING:
    from common.ports import BlobStore, Bus, StateStore, Warehouse
    from common.ports.callstore import CallStore
    from common.ports.summarycache import SummaryCache
    from common.settings import Settings


class Backends:
    """The ports a step talks to, already wired to one backend.

    The warehouse may be given as a factory: it is then built on first use, so
    the functions that never query it (process, summarize, report) never import
    its client library (google-cloud-bigquery alone costs about a second of
    cold start, and pulls pandas when it is installed).
    """

    def __init__(
        self,
        *,
        blobs: BlobStore,
        state: StateStore,
        bus: Bus,
        cache: SummaryCache,
        warehouse: Warehouse | None = None,
        warehouse_factory: Callable[[], Warehouse] | None = None,
        calls: CallStore | None = None,
        calls_factory: Callable[[], CallStore] | None = None,
    ) -> None:
        if (warehouse is None) == (warehouse_factory is None):
            raise TypeError("give exactly one of `warehouse` and `warehouse_factory`")
        self.blobs = blobs
        self.state = state
        self.bus = bus
        self.cache = cache
        self._warehouse = warehouse
        self._warehouse_factory = warehouse_factory
        self._calls = calls
        self._calls_factory = calls_factory
        self._lock = threading.Lock()

    @property
    def warehouse(self) -> Warehouse:
        """The warehouse adapter, built on first access (once, even under threads)."""
        if self._warehouse is None:
            with self._lock:
                if self._warehouse is None:
                    assert self._warehouse_factory is not None
                    self._warehouse = self._warehouse_factory()
        return self._warehouse

    @property
    def calls(self) -> CallStore:
        """The call store (voice-call outcomes), built on first access like the warehouse."""
        if self._calls is None:
            with self._lock:
                if self._calls is None:
                    if self._calls_factory is None:
                        raise ConfigError("these backends have no call store", where="backends")
                    self._calls = self._calls_factory()
        return self._calls

    def __repr__(self) -> str:
        warehouse = (
            type(self._warehouse).__name__ if self._warehouse is not None else "(not built yet)"
        )
        parts = [f"warehouse={warehouse}"] + [
            f"{name}={type(getattr(self, name)).__name__}"
            for name in ("blobs", "state", "bus", "cache")
        ]
        return f"Backends({', '.join(parts)})"


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
            warehouse_factory=_warehouse_factory(settings),
            blobs=FolderBlobStore(settings.data_dir),
            state=SQLiteStateStore(settings.state_db),
            bus=bus if bus is not None else InProcessBus(),
            # Beside the state file, so whatever isolates the state (a test's
            # tmp_path, a second checkout) isolates the cache too.
            cache=SQLiteSummaryCache(settings.state_db.with_name("summary_cache.sqlite")),
            calls_factory=lambda: build_call_store(settings),
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
            warehouse_factory=_warehouse_factory(settings),
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
            calls_factory=lambda: build_call_store(settings),
        )
    raise ConfigError(
        "unknown backend",
        where="settings",
        expected="LR_BACKEND `local` or `gcp`",
        found=settings.backend,
    )


def build_call_store(settings: Settings) -> CallStore:
    """The CallStore of ``settings.backend``, with the ``LR_CALL_*`` retry policy.

    Locally a SQLite file beside the state file (``calls.sqlite``); on Google
    Cloud the ``{prefix}calls`` and ``{prefix}lead_outcomes`` collections.
    """
    from common.calls.retry import RetryPolicy

    policy = RetryPolicy.from_settings(settings)
    if settings.backend == "gcp":
        from common.adapters.gcp.firestore_calls import FirestoreCallStore

        return FirestoreCallStore(
            settings.gcp_project,
            database=settings.firestore_database,
            prefix=settings.firestore_collection_prefix,
            policy=policy,
        )
    from common.adapters.local.sqlite_calls import SQLiteCallStore

    return SQLiteCallStore(settings.state_db.with_name("calls.sqlite"), policy)


def _warehouse_factory(settings: Settings) -> Callable[[], Warehouse]:
    """A builder of the warehouse `settings.warehouse` names; ``auto`` follows the backend.

    The settings are checked now, so a wrong or incomplete configuration still
    fails when the backends are built; only the import and construction wait.
    """
    kind = settings.warehouse
    if kind == "auto":
        kind = "bigquery" if settings.backend == "gcp" else "duckdb"
    if kind == "duckdb":
        root = settings.warehouse_dir
        staging = settings.staging_dir or settings.state_db.parent / "staging"

        def duckdb() -> Warehouse:
            from common.adapters.local.duckdb_warehouse import DuckDBWarehouse

            return DuckDBWarehouse(root, staging_dir=staging)

        return duckdb
    if kind == "bigquery":
        project = settings.gcp_project
        location, page_size = settings.bigquery_location, settings.bigquery_page_size
        staging_dataset = settings.bigquery_staging_dataset
        api_endpoint = settings.bigquery_api_endpoint
        storage_endpoint = settings.bigquery_storage_endpoint

        def bigquery() -> Warehouse:
            from common.adapters.gcp.bigquery_warehouse import BigQueryWarehouse

            return BigQueryWarehouse(
                project,
                location=location,
                page_size=page_size,
                staging_dataset=staging_dataset,
                api_endpoint=api_endpoint,
                storage_endpoint=storage_endpoint,
            )

        return bigquery
    raise ConfigError(
        "unknown warehouse",
        where="settings",
        expected="LR_WAREHOUSE `auto`, `duckdb` or `bigquery`",
        found=kind,
    )
