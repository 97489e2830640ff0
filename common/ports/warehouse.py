"""Warehouse port: parameterised SQL in, Arrow table out; one staged scan per run.

A run reads its conversations with **one** scan (`Warehouse.stage_scan`): the
recipe's conversations SQL runs once for every lead of the run, each row gets
the shard of its lead (decided in SQL, by a join with the run's leads), and the
result is kept where each shard's later step reads only its own part
(`Warehouse.read_staged`). On BigQuery that is a destination table clustered by
shard, read per shard with the Storage Read API; locally, DuckDB writes
per-shard Parquet (``COPY ... PARTITION_BY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pyarrow is heavy; only the adapters that return tables need it
    import pyarrow as pa

SHARD_COLUMN = "_shard"
"""Column of the staged scan holding each row's shard index (dropped by `read_staged`)."""


@dataclass(frozen=True)
class JobOptions:
    """What every warehouse job carries besides its SQL: cost guards and labels.

    Attributes:
        labels: Job labels (BigQuery: ``recipe``, ``run_id``, ``step``), already
            valid label values (see `common.steps.jobs.job_options`).
        maximum_bytes_billed: Refuse (fail the job) past this many bytes billed;
            None: no cap. Ignored where nothing is billed (DuckDB).
    """

    labels: Mapping[str, str] = field(default_factory=dict)
    maximum_bytes_billed: int | None = None


@dataclass(frozen=True)
class ResultsTable:
    """A results table the report step loads each run's rows into.

    Attributes:
        dataset: Dataset (BigQuery) or folder under the warehouse (DuckDB).
        name: Table name.
        schema: ``(column, BigQuery type)`` for every column of the rows, derived
            from the declared column types (`common.results.tables.bigquery_schema`).
        partition_field: DATE column the table is partitioned by (day).
        clustering: Columns the table is clustered by (at most 4).
    """

    dataset: str
    name: str
    schema: tuple[tuple[str, str], ...] = ()
    partition_field: str = "run_date"
    clustering: tuple[str, ...] = ("recipe", "lead_key")

    @property
    def sql_name(self) -> str:
        """``dataset.table`` as recipe-style SQL names it (quoted with backticks)."""
        return f"`{self.dataset}.{self.name}`"


@dataclass(frozen=True)
class StagedScan:
    """What one staged scan produced.

    Attributes:
        rows: Rows in the staged result (every shard together).
        columns: The result's columns, without `SHARD_COLUMN`.
        bytes_processed: Bytes the warehouse read (BigQuery); None locally.
        bytes_billed: Bytes billed (BigQuery); None locally.
    """

    rows: int
    columns: list[str]
    bytes_processed: int | None = None
    bytes_billed: int | None = None


@dataclass(frozen=True)
class ScanEstimate:
    """What a query would read, found without running it for real.

    Attributes:
        bytes: Bytes a BigQuery dry run says it would process; None locally.
        rows: Rows it would return (DuckDB counts them); None on BigQuery.
    """

    bytes: int | None = None
    rows: int | None = None


class Warehouse(Protocol):
    """Runs recipe SQL (BigQuery dialect) with named ``@parameters``.

    Values are only ever passed as query parameters: an adapter must never
    format a value into the SQL text.
    """

    def query(
        self, sql: str, params: Mapping[str, Any], *, where: str, job: JobOptions | None = None
    ) -> pa.Table:
        """Run ``sql`` with ``params`` bound to its ``@name`` placeholders.

        Args:
            sql: BigQuery-dialect SQL, e.g. ``... WHERE sent_at <= @as_of``.
            params: Name → value; lists become ARRAY parameters.
            where: The SQL's origin (recipe file) for error messages.
            job: Labels and the bytes-billed cap.

        Raises:
            DataError: the SQL is invalid or refers to something missing (terminal).
            TransientError: the warehouse is unavailable or throttling.
        """
        ...

    def stage_scan(
        self,
        sql: str,
        params: Mapping[str, Any],
        *,
        leads: pa.Table,
        run_id: str,
        where: str,
        job: JobOptions | None = None,
    ) -> StagedScan:
        """Run the conversations ``sql`` once for every lead of ``leads``, staged by shard.

        ``sql`` is the recipe's conversations SQL: where it reads
        ``@lead_keys``, the adapter reads the run's staged leads instead
        (`common.sql.scan_sql`), so the query text the user wrote stays as it
        is. Running it again for the same ``run_id`` replaces (or reuses) the
        same staged result: a redelivered fetch-leads never stages twice.

        Args:
            sql: The conversations SQL (BigQuery dialect).
            params: The other parameters (``as_of``, ``recipe``); not ``lead_keys``.
            leads: Two columns: ``lead_key`` (string) and ``shard`` (integer).
            run_id: Names the staged objects.
            where: The SQL's origin, for errors.
            job: Labels and the bytes-billed cap.

        Raises:
            DataError: the SQL is invalid, or the scan was refused (e.g. over the cap).
            TransientError: the warehouse is unavailable or throttling.
        """
        ...

    def read_staged(self, run_id: str, shard: int, *, where: str) -> pa.Table:
        """The staged rows of one shard (without `SHARD_COLUMN`); empty when it has none.

        Raises:
            DataError: nothing was staged for ``run_id`` (e.g. it was dropped).
            TransientError: the warehouse is unavailable or throttling.
        """
        ...

    def drop_staged(self, run_id: str) -> None:
        """Delete what `stage_scan` kept for ``run_id`` (idempotent)."""
        ...

    def estimate(
        self, sql: str, params: Mapping[str, Any], *, where: str, job: JobOptions | None = None
    ) -> ScanEstimate:
        """What running ``sql`` would read: a BigQuery dry run (bytes), a DuckDB count (rows)."""
        ...

    def load_results(
        self, table: ResultsTable, rows: pa.Table, *, run_id: str, job: JobOptions | None = None
    ) -> int:
        """Replace ``run_id``'s rows of ``table`` with ``rows`` (every row has that run id).

        Idempotent: loading the same run again leaves one copy of its rows, so a
        redelivered report never duplicates them. Columns the table lacks are
        added (a recipe that grows adds columns); rows of other runs are kept.
        BigQuery: ``DELETE ... WHERE run_id = @run_id`` then a Parquet load job
        (append, partitioned by day, clustered); DuckDB: one Parquet file per run.

        Returns:
            The rows loaded.

        Raises:
            DataError: the rows do not fit the table (e.g. a column changed type).
            TransientError: the warehouse is unavailable or throttling.
        """
        ...

    def has_table(self, table: ResultsTable) -> bool:
        """Whether ``table`` exists (holds at least one run) yet."""
        ...
