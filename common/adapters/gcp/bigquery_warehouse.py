"""Warehouse on BigQuery: recipe SQL runs as-is, values travel only as query parameters.

Every job carries the step's labels and bytes-billed cap (`JobOptions`). A
run's conversations are read with one scan (`BigQueryWarehouse.stage_scan`):
the run's leads are loaded into ``<staging dataset>.<run>_leads``, the
recipe's SQL (rewritten by `common.sql.scan_sql` to read that table) runs once
into ``<run>_conversations``, clustered by shard, and each shard reads its part
with the BigQuery Storage Read API and a row restriction (`read_staged`).

Over 400 lines on purpose: it is the one class behind the Warehouse port's seven
methods (query, the staged scan's four, results tables' two), each a few client
calls; how a job is described and how its errors read live in `_bigquery_jobs`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

from common.adapters._arrow import utc_microseconds
from common.adapters.gcp._bigquery_jobs import (
    TRANSIENT_JOB_REASONS,
    build_job_config,
    reraise,
)
from common.errors import DataError, TransientError
from common.ports.warehouse import (
    SHARD_COLUMN,
    JobOptions,
    ResultsTable,
    ScanEstimate,
    StagedScan,
)
from common.sql import LEAD_KEYS, check_parameters, scan_sql

if TYPE_CHECKING:  # the Storage Read client is imported where a shard is read
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient

# The client's own budgets (10 min per call, 40 min per job) outlive a Cloud
# Function (at most 9 min): past these we raise TransientError and let Pub/Sub
# redeliver instead of being killed mid-wait with nothing recorded.
RPC_RETRY: Retry = DEFAULT_RETRY.with_timeout(120.0)
JOB_RETRY: Retry = DEFAULT_JOB_RETRY.with_timeout(240.0)
RESULT_TIMEOUT_S = 420.0
DRY_RUN_ARRAY_LIMIT = 1_000
# The Storage Read API's own default retries UNAVAILABLE for 10 minutes.
STORAGE_RETRY = Retry(
    predicate=if_exception_type(gexc.ServiceUnavailable, gexc.DeadlineExceeded),
    initial=0.5,
    maximum=10.0,
    timeout=120.0,
)

STAGING_EXPIRATION = dt.timedelta(days=2)
"""How long a run's staged tables live if nothing drops them (the report step does)."""
SCAN_ATTEMPTS = 8
"""Scan job ids per run (``..._0`` to ``..._7``): a failed attempt's id cannot be reused."""
_TABLE_CHARS = re.compile(r"[^A-Za-z0-9_]")


def staging_name(run_id: str) -> str:
    """A BigQuery table id (and job id) stem for ``run_id``: ``run_<sanitised>_<hash>``.

    Only letters, digits and ``_`` survive; the hash of the run id keeps two
    run ids that sanitise alike (``a-b``, ``a.b``) apart.
    """
    if not run_id:
        raise DataError("not a run id", where="bigquery staging", found=run_id)
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    return f"run_{_TABLE_CHARS.sub('_', run_id)[:150]}_{digest}"


def scan_job_id(run_id: str, attempt: int) -> str:
    """The id of a run's conversations scan job (deterministic: a redelivery finds it)."""
    return f"lr_scan_{staging_name(run_id)}_{attempt}"


class BigQueryWarehouse:
    """Runs recipe SQL on BigQuery and returns the rows as an Arrow table.

    Args:
        project: Project that runs (and pays for) the query jobs.
        location: Job location (e.g. ``US``); None lets BigQuery infer it.
        page_size: Rows per result page fetched over REST.
        client: A ready client (tests pass one aimed at a fake server).
        staging_dataset: Dataset (in ``project``) of the runs' staged tables.
        read_client: A ready BigQuery Storage Read client.
        api_endpoint: Send the REST calls there, without credentials (tests, emulators).
        storage_endpoint: ``host:port`` of a Storage Read API to reach over an
            insecure channel, without credentials (tests, emulators).
        retry: Retry for each API call (None disables; tests use that).
        job_retry: Retry that re-runs a query job that failed for a transient reason.
        timeout: Seconds to wait for the job and its results.
    """

    def __init__(
        self,
        project: str,
        location: str | None = None,
        page_size: int = 50_000,
        client: bigquery.Client | None = None,
        *,
        staging_dataset: str = "lead_recovery_staging",
        read_client: BigQueryReadClient | None = None,
        api_endpoint: str | None = None,
        storage_endpoint: str | None = None,
        retry: Retry | None = RPC_RETRY,
        job_retry: Retry | None = JOB_RETRY,
        timeout: float | None = RESULT_TIMEOUT_S,
    ) -> None:
        self.project = project
        self.location = location
        self.page_size = page_size
        self.staging_dataset = staging_dataset
        self._client = client
        self._read_client = read_client
        self._api_endpoint = api_endpoint
        self._storage_endpoint = storage_endpoint
        self._retry = retry
        self._job_retry = job_retry
        self._timeout = timeout

    @property
    def client(self) -> bigquery.Client:
        """The BigQuery client, created on first use (so building backends costs no auth)."""
        if self._client is None:
            if self._api_endpoint:
                from google.auth.credentials import AnonymousCredentials

                self._client = bigquery.Client(
                    project=self.project,
                    location=self.location,
                    credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": self._api_endpoint},
                )
            else:
                self._client = bigquery.Client(project=self.project, location=self.location)
        return self._client

    @property
    def read_client(self) -> BigQueryReadClient:
        """The BigQuery Storage Read client, created (and imported) on first use."""
        if self._read_client is None:
            from google.cloud.bigquery_storage_v1 import BigQueryReadClient

            if self._storage_endpoint:
                import grpc
                from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
                    BigQueryReadGrpcTransport,
                )

                channel = grpc.insecure_channel(self._storage_endpoint)
                self._read_client = BigQueryReadClient(
                    transport=BigQueryReadGrpcTransport(channel=channel)
                )
            else:
                self._read_client = BigQueryReadClient()
        return self._read_client

    # ---- one query -------------------------------------------------------------------
    def query(
        self, sql: str, params: Mapping[str, Any], *, where: str, job: JobOptions | None = None
    ) -> pa.Table:
        """Run ``sql`` with the parameters it uses; see `common.ports.Warehouse.query`."""
        used = check_parameters(sql, set(params), where=where)
        # Only the used ones, as the DuckDB adapter binds them: a value the SQL never
        # reads (say a None) must not be able to fail type inference.
        job_config = build_job_config({k: v for k, v in params.items() if k in used}, job)
        try:
            query_job = self.client.query(
                sql,
                job_config=job_config,
                location=self.location,
                retry=self._retry,  # type: ignore[arg-type]  # None disables, as documented
                job_retry=self._job_retry,
            )
            rows = query_job.result(
                page_size=self.page_size,
                retry=self._retry,
                job_retry=self._job_retry,
                timeout=self._timeout,
            )
            # The Storage Read API is a separate paid API with its own IAM role;
            # paging over REST is enough for the leads and other small results.
            table = rows.to_arrow(create_bqstorage_client=False)
        except Exception as err:
            reraise(err, where, job)
        return utc_microseconds(table)

    # ---- one staged scan per run ---------------------------------------------------------
    def _staging(self, run_id: str, part: str) -> bigquery.TableReference:
        dataset = bigquery.DatasetReference(self.project, self.staging_dataset)
        return dataset.table(f"{staging_name(run_id)}_{part}")

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
        """Load the leads, then scan once into a table clustered by shard (see the port).

        The scan job's id comes from the run id, so a redelivered fetch-leads
        finds the job (409) and waits for it instead of paying for a second
        scan. Only a job that failed for a passing reason is followed by a new
        one (the next attempt's id).
        """
        leads_ref = self._staging(run_id, "leads")
        scan_ref = self._staging(run_id, "conversations")
        scan = scan_sql(
            sql,
            leads_table=f"{self.project}.{self.staging_dataset}.{leads_ref.table_id}",
            shard_column=SHARD_COLUMN,
            where=where,
        )
        supplied = {k: v for k, v in params.items() if k != LEAD_KEYS}
        used = check_parameters(scan, set(supplied), where=where)
        config = build_job_config(
            {k: v for k, v in supplied.items() if k in used},
            job,
            destination=scan_ref,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            clustering_fields=[SHARD_COLUMN],
        )
        try:
            self._load_leads(leads, leads_ref, job)
            query_job = self._scan_job(scan, config, run_id, where)
            # max_results=0: wait for the job, fetch none of its rows.
            query_job.result(max_results=0, retry=self._retry, timeout=self._timeout)
            table = self.client.get_table(scan_ref, retry=self._retry)  # type: ignore[arg-type]
            self._expire(table)
        except Exception as err:
            reraise(err, where, job, scan=True)
        return StagedScan(
            rows=int(table.num_rows or 0),
            columns=[f.name for f in table.schema if f.name != SHARD_COLUMN],
            bytes_processed=query_job.total_bytes_processed,
            bytes_billed=query_job.total_bytes_billed,
        )

    def _load_leads(
        self, leads: pa.Table, ref: bigquery.TableReference, job: JobOptions | None
    ) -> None:
        table = pa.table(
            {
                "lead_key": leads.column("lead_key").cast(pa.string()),
                "shard": leads.column("shard").cast(pa.int64()),
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        size = buffer.tell()
        buffer.seek(0)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            # NULLABLE, as Arrow writes the Parquet columns (REQUIRED would not match them).
            schema=[
                bigquery.SchemaField("lead_key", "STRING"),
                bigquery.SchemaField("shard", "INT64"),
            ],
            labels=dict(job.labels) if job else None,
        )
        load = self.client.load_table_from_file(
            buffer,
            ref,
            size=size,  # a known size under 5 MB goes as one multipart request
            job_id_prefix="lr_leads_",
            location=self.location,
            job_config=config,
        )
        load.result(retry=self._retry, timeout=self._timeout)
        self._expire(bigquery.Table(ref))

    def _expire(self, table: bigquery.Table) -> None:
        # The staging dataset's default expiration covers a table created there;
        # setting it per table also covers a dataset made by hand without one.
        table.expires = dt.datetime.now(dt.UTC) + STAGING_EXPIRATION
        self.client.update_table(table, ["expires"], retry=self._retry)  # type: ignore[arg-type]

    def _scan_job(
        self, scan: str, config: bigquery.QueryJobConfig, run_id: str, where: str
    ) -> bigquery.QueryJob:
        last: BaseException | None = None
        for attempt in range(SCAN_ATTEMPTS):
            job_id = scan_job_id(run_id, attempt)
            try:
                return self.client.query(
                    scan,
                    job_config=config,
                    job_id=job_id,
                    location=self.location,
                    retry=self._retry,  # type: ignore[arg-type]
                    job_retry=None,  # a chosen job id cannot be re-run under the same id
                )
            except gexc.Conflict:
                pass
            found = self.client.get_job(job_id, location=self.location, retry=self._retry)  # type: ignore[arg-type]
            error = found.error_result if found.state == "DONE" else None
            if error and error.get("reason") in TRANSIENT_JOB_REASONS:
                last = found.exception()
                continue  # that attempt failed for a passing reason: the next id runs it again
            return found  # type: ignore[return-value]  # running, done, or failed for good
        raise TransientError(
            f"the conversations scan failed {SCAN_ATTEMPTS} times for passing reasons: {last}",
            where=where,
        )

    def read_staged(self, run_id: str, shard: int, *, where: str) -> pa.Table:
        """One shard's staged rows, read with the Storage Read API (see the port)."""
        from google.cloud.bigquery_storage_v1 import types

        ref = self._staging(run_id, "conversations")
        retry = STORAGE_RETRY if self._retry is not None else None
        requested = types.ReadSession(
            table=f"projects/{ref.project}/datasets/{ref.dataset_id}/tables/{ref.table_id}",
            data_format=types.DataFormat.ARROW,
            # The staged columns are not known here: reading `_shard` too (8 bytes a
            # row) saves a tables.get per shard; it is dropped below.
            read_options=types.ReadSession.TableReadOptions(
                row_restriction=f"{SHARD_COLUMN} = {int(shard)}"
            ),
        )
        try:
            session = self.read_client.create_read_session(
                parent=f"projects/{self.project}",
                read_session=requested,
                max_stream_count=0,  # BigQuery decides; every stream is read below
                retry=retry,
                timeout=self._timeout,
            )
            schema = pa.ipc.read_schema(pa.py_buffer(session.arrow_schema.serialized_schema))
            # Decoded here: the client's own Arrow helpers are deprecated (for pandas-gbq).
            batches = [
                pa.ipc.read_record_batch(
                    pa.py_buffer(response.arrow_record_batch.serialized_record_batch), schema
                )
                for stream in session.streams
                for response in self.read_client.read_rows(
                    stream.name, retry=retry, timeout=self._timeout
                )
                if response.arrow_record_batch.serialized_record_batch
            ]
        except gexc.NotFound as err:
            raise DataError(
                "no staged conversations for this run",
                where=where,
                expected=f"the table {ref.dataset_id}.{ref.table_id} (written by fetch-leads)",
            ) from err
        except Exception as err:
            reraise(err, where, None)
        table = pa.Table.from_batches(batches, schema=schema)
        if SHARD_COLUMN in table.column_names:
            table = table.drop_columns([SHARD_COLUMN])
        return utc_microseconds(table)

    def drop_staged(self, run_id: str) -> None:
        """Delete the run's staged leads and conversations tables (idempotent)."""
        try:
            for part in ("leads", "conversations"):
                self.client.delete_table(
                    self._staging(run_id, part),
                    not_found_ok=True,
                    retry=self._retry,  # type: ignore[arg-type]
                )
        except Exception as err:
            reraise(err, "bigquery staging", None)

    def estimate(
        self, sql: str, params: Mapping[str, Any], *, where: str, job: JobOptions | None = None
    ) -> ScanEstimate:
        """A dry run: the bytes BigQuery would process (nothing runs, nothing is billed).

        ARRAY parameters are cut to their first `DRY_RUN_ARRAY_LIMIT` elements: the
        bytes a query processes depend on the columns and partitions it reads, not
        on the values it filters by, and a 100,000-key array would push the request
        past BigQuery's size limit.
        """
        used = check_parameters(sql, set(params), where=where)
        config = build_job_config(
            {
                k: list(v)[:DRY_RUN_ARRAY_LIMIT] if isinstance(v, list | tuple) else v
                for k, v in params.items()
                if k in used
            },
            job,
            dry_run=True,
            use_query_cache=False,  # a cached answer would say 0 bytes
        )
        try:
            dry = self.client.query(
                sql,
                job_config=config,
                location=self.location,
                retry=self._retry,  # type: ignore[arg-type]
                job_retry=None,
            )
        except Exception as err:
            reraise(err, where, job)
        return ScanEstimate(bytes=int(dry.total_bytes_processed or 0))

    # ---- results tables --------------------------------------------------------------
    def _results_ref(self, table: ResultsTable) -> bigquery.TableReference:
        return bigquery.DatasetReference(self.project, table.dataset).table(table.name)

    def has_table(self, table: ResultsTable) -> bool:
        """Whether the results table exists (``tables.get``)."""
        try:
            self.client.get_table(self._results_ref(table), retry=self._retry)  # type: ignore[arg-type]
        except gexc.NotFound:
            return False
        except Exception as err:
            reraise(err, f"bigquery {table.dataset}.{table.name}", None)
        return True

    def load_results(
        self, table: ResultsTable, rows: pa.Table, *, run_id: str, job: JobOptions | None = None
    ) -> int:
        """Delete the run's rows, then append ``rows`` with a Parquet load job (see the port).

        Why this is idempotent: every row carries its ``run_id``; the DELETE
        removes whatever an earlier delivery of this run's report loaded (all of
        it: a load job is atomic), and the append adds the run's rows once. A
        crash between the two leaves the run absent, and the redelivery (the
        report's claim is not marked done) does both again. A partition
        decorator with WRITE_TRUNCATE would not do: several runs share a day.
        Not streaming inserts: rows in the streaming buffer cannot be deleted.
        """
        ref = self._results_ref(table)
        where = f"bigquery {table.dataset}.{table.name}"
        if table.schema and [name for name, _ in table.schema] != rows.column_names:
            raise DataError(
                "the rows' columns differ from the declared schema",
                where=where,
                expected=", ".join(name for name, _ in table.schema),
                found=", ".join(rows.column_names),
            )
        try:
            if self.has_table(table):
                run_date = _run_date(rows)
                sql = (
                    f"DELETE FROM `{ref.project}.{ref.dataset_id}.{ref.table_id}` "  # noqa: S608 - identifiers only
                    "WHERE run_id = @run_id"
                    + (f" AND {table.partition_field} = @run_date" if run_date else "")
                )
                params: dict[str, Any] = {"run_id": run_id}
                if run_date:
                    params["run_date"] = run_date
                delete = self.client.query(
                    sql,
                    job_config=build_job_config(params, job),
                    location=self.location,
                    retry=self._retry,  # type: ignore[arg-type]
                    job_retry=self._job_retry,
                )
                delete.result(retry=self._retry, timeout=self._timeout)
            buffer = io.BytesIO()
            pq.write_table(rows, buffer, compression="zstd")
            size = buffer.tell()
            buffer.seek(0)
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
                create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
                schema=[bigquery.SchemaField(name, kind) for name, kind in table.schema] or None,
                time_partitioning=bigquery.TimePartitioning(
                    type_=bigquery.TimePartitioningType.DAY, field=table.partition_field
                ),
                clustering_fields=list(table.clustering) or None,
                # A recipe that grows adds columns; the rows already there read them as NULL.
                schema_update_options=[bigquery.SchemaUpdateOption.ALLOW_FIELD_ADDITION],
                labels=dict(job.labels) if job else None,
            )
            load = self.client.load_table_from_file(
                buffer,
                ref,
                size=size,
                job_id_prefix="lr_results_",
                location=self.location,
                job_config=config,
            )
            load.result(retry=self._retry, timeout=self._timeout)
        except Exception as err:
            reraise(err, where, job)
        return rows.num_rows


def _run_date(rows: pa.Table) -> dt.date | None:
    """The run's date (every row has the same), to prune the DELETE to one partition."""
    if "run_date" not in rows.column_names or rows.num_rows == 0:
        return None
    value = rows.column("run_date")[0].as_py()
    return value if isinstance(value, dt.date) else None
