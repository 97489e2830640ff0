"""A small HTTP server speaking enough of the BigQuery v2 REST API for the real client.

There is no BigQuery emulator, so this lets the real ``google-cloud-bigquery``
client run end to end: ``client.query(sql, job_config)`` → ``jobs.insert``;
``job.result(page_size=N)`` → ``jobs.get`` + ``jobs.getQueryResults`` (paged
with ``pageToken``); ``.to_arrow()`` converts the JSON rows with the schema.
``tabledata.list`` is served too, in case a client version pages that way.

Two modes:

- **canned** (``FakeBigQuery(schema=..., rows=...)``): every query job answers
  the same rows; nothing is executed.
- **executing** (``FakeBigQuery(execute=True, data_dir=...)``): what arrives is
  run on DuckDB. Query jobs (BigQuery SQL transpiled with sqlglot, as the
  DuckDB adapter does; ``queryParameters`` bound as DuckDB parameters), with a
  ``destinationTable`` and its ``writeDisposition``; dry runs (their
  ``totalBytesProcessed`` is the Parquet size of the tables the SQL reads, a
  deterministic figure); ``maximumBytesBilled`` (a job over it fails with
  ``bytesBilledLimitExceeded``, billing as on-demand BigQuery does: whole MiB,
  10 MiB at least); load jobs of Parquet through the upload endpoint
  (multipart and resumable); ``tables.get/patch/delete``; ``jobs.insert``
  answers 409 for a job id that exists. Every ``<dataset>/<table>.parquet``
  under ``data_dir`` is the table ``dataset.table`` of the default project.
  `tests.support.fake_bigquery_storage` serves the Storage Read API over the
  same tables.

Every request is recorded (method, path, query string, JSON body), so tests can
assert what went over the wire, e.g. that values travelled as query parameters.
Faults are injected per route with `FakeBigQuery.fail`.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import re
import threading
import traceback
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

INSERT = "jobs.insert"
GET_JOB = "jobs.get"
QUERY_RESULTS = "jobs.getQueryResults"
TABLEDATA = "tabledata.list"
UPLOAD = "jobs.insert (upload)"
UPLOAD_CHUNK = "jobs.insert (upload chunk)"
GET_TABLE = "tables.get"
PATCH_TABLE = "tables.patch"
DELETE_TABLE = "tables.delete"

_P = r"/projects/(?P<project>[^/]+)"
_T = _P + r"/datasets/(?P<dataset>[^/]+)/tables/(?P<table>[^/]+)"
_ROUTES = (
    ("POST", re.compile(rf"^/bigquery/v2{_P}/jobs$"), INSERT),
    ("GET", re.compile(rf"^/bigquery/v2{_P}/jobs/(?P<job>[^/]+)$"), GET_JOB),
    ("GET", re.compile(rf"^/bigquery/v2{_P}/queries/(?P<job>[^/]+)$"), QUERY_RESULTS),
    ("GET", re.compile(rf"^/bigquery/v2{_T}/data$"), TABLEDATA),
    ("GET", re.compile(rf"^/bigquery/v2{_T}$"), GET_TABLE),
    ("PATCH", re.compile(rf"^/bigquery/v2{_T}$"), PATCH_TABLE),
    ("PUT", re.compile(rf"^/bigquery/v2{_T}$"), PATCH_TABLE),
    ("DELETE", re.compile(rf"^/bigquery/v2{_T}$"), DELETE_TABLE),
    ("POST", re.compile(rf"^/upload/bigquery/v2{_P}/jobs$"), UPLOAD),
    ("PUT", re.compile(rf"^/upload/bigquery/v2{_P}/jobs$"), UPLOAD_CHUNK),
)

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

MIB = 1024 * 1024


def billed_bytes(processed: int) -> int:
    """On-demand billing: whole MiB, at least 10 MiB for a query that reads anything."""
    if processed <= 0:
        return 0
    return max(10 * MIB, math.ceil(processed / MIB) * MIB)


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    route: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None


@dataclass
class Fault:
    """An error answer for one route: HTTP ``status`` with a structured ``reason``."""

    status: int
    reason: str
    message: str = "injected by the test"
    times: int = 1_000_000  # answers left; the default is "every time"


@dataclass
class StoredTable:
    """Metadata of a table the executing fake holds (its rows live in DuckDB)."""

    project: str
    dataset: str
    table: str
    bytes: int
    num_rows: int
    schema: list[dict[str, Any]]
    created_ms: int
    expiration_ms: int | None = None
    clustering: list[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    time_partitioning: dict[str, Any] | None = None

    def resource(self) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "kind": "bigquery#table",
            "id": f"{self.project}:{self.dataset}.{self.table}",
            "tableReference": {
                "projectId": self.project,
                "datasetId": self.dataset,
                "tableId": self.table,
            },
            "schema": {"fields": self.schema},
            "numRows": str(self.num_rows),
            "numBytes": str(self.bytes),
            "creationTime": str(self.created_ms),
            "lastModifiedTime": str(self.created_ms),
            "type": "TABLE",
            "location": "US",
            "etag": f"etag-{self.created_ms}-{self.expiration_ms}",
        }
        if self.expiration_ms is not None:
            resource["expirationTime"] = str(self.expiration_ms)
        if self.clustering:
            resource["clustering"] = {"fields": list(self.clustering)}
        if self.time_partitioning:
            resource["timePartitioning"] = dict(self.time_partitioning)
        if self.labels:
            resource["labels"] = dict(self.labels)
        return resource


class JobFailed(Exception):
    """A job ends DONE with this ``errorResult``."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


@dataclass
class FakeBigQuery:
    """The state behind the server.

    Attributes:
        schema: Canned mode: BigQuery schema fields (``name``, ``type``, ``mode``).
        rows: Canned mode: Python values, one tuple per row, in schema order.
        requests: What the server received, in order.
        faults: Route name → fault to answer with.
        job_error: When set, jobs finish DONE with this ``errorResult`` (a query error).
        jobs: Job id → job resource.
        execute: Run what arrives on DuckDB instead of answering the canned rows.
        data_dir: Executing mode: ``<dataset>/<table>.parquet`` files become the
            tables ``dataset.table`` of ``project``.
        project: The project of ``data_dir``'s tables.
    """

    schema: list[dict[str, str]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    faults: dict[str, Fault] = field(default_factory=dict)
    job_error: dict[str, str] | None = None
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    execute: bool = False
    data_dir: Path | None = None
    project: str = "lr-test"
    tables: dict[tuple[str, str, str], StoredTable] = field(default_factory=dict)
    _results: dict[str, Any] = field(default_factory=dict)  # job id → Arrow result
    _uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    _failure_status: dict[str, int] = field(default_factory=dict)  # job id → HTTP status
    errors: list[str] = field(default_factory=list)  # tracebacks of the double's own bugs
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _con: Any = None

    def fail(self, route: str, status: int, reason: str, *, times: int = 1_000_000) -> None:
        """Answer ``route`` with an HTTP error (``times`` times, then normally)."""
        self.faults[route] = Fault(status, reason, times=times)

    def calls(self, route: str) -> list[Recorded]:
        """The recorded requests of one route."""
        return [r for r in self.requests if r.route == route]

    def query_jobs(self, *, dry_run: bool = False) -> list[dict[str, Any]]:
        """The query jobs created (not the 409 answers), dry runs only if asked."""
        return [
            j
            for j in self.jobs.values()
            if "query" in j["configuration"] and bool(j["configuration"].get("dryRun")) == dry_run
        ]

    # ---- the API ------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        """Answer one JSON request (``handle_raw`` serves uploads too)."""
        status, answer, _headers = self.handle_raw(
            method, path, query, {}, json.dumps(body).encode() if body is not None else b""
        )
        return status, answer or {}

    def handle_raw(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw: bytes,
        base_url: str = "",
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """Answer one request: HTTP status, JSON answer (None: no body), extra headers."""
        found = _route(method, path)
        if found is None:
            return 404, _error(404, "notFound", f"fake BigQuery has no route {method} {path}"), {}
        route, match = found
        raw_data = route == UPLOAD_CHUNK or (
            route == UPLOAD and query.get("uploadType") != ["resumable"]
        )
        body: dict[str, Any] | None = None if raw_data or not raw else json.loads(raw)
        with self._lock:
            self.requests.append(Recorded(method, route, path, query, body))
            fault = self.faults.get(route)
            if fault is not None and fault.times > 0:
                fault.times -= 1
                return fault.status, _error(fault.status, fault.reason, fault.message), {}
            project = match["project"]
            if route == INSERT:
                return self._insert(project, body or {})
            if route == UPLOAD:
                return self._upload(project, query, headers, raw, body, base_url)
            if route == UPLOAD_CHUNK:
                return self._upload_chunk(query, headers, raw)
            if route in (GET_TABLE, PATCH_TABLE, DELETE_TABLE) or (
                route == TABLEDATA and self.execute
            ):
                return self._table_route(route, match, query, body)
            job = self.jobs.get(match.groupdict().get("job") or "")
            if route == GET_JOB:
                return (
                    (200, job, {}) if job else (404, _error(404, "notFound", "Not found: Job"), {})
                )
            if route == QUERY_RESULTS and job is None:
                return 404, _error(404, "notFound", "Not found: Job"), {}
            assert job is not None or route == TABLEDATA
            error = (job or {}).get("status", {}).get("errorResult")
            if route == QUERY_RESULTS and (self.job_error or error):
                # getQueryResults reports a failed job as an HTTP error.
                failed = error or self.job_error or {}
                status = self._failure_status.get(job["jobReference"]["jobId"], 400) if job else 400
                return status, _error(status, failed["reason"], failed["message"]), {}
            if self.execute and job is not None:
                return 200, self._page_executed(job, query), {}
            return 200, self._page(project, job, query, route), {}

    # ---- jobs -----------------------------------------------------------------------
    def _insert(
        self, project: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        ref = dict(body.get("jobReference") or {})
        ref.setdefault("projectId", project)
        ref.setdefault("jobId", f"job_{uuid.uuid4().hex}")
        ref.setdefault("location", "US")
        if ref["jobId"] in self.jobs:
            message = f"Already Exists: Job {project}:{ref['location']}.{ref['jobId']}"
            return 409, _error(409, "duplicate", message), {}
        configuration = body.get("configuration", {})
        cap = configuration.get("query", {}).get("maximumBytesBilled")
        if cap is not None and not str(cap).isdigit():  # an int64 field, sent as a string
            message = f"Invalid value for maximumBytesBilled: {cap!r}"
            return 400, _error(400, "invalid", message), {}
        if not self.execute:
            return 200, self._canned_job(project, ref, configuration), {}
        if "query" in configuration:
            return self._query_job(project, ref, configuration)
        return 400, _error(400, "invalid", "fake BigQuery runs query and load jobs only"), {}

    def _canned_job(
        self, project: str, ref: dict[str, Any], configuration: dict[str, Any]
    ) -> dict[str, Any]:
        status: dict[str, Any] = {"state": "DONE"}
        if self.job_error:
            status["errorResult"] = dict(self.job_error)
            status["errors"] = [dict(self.job_error)]
        job = self._job(project, ref, configuration, status, {"totalBytesProcessed": "0"})
        self.jobs[ref["jobId"]] = job
        return job

    def _job(
        self,
        project: str,
        ref: dict[str, Any],
        configuration: dict[str, Any],
        status: dict[str, Any],
        stats: dict[str, Any],
        kind: str = "query",
    ) -> dict[str, Any]:
        now_ms = str(_now_ms())
        if kind == "query":
            stats = {"statementType": "SELECT", **stats}
        return {
            "kind": "bigquery#job",
            "id": f"{project}:{ref['location']}.{ref['jobId']}",
            "jobReference": ref,
            "configuration": configuration,
            "status": status,
            "statistics": {
                "creationTime": now_ms,
                "startTime": now_ms,
                "endTime": now_ms,
                **(
                    {
                        "totalBytesProcessed": stats.get("totalBytesProcessed", "0"),
                        kind: stats,
                    }
                ),
            },
        }

    def _query_job(
        self, project: str, ref: dict[str, Any], configuration: dict[str, Any]
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        config = configuration["query"]
        dry = bool(configuration.get("dryRun"))
        stats: dict[str, Any] = {}
        status: dict[str, Any] = {"state": "DONE"}
        try:
            if config.get("useLegacySql", True):
                raise JobFailed("invalidQuery", "fake BigQuery speaks standard SQL only")
            if self.job_error:
                raise JobFailed(self.job_error["reason"], self.job_error["message"])
            processed = self.bytes_read(config["query"], project)
            billed = billed_bytes(processed)
            stats = {"totalBytesProcessed": str(processed)}
            params = _parameters(config.get("queryParameters") or [])
            if dry:
                self.run_sql(config["query"], params, project, limit0=True)
                stats["totalBytesProcessedAccuracy"] = "PRECISE"
            else:
                cap = config.get("maximumBytesBilled")
                if cap is not None and billed > int(cap):
                    raise JobFailed(
                        "bytesBilledLimitExceeded",
                        f"Query exceeded limit for bytes billed: {int(cap)}. "
                        f"{billed} or higher required.",
                    )
                dml = _dml_target(config["query"], project)
                result = self.run_sql(config["query"], params, project)
                stats |= {"totalBytesBilled": str(billed), "cacheHit": False}
                if dml is not None:  # DELETE/UPDATE/INSERT: DuckDB answers the row count
                    kind, key = dml
                    affected = int(result.column(0)[0].as_py()) if result.num_rows else 0
                    stats |= {"statementType": kind, "numDmlAffectedRows": str(affected)}
                    self._refresh(key)
                    result = None
                destination = config.get("destinationTable")
                if destination:
                    self.write_table(
                        destination,
                        result,
                        config.get("writeDisposition", "WRITE_EMPTY"),
                        clustering=(config.get("clustering") or {}).get("fields"),
                    )
                self._results[ref["jobId"]] = result
        except JobFailed as failed:
            if dry:  # a dry run fails as the request itself
                return failed.status, _error(failed.status, failed.reason, failed.message), {}
            status["errorResult"] = {"reason": failed.reason, "message": failed.message}
            status["errors"] = [dict(status["errorResult"])]
            self._failure_status[ref["jobId"]] = failed.status
        job = self._job(project, ref, configuration, status, stats)
        if not dry:
            self.jobs[ref["jobId"]] = job
            if ref["jobId"] in self._results and self._results[ref["jobId"]] is None:
                del self._results[ref["jobId"]]
        return 200, job, {}

    # ---- uploads (load jobs) ----------------------------------------------------------
    def _upload(
        self,
        project: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw: bytes,
        body: dict[str, Any] | None,
        base_url: str,
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        kind = query.get("uploadType", [""])[0]
        if kind == "multipart":
            metadata, data = _split_multipart(headers.get("content-type", ""), raw)
            return self._load_job(project, metadata, data)
        if kind == "resumable":
            upload_id = uuid.uuid4().hex
            self._uploads[upload_id] = {"project": project, "metadata": body or {}, "data": b""}
            location = (
                f"{base_url}/upload/bigquery/v2/projects/{project}/jobs"
                f"?uploadType=resumable&upload_id={upload_id}"
            )
            return 200, {}, {"Location": location}
        return 400, _error(400, "invalid", f"unknown uploadType {kind!r}"), {}

    def _upload_chunk(
        self, query: dict[str, list[str]], headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        upload = self._uploads.get(query.get("upload_id", [""])[0])
        if upload is None:
            return 404, _error(404, "notFound", "Not found: upload"), {}
        upload["data"] += raw
        total = headers.get("content-range", "").rpartition("/")[2]
        if total != "*" and len(upload["data"]) >= int(total):
            return self._load_job(upload["project"], upload["metadata"], upload["data"])
        return 308, None, {"Range": f"bytes=0-{len(upload['data']) - 1}"}

    def _load_job(
        self, project: str, metadata: dict[str, Any], data: bytes
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        import pyarrow.parquet as pq

        ref = dict(metadata.get("jobReference") or {})
        ref.setdefault("projectId", project)
        ref.setdefault("jobId", f"job_{uuid.uuid4().hex}")
        ref.setdefault("location", "US")
        if ref["jobId"] in self.jobs:
            return 409, _error(409, "duplicate", f"Already Exists: Job {ref['jobId']}"), {}
        configuration = metadata.get("configuration", {})
        load = configuration.get("load", {})
        status: dict[str, Any] = {"state": "DONE"}
        stats: dict[str, Any] = {"inputFileBytes": str(len(data))}
        if load.get("sourceFormat") != "PARQUET":
            raise AssertionError(
                f"fake BigQuery loads Parquet only, got {load.get('sourceFormat')}"
            )
        try:
            table = pq.read_table(io.BytesIO(data))
            self.write_table(
                load["destinationTable"],
                table,
                load.get("writeDisposition", "WRITE_APPEND"),
                clustering=(load.get("clustering") or {}).get("fields"),
                size=len(data),
                declared=(load.get("schema") or {}).get("fields"),
                time_partitioning=load.get("timePartitioning"),
                update_options=load.get("schemaUpdateOptions") or [],
            )
            stats |= {"outputRows": str(table.num_rows)}
        except JobFailed as failed:
            status["errorResult"] = {"reason": failed.reason, "message": failed.message}
            status["errors"] = [dict(status["errorResult"])]
        job = self._job(project, ref, configuration, status, stats, kind="load")
        self.jobs[ref["jobId"]] = job
        return 200, job, {}

    # ---- tables -----------------------------------------------------------------------
    def _table_route(
        self,
        route: str,
        match: re.Match[str],
        query: dict[str, list[str]],
        body: dict[str, Any] | None,
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        key = (match["project"], match["dataset"], match["table"])
        stored = self.tables.get(key)
        if stored is None:
            return 404, _error(404, "notFound", f"Not found: Table {key[0]}:{key[1]}.{key[2]}"), {}
        if route == DELETE_TABLE:
            self._drop(key)
            return 204, None, {}
        if route == PATCH_TABLE:
            patch = body or {}
            if "expirationTime" in patch:
                value = patch["expirationTime"]
                stored.expiration_ms = int(value) if value is not None else None
            if "labels" in patch:
                stored.labels = {k: v for k, v in (patch["labels"] or {}).items() if v}
            return 200, stored.resource(), {}
        if route == TABLEDATA:
            result = self.read_table(*key)
            return 200, _rows_page(result, query, stored.schema), {}
        return 200, stored.resource(), {}

    # ---- DuckDB ---------------------------------------------------------------------
    def connection(self) -> Any:
        """The DuckDB connection holding every table (created on first use)."""
        if self._con is None:
            import duckdb

            con = duckdb.connect(":memory:")
            con.execute("SET TimeZone = 'UTC'")
            self._con = con
            if self.data_dir is not None:
                for path in sorted(Path(self.data_dir).glob("*/*.parquet")):
                    self._add_file(path)
        return self._con

    def _catalog(self, project: str) -> str:
        con = self._con if self._con is not None else self.connection()
        catalog = _quote(project)
        known = {
            r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        }
        if project not in known:
            con.execute(f"ATTACH ':memory:' AS {catalog}")
        return catalog

    def _schema(self, project: str, dataset: str) -> str:
        name = f"{self._catalog(project)}.{_quote(dataset)}"
        self.connection().execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
        return name

    def _add_file(self, path: Path) -> None:
        import pyarrow.parquet as pq

        dataset, table = path.parent.name, path.stem
        name = f"{self._schema(self.project, dataset)}.{_quote(table)}"
        literal = "'" + str(path).replace("'", "''") + "'"
        self.connection().execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({literal})"  # noqa: S608
        )
        arrow_schema = pq.read_schema(path)
        self.tables[(self.project, dataset, table)] = StoredTable(
            self.project,
            dataset,
            table,
            bytes=path.stat().st_size,
            num_rows=pq.ParquetFile(path).metadata.num_rows,
            schema=bq_schema(arrow_schema),
            created_ms=_now_ms(),
        )

    def _is_view(self, key: tuple[str, str, str]) -> bool:
        found = (
            self.connection()
            .execute(
                "SELECT count(*) FROM duckdb_views() "
                "WHERE database_name = $1 AND schema_name = $2 AND view_name = $3",
                list(key),
            )
            .fetchone()
        )
        return bool(found and found[0])

    def _drop(self, key: tuple[str, str, str]) -> None:
        name = f"{_quote(key[0])}.{_quote(key[1])}.{_quote(key[2])}"
        self.connection().execute(f"DROP {'VIEW' if self._is_view(key) else 'TABLE'} {name}")
        del self.tables[key]

    def write_table(
        self,
        destination: dict[str, str],
        table: Any,
        disposition: str,
        *,
        clustering: list[str] | None = None,
        size: int | None = None,
        declared: list[dict[str, Any]] | None = None,
        time_partitioning: dict[str, Any] | None = None,
        update_options: Sequence[str] = (),
    ) -> None:
        """Store ``table`` (Arrow) as ``destination`` per the write disposition.

        A load job's ``declared`` schema must name the file's columns; appending
        columns the table lacks needs ``ALLOW_FIELD_ADDITION`` (as BigQuery); the
        partitioning of an existing table cannot change.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        key = (destination["projectId"], destination["datasetId"], destination["tableId"])
        existing = self.tables.get(key)
        if declared is not None and [f["name"] for f in declared] != table.column_names:
            raise JobFailed(
                "invalid",
                f"Provided Schema does not match the file: {[f['name'] for f in declared]} "
                f"vs {table.column_names}",
            )
        if existing is not None and disposition == "WRITE_APPEND":
            known = {f["name"] for f in existing.schema}
            added = [n for n in table.column_names if n not in known]
            if added and "ALLOW_FIELD_ADDITION" not in update_options:
                raise JobFailed(
                    "invalid",
                    f"Provided Schema does not match Table {key[1]}.{key[2]}. "
                    f"Cannot add fields (field: {added[0]})",
                )
            if (
                time_partitioning
                and existing.time_partitioning
                and time_partitioning != existing.time_partitioning
            ):
                raise JobFailed(
                    "invalid", f"Incompatible table partitioning specification for {key[2]}"
                )
        if existing is not None and disposition == "WRITE_EMPTY" and existing.num_rows:
            raise JobFailed("duplicate", f"Already Exists: Table {key[0]}:{key[1]}.{key[2]}", 409)
        # BigQuery has one STRING / BYTES type: a Parquet file's large_string is the same.
        table = table.cast(
            pa.schema(
                [
                    f.with_type(pa.string())
                    if pa.types.is_large_string(f.type)
                    else f.with_type(pa.binary())
                    if pa.types.is_large_binary(f.type)
                    else f
                    for f in table.schema
                ]
            )
        )
        if existing is not None and disposition == "WRITE_APPEND":
            table = pa.concat_tables([self.read_table(*key), table], promote_options="permissive")
        name = f"{self._schema(key[0], key[1])}.{_quote(key[2])}"
        con = self.connection()
        con.register("_fake_bq_incoming", table)
        try:
            if key in self.tables and self._is_view(key):
                con.execute(f"DROP VIEW {name}")
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _fake_bq_incoming")  # noqa: S608
        finally:
            con.unregister("_fake_bq_incoming")
        if size is None:
            buffer = io.BytesIO()
            pq.write_table(table, buffer)
            size = buffer.tell()
        schema = bq_schema(table.schema)
        if declared is not None:  # the declared types win (BigQuery converts the file's)
            types = {f["name"]: f for f in declared}
            previous = {f["name"]: f for f in existing.schema} if existing else {}
            schema = [
                {**field, **previous.get(field["name"], {}), **types.get(field["name"], {})}
                for field in schema
            ]
        stored = StoredTable(
            *key,
            bytes=size,
            num_rows=table.num_rows,
            schema=schema,
            created_ms=_now_ms(),
            clustering=clustering or (existing.clustering if existing else None),
            time_partitioning=time_partitioning
            or (existing.time_partitioning if existing else None),
        )
        if existing is not None:  # a truncate keeps the table's own metadata
            stored.expiration_ms, stored.labels = existing.expiration_ms, existing.labels
            stored.created_ms = existing.created_ms
        self.tables[key] = stored

    def _refresh(self, key: tuple[str, str, str]) -> None:
        """Recount a table's rows after DML."""
        stored = self.tables.get(key)
        if stored is not None:
            stored.num_rows = self.read_table(*key).num_rows

    def read_table(self, project: str, dataset: str, table: str, where: str = "") -> Any:
        """A stored table as Arrow, optionally filtered by BigQuery-dialect ``where``."""
        sql = f"SELECT * FROM `{project}.{dataset}.{table}`"  # noqa: S608 - a test double
        if where:
            sql += f" WHERE {where}"
        return self.run_sql(sql, {}, project)

    def bytes_read(self, sql: str, project: str) -> int:
        """The Parquet size of every stored table ``sql`` reads (its dry-run figure)."""
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(sql, read="bigquery")
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        total = 0
        for key in {
            (t.catalog or project, t.db, t.name)
            for t in tree.find_all(exp.Table)
            if t.name and not (not t.db and t.name in ctes)
        }:
            stored = self.tables.get(key)
            if stored is None and self._con is None:
                self.connection()
                stored = self.tables.get(key)
            if stored is None:
                raise JobFailed("notFound", f"Not found: Table {key[0]}:{key[1]}.{key[2]}", 404)
            total += stored.bytes
        return total

    def run_sql(
        self, sql: str, params: dict[str, Any], project: str, *, limit0: bool = False
    ) -> Any:
        """Run BigQuery SQL on DuckDB with ``project`` as the default project; an Arrow table."""
        import duckdb

        from common.adapters.local.duckdb_warehouse import transpile
        from common.errors import DataError
        from common.sql import parameters

        try:
            duck_sql = transpile(sql, where="fake bigquery")
            used = parameters(sql, where="fake bigquery")
        except DataError as err:
            raise JobFailed("invalidQuery", str(err)) from err
        missing = used - set(params)
        if missing:
            raise JobFailed("invalidQuery", f"Query parameter '{sorted(missing)[0]}' not found")
        con = self.connection()
        catalog = self._catalog(project)
        if limit0:
            duck_sql = f"SELECT * FROM ({duck_sql}) LIMIT 0"  # noqa: S608
        try:
            con.execute(f"USE {catalog}")
            return con.sql(duck_sql, params={k: params[k] for k in used}).to_arrow_table()
        except duckdb.CatalogException as err:
            raise JobFailed("notFound", f"Not found: {err}", 404) from err
        except duckdb.Error as err:
            raise JobFailed("invalidQuery", str(err)) from err

    def _page_executed(self, job: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        result = self._results.get(job["jobReference"]["jobId"])
        import pyarrow as pa

        if result is None:
            result = pa.table({})
        schema = bq_schema(result.schema)
        body = _rows_page(result, query, schema)
        body |= {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": job["jobReference"],
            "jobComplete": True,
            "schema": {"fields": schema},
            "totalBytesProcessed": job["statistics"]["query"].get("totalBytesProcessed", "0"),
            "cacheHit": False,
        }
        return body

    # ---- canned rows ------------------------------------------------------------------
    def _page(
        self, project: str, job: dict[str, Any] | None, query: dict[str, list[str]], route: str
    ) -> dict[str, Any]:
        start = int(query.get("pageToken", query.get("startIndex", ["0"]))[0])
        size = int(query.get("maxResults", [str(len(self.rows))])[0])
        page = self.rows[start : start + size]
        int64_ts = query.get("formatOptions.useInt64Timestamp", ["false"])[0].lower() == "true"
        body: dict[str, Any] = {
            "totalRows": str(len(self.rows)),
            "rows": [_row(r, self.schema, int64_ts) for r in page],
        }
        if start + size < len(self.rows) and size > 0:
            body["pageToken"] = str(start + size)
        if route == QUERY_RESULTS:
            assert job is not None
            body |= {
                "kind": "bigquery#getQueryResultsResponse",
                "jobReference": job["jobReference"],
                "jobComplete": True,
                "schema": {"fields": self.schema},
                "totalBytesProcessed": "0",
                "cacheHit": False,
            }
        if not body["rows"]:
            del body["rows"]
        return body


def _dml_target(sql: str, project: str) -> tuple[str, tuple[str, str, str]] | None:
    """``(statement type, table key)`` of a DML statement; None for a query."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="bigquery")
    kinds = {exp.Delete: "DELETE", exp.Update: "UPDATE", exp.Insert: "INSERT"}
    kind = next((name for cls, name in kinds.items() if isinstance(tree, cls)), None)
    if kind is None:
        return None
    table = tree.find(exp.Table)
    assert table is not None
    return kind, (table.catalog or project, table.db, table.name)


def _now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _route(method: str, path: str) -> tuple[str, re.Match[str]] | None:
    for route_method, pattern, route in _ROUTES:
        match = pattern.match(path)
        if match and method == route_method:
            return route, match
    return None


def _split_multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON metadata and the data of a ``multipart/related`` upload."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    assert boundary, f"no multipart boundary in {content_type!r}"
    separator = b"--" + boundary.group(1).encode()
    parts = [p for p in raw.split(separator) if p not in (b"", b"--", b"--\r\n")]
    blobs = []
    for part in parts[:2]:
        _head, _, content = part.partition(b"\r\n\r\n")
        blobs.append(content[:-2] if content.endswith(b"\r\n") else content)
    return json.loads(blobs[0]), blobs[1]


# ---- values ---------------------------------------------------------------------------
def _scalar(bq_type: str, value: Any) -> Any:
    if value is None:
        return None
    if bq_type in ("INT64", "INTEGER"):
        return int(value)
    if bq_type in ("FLOAT64", "FLOAT"):
        return float(value)
    if bq_type in ("BOOL", "BOOLEAN"):
        return str(value).lower() == "true"
    if bq_type in ("NUMERIC", "BIGNUMERIC"):
        return Decimal(value)
    if bq_type == "BYTES":
        return base64.b64decode(value)
    if bq_type in ("TIMESTAMP", "DATETIME"):
        return dt.datetime.fromisoformat(value.replace(" ", "T"))
    if bq_type == "DATE":
        return dt.date.fromisoformat(value)
    if bq_type == "TIME":
        return dt.time.fromisoformat(value)
    return str(value)


def _parameters(query_parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """``queryParameters`` of a job → Python values for DuckDB."""
    values: dict[str, Any] = {}
    for param in query_parameters:
        ptype, pvalue = param["parameterType"], param.get("parameterValue") or {}
        if ptype["type"] == "ARRAY":
            element = ptype["arrayType"]["type"]
            values[param["name"]] = [
                _scalar(element, v.get("value")) for v in pvalue.get("arrayValues") or []
            ]
        else:
            values[param["name"]] = _scalar(ptype["type"], pvalue.get("value"))
    return values


def bq_schema(schema: Any) -> list[dict[str, Any]]:
    """An Arrow schema as BigQuery schema fields."""
    return [_bq_field(f.name, f.type) for f in schema]


def _bq_field(name: str, arrow_type: Any) -> dict[str, Any]:
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _bq_field(name, t.value_type)
        return {**inner, "mode": "REPEATED"}
    if pa.types.is_struct(t):
        fields = [_bq_field(t.field(i).name, t.field(i).type) for i in range(t.num_fields)]
        return {"name": name, "type": "RECORD", "mode": "NULLABLE", "fields": fields}
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        bq = "STRING"
    elif pa.types.is_boolean(t):
        bq = "BOOLEAN"
    elif pa.types.is_integer(t):
        bq = "INTEGER"
    elif pa.types.is_floating(t):
        bq = "FLOAT"
    elif pa.types.is_decimal(t):
        bq = "NUMERIC"
    elif pa.types.is_timestamp(t):
        bq = "TIMESTAMP" if t.tz else "DATETIME"
    elif pa.types.is_date(t):
        bq = "DATE"
    elif pa.types.is_time(t):
        bq = "TIME"
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        bq = "BYTES"
    else:
        raise AssertionError(f"fake BigQuery has no type for {name}: {t}")
    return {"name": name, "type": bq, "mode": "NULLABLE"}


def _rows_page(
    table: Any, query: dict[str, list[str]], schema: list[dict[str, Any]]
) -> dict[str, Any]:
    start = int(query.get("pageToken", query.get("startIndex", ["0"]))[0])
    size = int(query.get("maxResults", [str(table.num_rows)])[0])
    int64_ts = query.get("formatOptions.useInt64Timestamp", ["false"])[0].lower() == "true"
    page = table.slice(start, max(size, 0)).to_pylist() if size > 0 else []
    body: dict[str, Any] = {"totalRows": str(table.num_rows)}
    if page:
        names = [f["name"] for f in schema]
        body["rows"] = [_row([r[n] for n in names], schema, int64_ts) for r in page]
    if size > 0 and start + size < table.num_rows:
        body["pageToken"] = str(start + size)
    return body


def _row(row: Sequence[Any], schema: Sequence[dict[str, Any]], int64_ts: bool) -> dict[str, Any]:
    return {"f": [{"v": _value(v, f, int64_ts)} for v, f in zip(row, schema, strict=True)]}


def _value(value: Any, bq_field: dict[str, Any], int64_ts: bool) -> Any:
    if bq_field.get("mode") == "REPEATED":
        element = {**bq_field, "mode": "NULLABLE"}
        return [{"v": _value(v, element, int64_ts)} for v in value or []]
    if bq_field["type"] == "RECORD" and value is not None:
        return _row([value[f["name"]] for f in bq_field["fields"]], bq_field["fields"], int64_ts)
    return _encode(value, bq_field["type"], int64_ts)


def _encode(value: Any, bq_type: str, int64_ts: bool) -> Any:
    """A value as BigQuery's REST API writes it (almost everything is a string)."""
    if value is None:
        return None
    if bq_type in ("BOOL", "BOOLEAN"):
        return "true" if value else "false"
    if bq_type in ("TIMESTAMP",):
        if isinstance(value, dt.datetime):
            delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        else:
            micros = value
        return str(micros) if int64_ts else f"{micros / 1_000_000:.6f}"
    if bq_type == "DATETIME" and isinstance(value, dt.datetime):
        return value.isoformat()
    if bq_type == "BYTES":
        return base64.b64encode(value).decode()
    return str(value)


def _error(status: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        try:
            status, answer, extra = self.server.fake.handle_raw(
                method, parts.path, parse_qs(parts.query), headers, raw, f"http://{host}"
            )
        except Exception as err:  # a bug of the double: say so instead of hanging up
            self.server.fake.errors.append(traceback.format_exc())
            status, answer, extra = 500, _error(500, "fakeBug", f"{type(err).__name__}: {err}"), {}
        data = json.dumps(answer).encode() if answer is not None else b""
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        if answer is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: the recorded requests say what happened


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeBigQuery) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def serve(fake: FakeBigQuery) -> Iterator[str]:
    """Serve ``fake`` on a free loopback port; yields its base URL."""
    server = _Server(fake)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="fake-bigquery",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
