"""Warehouse on BigQuery: recipe SQL runs as-is, values travel only as query parameters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pyarrow as pa
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

from common.adapters._arrow import utc_microseconds
from common.adapters.gcp._errors import error_reason, is_transient
from common.errors import DataError, TransientError
from common.sql import check_parameters

# The client's own budgets (10 min per call, 40 min per job) outlive a Cloud
# Function (at most 9 min): past these we raise TransientError and let Pub/Sub
# redeliver instead of being killed mid-wait with nothing recorded.
RPC_RETRY: Retry = DEFAULT_RETRY.with_timeout(120.0)
JOB_RETRY: Retry = DEFAULT_JOB_RETRY.with_timeout(240.0)
RESULT_TIMEOUT_S = 420.0

# Checked in order: bool before int (bool is an int), datetime before date
# (datetime is a date); aware vs naive datetime is decided in `_scalar_type`.
_SCALAR_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "BOOL"),
    (int, "INT64"),
    (float, "FLOAT64"),
    (Decimal, "NUMERIC"),
    (str, "STRING"),
    (bytes, "BYTES"),
    (dt.datetime, "TIMESTAMP"),
    (dt.date, "DATE"),
    (dt.time, "TIME"),
)


def _scalar_type(name: str, value: Any) -> str:
    for py_type, bq_type in _SCALAR_TYPES:
        if isinstance(value, py_type):
            if isinstance(value, dt.datetime) and value.tzinfo is None:
                # A naive datetime has no instant; BigQuery's DATETIME is the
                # same idea (wall-clock time), so keep its meaning rather than guess UTC.
                return "DATETIME"
            return bq_type
    if value is None:
        raise DataError(
            f"query parameter @{name} is None: BigQuery needs a type for every parameter",
            where="bigquery parameters",
            expected="a value, or leave the NULL handling to the SQL (e.g. a sentinel value)",
        )
    raise DataError(
        f"query parameter @{name} has an unsupported type {type(value).__name__}",
        where="bigquery parameters",
        expected="str, bool, int, float, Decimal, bytes, datetime, date, time or a list of one of them",
    )


def to_query_parameter(
    name: str, value: Any
) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    """One named BigQuery query parameter whose type is inferred from the Python value.

    Lists and tuples become ``ARRAY<T>`` of their (single) element type; an empty
    list becomes ``ARRAY<STRING>`` (BigQuery needs some element type, and an empty
    array matches nothing whatever its type).

    Raises:
        DataError: the value (or an element) has no BigQuery type, is None, or the
            list mixes element types.
    """
    if isinstance(value, list | tuple):
        types = {_scalar_type(f"{name}[{i}]", v) for i, v in enumerate(value)}
        if len(types) > 1:
            raise DataError(
                f"query parameter @{name} mixes element types {sorted(types)}",
                where="bigquery parameters",
                expected="a list whose elements all have one type",
            )
        return bigquery.ArrayQueryParameter(name, types.pop() if types else "STRING", list(value))
    return bigquery.ScalarQueryParameter(name, _scalar_type(name, value), value)


def build_job_config(params: Mapping[str, Any]) -> bigquery.QueryJobConfig:
    """The job configuration carrying ``params`` as typed named query parameters.

    Pure (no client, no network) so tests can check exactly what is sent.
    """
    return bigquery.QueryJobConfig(
        query_parameters=[to_query_parameter(name, value) for name, value in params.items()]
    )


class BigQueryWarehouse:
    """Runs recipe SQL on BigQuery and returns the rows as an Arrow table.

    Args:
        project: Project that runs (and pays for) the query jobs.
        location: Job location (e.g. ``US``); None lets BigQuery infer it.
        page_size: Rows per result page fetched over REST.
        client: A ready client (tests pass one aimed at a fake server).
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
        retry: Retry | None = RPC_RETRY,
        job_retry: Retry | None = JOB_RETRY,
        timeout: float | None = RESULT_TIMEOUT_S,
    ) -> None:
        self.project = project
        self.location = location
        self.page_size = page_size
        self._client = client
        self._retry = retry
        self._job_retry = job_retry
        self._timeout = timeout

    @property
    def client(self) -> bigquery.Client:
        """The BigQuery client, created on first use (so building backends costs no auth)."""
        if self._client is None:
            self._client = bigquery.Client(project=self.project, location=self.location)
        return self._client

    def query(self, sql: str, params: Mapping[str, Any], *, where: str) -> pa.Table:
        """Run ``sql`` with the parameters it uses; see `common.ports.Warehouse.query`."""
        used = check_parameters(sql, set(params), where=where)
        # Only the used ones, as the DuckDB adapter binds them: a value the SQL never
        # reads (say a None) must not be able to fail type inference.
        job_config = build_job_config({k: v for k, v in params.items() if k in used})
        try:
            job = self.client.query(
                sql,
                job_config=job_config,
                location=self.location,
                retry=self._retry,  # type: ignore[arg-type]  # None disables, as documented
                job_retry=self._job_retry,
            )
            rows = job.result(
                page_size=self.page_size,
                retry=self._retry,
                job_retry=self._job_retry,
                timeout=self._timeout,
            )
            # The Storage Read API is a separate paid API with its own IAM role;
            # paging over REST is enough for shard-sized results.
            table = rows.to_arrow(create_bqstorage_client=False)
        except gexc.GoogleAPICallError as err:
            raise _map_api_error(err, where) from err
        except Exception as err:
            if is_transient(err):
                raise TransientError(f"BigQuery unavailable: {err}", where=where) from err
            raise
        return utc_microseconds(table)


def _map_api_error(err: gexc.GoogleAPICallError, where: str) -> Exception:
    if is_transient(err):
        return TransientError(
            f"BigQuery is throttling or unavailable ({err.code} {error_reason(err) or ''}): "
            f"{err.message}",
            where=where,
        )
    if isinstance(err, gexc.BadRequest | gexc.NotFound | gexc.Forbidden):
        return DataError(f"BigQuery rejected the query: {err.message}", where=where)
    # Anything else (401, 409, ...) is not something a retry fixes either.
    return DataError(f"BigQuery error {err.code}: {err.message}", where=where)
