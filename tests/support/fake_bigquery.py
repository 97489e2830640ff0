"""A tiny HTTP server speaking just enough of the BigQuery v2 REST API for `client.query`.

There is no BigQuery emulator, so this lets the real ``google-cloud-bigquery``
client run end to end: ``client.query(sql, job_config)`` → ``jobs.insert``;
``job.result(page_size=N)`` → ``jobs.get`` + ``jobs.getQueryResults`` (paged
with ``pageToken``); ``.to_arrow()`` converts the JSON rows with the schema.
``tabledata.list`` is served too, in case a client version pages that way.

Every request is recorded (method, path, query string, JSON body), so tests can
assert what went over the wire, e.g. that values travelled as query parameters.
Faults are injected per route with `FakeBigQuery.fail`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

INSERT = "jobs.insert"
GET_JOB = "jobs.get"
QUERY_RESULTS = "jobs.getQueryResults"
TABLEDATA = "tabledata.list"

_ROUTES = (
    ("POST", re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/jobs$"), INSERT),
    ("GET", re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/jobs/(?P<job>[^/]+)$"), GET_JOB),
    (
        "GET",
        re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/queries/(?P<job>[^/]+)$"),
        QUERY_RESULTS,
    ),
    (
        "GET",
        re.compile(r"^/bigquery/v2/projects/(?P<project>[^/]+)/datasets/[^/]+/tables/[^/]+/data$"),
        TABLEDATA,
    ),
)

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


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
class FakeBigQuery:
    """The state behind the server: one result set served to every query job.

    Attributes:
        schema: BigQuery schema fields (``name``, ``type``, ``mode``).
        rows: Python values, one tuple per row, in schema order.
        requests: What the server received, in order.
        faults: Route name → fault to answer with.
        job_error: When set, jobs finish DONE with this ``errorResult`` (a query error).
    """

    schema: list[dict[str, str]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    faults: dict[str, Fault] = field(default_factory=dict)
    job_error: dict[str, str] | None = None
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, route: str, status: int, reason: str, *, times: int = 1_000_000) -> None:
        """Answer ``route`` with an HTTP error (``times`` times, then normally)."""
        self.faults[route] = Fault(status, reason, times=times)

    def calls(self, route: str) -> list[Recorded]:
        """The recorded requests of one route."""
        return [r for r in self.requests if r.route == route]

    # ---- the API ------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        found = _route(method, path)
        if found is None:
            return 404, _error(404, "notFound", f"fake BigQuery has no route {method} {path}")
        route, match = found
        with self._lock:
            self.requests.append(Recorded(method, route, path, query, body))
            fault = self.faults.get(route)
            if fault is not None and fault.times > 0:
                fault.times -= 1
                return fault.status, _error(fault.status, fault.reason, fault.message)
        project = match["project"]
        if route == INSERT:
            return 200, self._insert(project, body or {})
        job = self.jobs.get(match.groupdict().get("job") or "")
        if route == GET_JOB:
            return (200, job) if job else (404, _error(404, "notFound", "Not found: Job"))
        if route == QUERY_RESULTS and job is None:
            return 404, _error(404, "notFound", "Not found: Job")
        if route == QUERY_RESULTS and self.job_error:
            # getQueryResults reports a failed job as an HTTP error.
            return 400, _error(400, self.job_error["reason"], self.job_error["message"])
        return 200, self._page(project, job, query, route)

    def _insert(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        ref = dict(body.get("jobReference") or {})
        ref.setdefault("projectId", project)
        ref.setdefault("jobId", f"job_{uuid.uuid4().hex}")
        ref.setdefault("location", "US")
        status: dict[str, Any] = {"state": "DONE"}
        if self.job_error:
            status["errorResult"] = dict(self.job_error)
            status["errors"] = [dict(self.job_error)]
        now_ms = str(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        job = {
            "kind": "bigquery#job",
            "id": f"{project}:{ref['location']}.{ref['jobId']}",
            "jobReference": ref,
            "configuration": body.get("configuration", {}),
            "status": status,
            "statistics": {
                "creationTime": now_ms,
                "startTime": now_ms,
                "endTime": now_ms,
                "query": {"totalBytesProcessed": "0", "statementType": "SELECT"},
            },
        }
        self.jobs[ref["jobId"]] = job
        return job

    def _page(
        self, project: str, job: dict[str, Any] | None, query: dict[str, list[str]], route: str
    ) -> dict[str, Any]:
        start = int(query.get("pageToken", query.get("startIndex", ["0"]))[0])
        size = int(query.get("maxResults", [str(len(self.rows))])[0])
        page = self.rows[start : start + size]
        int64_ts = query.get("formatOptions.useInt64Timestamp", ["false"])[0].lower() == "true"
        body: dict[str, Any] = {
            "totalRows": str(len(self.rows)),
            "rows": [self._row(r, int64_ts) for r in page],
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

    def _row(self, row: Sequence[Any], int64_ts: bool) -> dict[str, Any]:
        return {
            "f": [
                {"v": _encode(value, f["type"], int64_ts)}
                for value, f in zip(row, self.schema, strict=True)
            ]
        }


def _route(method: str, path: str) -> tuple[str, re.Match[str]] | None:
    for route_method, pattern, route in _ROUTES:
        match = pattern.match(path)
        if match and method == route_method:
            return route, match
    return None


def _encode(value: Any, bq_type: str, int64_ts: bool) -> Any:
    """A value as BigQuery's REST API writes it (almost everything is a string)."""
    if value is None:
        return None
    if bq_type in ("BOOL", "BOOLEAN"):
        return "true" if value else "false"
    if bq_type in ("TIMESTAMP",):
        micros = int(value.timestamp() * 1_000_000) if isinstance(value, dt.datetime) else value
        return str(micros) if int64_ts else f"{micros / 1_000_000:.6f}"
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
        body = json.loads(raw) if raw else None
        status, answer = self.server.fake.handle(method, parts.path, parse_qs(parts.query), body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

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
