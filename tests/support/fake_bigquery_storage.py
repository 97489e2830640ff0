"""A fake BigQuery Storage Read API (gRPC) over the tables of an executing `FakeBigQuery`.

The real ``google-cloud-bigquery-storage`` client talks to it over an insecure
channel: ``CreateReadSession`` runs ``SELECT <selected_fields> FROM <table>
WHERE <row_restriction>`` on the fake's DuckDB and splits the rows into
``streams`` read streams (none when no row matches, as BigQuery does);
``ReadRows`` answers Arrow IPC record batches, the schema in the first
response. Requests are recorded; faults are injected per method with a gRPC
status code.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import pyarrow as pa
from google.cloud.bigquery_storage_v1 import types

from tests.support.fake_bigquery import FakeBigQuery, JobFailed

SERVICE = "google.cloud.bigquery.storage.v1.BigQueryRead"
CREATE_READ_SESSION = "CreateReadSession"
READ_ROWS = "ReadRows"


@dataclass
class FakeBigQueryStorage:
    """The Storage Read API's state: sessions and what was asked.

    Attributes:
        warehouse: The executing REST fake whose tables are read.
        streams: Read streams per session (when there are at least that many rows).
        batch_rows: Rows per ReadRows response.
        requests: (method, request message) in order.
        faults: Method → (status code, answers left).
    """

    warehouse: FakeBigQuery
    streams: int = 2
    batch_rows: int = 1000
    requests: list[tuple[str, Any]] = field(default_factory=list)
    faults: dict[str, list[Any]] = field(default_factory=dict)
    _streams: dict[str, pa.Table] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, code: grpc.StatusCode, *, times: int = 1_000_000) -> None:
        """Answer ``method`` with gRPC ``code`` (``times`` times, then normally)."""
        self.faults[method] = [code, times]

    def calls(self, method: str) -> list[Any]:
        """The recorded requests of one method."""
        return [r for m, r in self.requests if m == method]

    def _fault(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.requests.append((method, request))
            fault = self.faults.get(method)
            if fault is not None and fault[1] > 0:
                fault[1] -= 1
                context.abort(fault[0], "injected by the test")

    def create_read_session(
        self, request: types.CreateReadSessionRequest, context: grpc.ServicerContext
    ) -> types.ReadSession:
        self._fault(CREATE_READ_SESSION, request, context)
        requested = request.read_session
        parts = requested.table.split("/")
        if len(parts) != 6 or parts[0] != "projects" or parts[2] != "datasets":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad table {requested.table!r}")
        if requested.data_format != types.DataFormat.ARROW:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the fake answers ARROW only")
        project, dataset, table = parts[1], parts[3], parts[5]
        options = requested.read_options
        fields = list(options.selected_fields)
        with self.warehouse._lock:
            if (project, dataset, table) not in self.warehouse.tables:
                self.warehouse.connection()  # loads data_dir's tables
            if (project, dataset, table) not in self.warehouse.tables:
                context.abort(
                    grpc.StatusCode.NOT_FOUND, f"Not found: Table {project}:{dataset}.{table}"
                )
            try:
                rows = self.warehouse.read_table(
                    project, dataset, table, where=options.row_restriction
                )
            except JobFailed as failed:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, failed.message)
        if fields:
            rows = rows.select(fields)
        session_name = f"projects/{project}/locations/us/sessions/{uuid.uuid4().hex}"
        count = min(self.streams, rows.num_rows) if rows.num_rows else 0
        if request.max_stream_count:
            count = min(count, request.max_stream_count)
        names = []
        step = -(-rows.num_rows // count) if count else 0
        with self._lock:
            for i in range(count):
                name = f"{session_name}/streams/{i}"
                self._streams[name] = rows.slice(i * step, step)
                names.append(name)
        return types.ReadSession(
            name=session_name,
            table=requested.table,
            data_format=types.DataFormat.ARROW,
            read_options=options,
            arrow_schema=types.ArrowSchema(serialized_schema=rows.schema.serialize().to_pybytes()),
            streams=[types.ReadStream(name=n) for n in names],
            estimated_row_count=rows.num_rows,
        )

    def read_rows(
        self, request: types.ReadRowsRequest, context: grpc.ServicerContext
    ) -> Iterator[types.ReadRowsResponse]:
        self._fault(READ_ROWS, request, context)
        with self._lock:
            rows = self._streams.get(request.read_stream)
        if rows is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Not found: stream {request.read_stream}")
        rows = rows.slice(request.offset)
        schema = types.ArrowSchema(serialized_schema=rows.schema.serialize().to_pybytes())
        for i, batch in enumerate(rows.to_batches(max_chunksize=self.batch_rows)):
            response = types.ReadRowsResponse(
                arrow_record_batch=types.ArrowRecordBatch(
                    serialized_record_batch=batch.serialize().to_pybytes(),
                    row_count=batch.num_rows,
                ),
                row_count=batch.num_rows,
            )
            if i == 0:
                response.arrow_schema = schema
            yield response


@contextmanager
def serve_storage(fake: FakeBigQueryStorage) -> Iterator[str]:
    """Serve ``fake`` over gRPC on a free loopback port; yields ``host:port``."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            CREATE_READ_SESSION: grpc.unary_unary_rpc_method_handler(
                fake.create_read_session,
                request_deserializer=types.CreateReadSessionRequest.deserialize,
                response_serializer=types.ReadSession.serialize,
            ),
            READ_ROWS: grpc.unary_stream_rpc_method_handler(
                fake.read_rows,
                request_deserializer=types.ReadRowsRequest.deserialize,
                response_serializer=types.ReadRowsResponse.serialize,
            ),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
