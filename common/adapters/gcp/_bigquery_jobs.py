"""BigQuery jobs as this project describes them: typed query parameters, the job
configuration (labels, bytes cap), and how a failed call or job maps to the project's errors.

Pure apart from the client's exception types, so both the warehouse adapter and its
tests use it without a client.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NoReturn

from google.api_core import exceptions as gexc
from google.cloud import bigquery

from common.adapters.gcp._errors import error_reason, is_transient
from common.errors import DataError, TransientError
from common.ports.warehouse import JobOptions

CAP_EXCEEDED = "bytesBilledLimitExceeded"
"""BigQuery's reason for a job refused by its ``maximum_bytes_billed``."""

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


def build_job_config(
    params: Mapping[str, Any], job: JobOptions | None = None, **options: Any
) -> bigquery.QueryJobConfig:
    """The job configuration carrying ``params`` as typed named query parameters.

    Pure (no client, no network) so tests can check exactly what is sent.

    Args:
        params: Name → value of each query parameter.
        job: Labels and the bytes-billed cap to set on the job.
        options: Other `QueryJobConfig` properties (destination, dry_run, ...).
    """
    config = bigquery.QueryJobConfig(
        query_parameters=[to_query_parameter(name, value) for name, value in params.items()],
        **options,
    )
    if job is not None:
        config.labels = dict(job.labels)
        if job.maximum_bytes_billed is not None:  # the client would send None as "None"
            config.maximum_bytes_billed = job.maximum_bytes_billed
    return config


def reraise(
    err: BaseException, where: str, job: JobOptions | None, *, scan: bool = False
) -> NoReturn:
    """Raise the project's error for ``err`` (chained), or ``err`` itself when it has none."""
    mapped = map_error(err, where, job, scan=scan)
    if mapped is err:
        raise err
    raise mapped from err


# A job that ended with one of these may succeed when run again.
TRANSIENT_JOB_REASONS = frozenset(
    {"backendError", "internalError", "rateLimitExceeded", "jobRateLimitExceeded"}
)


def map_error(
    err: BaseException, where: str, job: JobOptions | None, *, scan: bool = False
) -> BaseException:
    """The project's error for a client error; anything unexpected is returned as it is."""
    if isinstance(err, DataError | TransientError):
        return err
    if error_reason(err) == CAP_EXCEEDED:
        cap = job.maximum_bytes_billed if job else None
        return DataError(
            f"BigQuery refused the {'conversations scan' if scan else 'query'}: it would bill "
            f"more than the cap of {cap if cap is not None else '?'} bytes "
            f"({getattr(err, 'message', err)})",
            where=where,
            expected="a higher cap: the recipe's `maximum_bytes_billed` in meta.yml, or "
            "LR_BIGQUERY_MAXIMUM_BYTES_BILLED for every recipe; or a query that reads less "
            "(partition the messages table by `sent_at`, cluster it by `lead_key`)",
        )
    if isinstance(err, gexc.GoogleAPICallError):
        return map_api_error(err, where)
    if is_transient(err):
        return TransientError(f"BigQuery unavailable: {err}", where=where)
    return err


def map_api_error(err: gexc.GoogleAPICallError, where: str) -> Exception:
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
