"""Warehouse on DuckDB over local Parquet files; recipe SQL is transpiled from BigQuery.

A run's conversations scan (`stage_scan`) is one DuckDB ``COPY ... TO ...
(PARTITION_BY (_shard))``: the messages are read once, joined with the run's
leads (registered as an in-memory Arrow table) and written as one Parquet
folder per shard under ``staging_dir/<run_id>/``, which `read_staged` reads.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from common.adapters._arrow import utc_microseconds
from common.errors import DataError
from common.ports.warehouse import (
    SHARD_COLUMN,
    JobOptions,
    ResultsTable,
    ScanEstimate,
    StagedScan,
)
from common.sql import LEAD_KEYS, check_parameters, scan_sql

RUN_LEADS = "_lr_run_leads"
"""Name under which `stage_scan` registers the run's leads for the scan."""
SCHEMA_FILE = "_schema.parquet"
"""An empty Parquet file with the staged columns: a shard without rows still has them."""


_BQ_TIME_FORMATS = {"%Ez": "%z", "%F": "%Y-%m-%d", "%T": "%H:%M:%S", "%E0S": "%S"}


def _duckdb_time_formats(bigquery: str) -> list[str]:
    """DuckDB ``strptime`` formats equivalent to one BigQuery PARSE_TIMESTAMP format.

    ``%E*S`` (seconds with any fraction, or none) becomes two formats, with and
    without ``.%f``; ``%E<n>S`` is ``%S.%f``; ``%Ez`` (``+02:00``) is DuckDB's ``%z``.
    """
    text = bigquery
    for ours, theirs in _BQ_TIME_FORMATS.items():
        text = text.replace(ours, theirs)
    text = re.sub(r"%E[1-9]S", "%S.%f", text)
    if "%E*S" in text:
        return [text.replace("%E*S", "%S.%f"), text.replace("%E*S", "%S")]
    return [text]


def _parse_timestamp(node: exp.Expression) -> exp.Expression:
    """BigQuery ``PARSE_TIMESTAMP(format, text[, zone])`` as DuckDB ``strptime``.

    sqlglot keeps BigQuery-only directives (``%E*S``) that DuckDB rejects, and
    returns a zone-less TIMESTAMP where BigQuery returns a TIMESTAMP in UTC (or
    in the given zone when the text has no offset).
    """
    fmt = node.args.get("format")
    if not isinstance(node, exp.StrToTime) or not isinstance(fmt, exp.Literal):
        return node
    formats = _duckdb_time_formats(fmt.this)
    parsed = exp.Anonymous(
        this="STRPTIME",
        expressions=[node.this, exp.Array(expressions=[exp.Literal.string(f) for f in formats])],
    )
    if "%z" in formats[0]:
        return parsed  # the text carries its offset: DuckDB returns TIMESTAMPTZ
    zone = node.args.get("zone") or exp.Literal.string("UTC")
    return exp.Anonymous(this="TIMEZONE", expressions=[zone, parsed])


def transpile(sql: str, *, where: str) -> str:
    """BigQuery SQL → DuckDB SQL; ``@name`` parameters become ``$name``."""
    try:
        trees = sqlglot.parse(sql, read="bigquery")
        if len(trees) != 1 or trees[0] is None:
            raise DataError("expected exactly one SQL statement", where=where, found=len(trees))
        tree = trees[0].transform(_parse_timestamp)
        return tree.sql("duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.SqlglotError as err:
        raise DataError(f"SQL cannot be read as BigQuery SQL: {err}", where=where) from err


def _to_duckdb_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_to_duckdb_value(v) for v in value]
    return value


def _empty(schema: pa.Schema) -> pa.Table:
    """A table of no rows (``Schema.empty_table`` imports pandas: 0.3 s in a run's first scan)."""
    return pa.Table.from_batches([], schema=schema)


def _read_as(path: Path, schema: pa.Schema) -> pa.Table:
    """One Parquet file in ``schema`` (`pq.ParquetFile` reads a small file in about half
    the time `pq.read_table` takes, which goes through the dataset layer)."""
    table = pq.ParquetFile(path).read()
    return table if table.schema.equals(schema) else table.cast(schema)


def _literal(value: str) -> str:
    """A DuckDB string literal, quoted by sqlglot (for file paths DuckDB cannot bind)."""
    return exp.Literal.string(value).sql("duckdb")


def _run_file(run_id: str) -> str:
    """A file name for ``run_id``'s rows of a results table (safe, distinct per run id)."""
    if not run_id:
        raise DataError("not a run id", where="duckdb results", found=run_id)
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', run_id)[:150]}_{digest}.parquet"


def _view_sql(schema: str, table: str, source: str) -> str:
    # DuckDB cannot bind a parameter in a view's definition; identifiers and the
    # path are quoted by sqlglot.
    name = exp.table_(table, db=schema, quoted=True).sql("duckdb")
    return f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}"  # noqa: S608


class DuckDBWarehouse:
    """Every ``<dataset>/<table>.parquet`` under ``root`` is the table ``dataset.table``.

    So is every folder ``<dataset>/<table>/`` of Parquet files (one per run: the
    results tables `load_results` writes), read as one table by column name.

    Args:
        root: The warehouse folder.
        staging_dir: Where `stage_scan` keeps each run's per-shard Parquet.
    """

    def __init__(self, root: Path, *, staging_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.staging_dir = Path(staging_dir) if staging_dir else self.root / ".staging"
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = self._open()
        return self._con

    def _open(self) -> duckdb.DuckDBPyConnection:
        """A new connection with a view per warehouse table."""
        con = duckdb.connect(":memory:")
        con.execute("SET TimeZone = 'UTC'")
        for path in sorted(self.root.glob("*/*.parquet")):
            schema, table = path.parent.name, path.stem
            con.execute(
                exp.Create(this=exp.to_identifier(schema), kind="SCHEMA", exists=True).sql("duckdb")
            )
            # A view, not a table: the data stays in the Parquet file (a 2 M-message
            # table loaded into memory cost ~0.5 GB), and each query reads only the
            # columns it needs. DuckDB cannot bind a parameter in a view's
            # definition; identifiers and the path are quoted by sqlglot.
            con.execute(_view_sql(schema, table, f"read_parquet({_literal(str(path))})"))
        for folder in sorted({p.parent for p in self.root.glob("*/*/*.parquet")}):
            if folder.parent.name.startswith(".") or folder.name.startswith("."):
                continue  # the staging folder, or a results file being written
            self._results_view(con, folder.parent.name, folder.name)
        return con

    def _results_view(self, con: duckdb.DuckDBPyConnection, dataset: str, table: str) -> None:
        folder = self.root / dataset / table
        con.execute(
            exp.Create(this=exp.to_identifier(dataset), kind="SCHEMA", exists=True).sql("duckdb")
        )
        # union_by_name: a run written before a recipe added a column reads it as NULL.
        source = f"read_parquet({_literal(str(folder / '*.parquet'))}, union_by_name = true)"
        con.execute(_view_sql(dataset, table, source))

    # ---- results tables -------------------------------------------------------------
    def load_results(
        self, table: ResultsTable, rows: pa.Table, *, run_id: str, job: JobOptions | None = None
    ) -> int:
        """Write ``<root>/<dataset>/<table>/<run>.parquet``, replacing the run's file whole."""
        folder = self.root / table.dataset / table.name
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / _run_file(run_id)
        partial = folder / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            pq.write_table(rows, partial, compression="zstd")
            # One file per run, swapped in whole: loading the run again replaces its
            # rows, and a reader sees the old file or the new one, never half.
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        with self._lock:
            if self._con is not None:
                self._results_view(self._con, table.dataset, table.name)
        return rows.num_rows

    def has_table(self, table: ResultsTable) -> bool:
        """Whether any run's rows were written to ``table``."""
        return any((self.root / table.dataset / table.name).glob("*.parquet"))

    def _bind(self, sql: str, params: Mapping[str, Any], *, where: str) -> dict[str, Any]:
        used = check_parameters(sql, set(params), where=where)
        return {k: _to_duckdb_value(v) for k, v in params.items() if k in used}

    def query(
        self, sql: str, params: Mapping[str, Any], *, where: str, job: JobOptions | None = None
    ) -> pa.Table:
        """Run recipe SQL on DuckDB with ``params`` bound as named parameters."""
        duck_sql = transpile(sql, where=where)
        bound = self._bind(sql, params, where=where)
        with self._lock:
            con = self._connect()
            try:
                table = con.sql(duck_sql, params=bound).to_arrow_table()
            except duckdb.Error as err:
                raise DataError(f"query failed: {err}", where=where) from err
        return utc_microseconds(table)

    # ---- one staged scan per run ------------------------------------------------------
    def _scan(self, sql: str, params: Mapping[str, Any], where: str) -> tuple[str, dict[str, Any]]:
        scan = scan_sql(sql, leads_table=RUN_LEADS, shard_column=SHARD_COLUMN, where=where)
        supplied = {k: v for k, v in params.items() if k != LEAD_KEYS}
        return transpile(scan, where=where), self._bind(scan, supplied, where=where)

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
        """Scan once, writing ``staging_dir/<run_id>/_shard=N/*.parquet`` (see the port)."""
        duck_sql, bound = self._scan(sql, params, where)
        final = self._run_dir(run_id)
        partial = final.with_name(f"{final.name}.tmp-{uuid.uuid4().hex[:8]}")
        partial.mkdir(parents=True)
        try:
            # Its own connection, closed at once: DuckDB keeps what a big scan
            # allocated until its connection closes (~150 MB at 2 M messages), which
            # the run's later steps would otherwise carry.
            con = self._open()
            try:
                # Row order inside a shard does not matter (the processors order each
                # lead's messages); not keeping it lets DuckDB stream with less memory.
                con.execute("SET preserve_insertion_order = false")
                con.register(RUN_LEADS, leads)
                empty = con.sql(f"SELECT * FROM ({duck_sql}) LIMIT 0", params=bound)  # noqa: S608
                schema = utc_microseconds(empty.to_arrow_table()).schema
                rows = con.execute(
                    f"COPY ({duck_sql}) TO {_literal(str(partial))} "
                    f"(FORMAT PARQUET, PARTITION_BY ({SHARD_COLUMN}), COMPRESSION snappy)",
                    bound,
                ).fetchone()
            except duckdb.Error as err:
                raise DataError(f"conversations scan failed: {err}", where=where) from err
            finally:
                con.close()
            columns = [n for n in schema.names if n != SHARD_COLUMN]
            pq.write_table(_empty(schema).select(columns), partial / SCHEMA_FILE)
            # Swap in whole: a redelivered fetch-leads replaces the staged scan, and a
            # reader never sees half of one.
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return StagedScan(rows=int(rows[0]) if rows else 0, columns=columns)

    def _run_dir(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise DataError("not a run id", where="duckdb staging", found=run_id)
        return self.staging_dir / run_id

    def read_staged(self, run_id: str, shard: int, *, where: str) -> pa.Table:
        """One shard's rows of the staged scan."""
        folder = self._run_dir(run_id)
        if not (folder / SCHEMA_FILE).exists():
            raise DataError(
                "no staged conversations for this run",
                where=where,
                expected=f"{folder} (written by fetch-leads)",
            )
        schema = pq.read_schema(folder / SCHEMA_FILE)
        files = sorted((folder / f"{SHARD_COLUMN}={int(shard)}").glob("*.parquet"))
        if not files:
            return _empty(schema)
        table = pa.concat_tables([_read_as(f, schema) for f in files])
        return utc_microseconds(table)

    def drop_staged(self, run_id: str) -> None:
        """Remove the run's staged scan."""
        shutil.rmtree(self._run_dir(run_id), ignore_errors=True)

    def estimate(
        self, sql: str, params: Mapping[str, Any], *, where: str, job: JobOptions | None = None
    ) -> ScanEstimate:
        """How many rows ``sql`` returns (DuckDB reads local files: bytes cost nothing).

        ``@lead_keys`` is read as a joined table, as the staged scan reads it: a
        100,000-element list bound to ``IN UNNEST(...)`` took 25 s to count here.
        """
        keys = params.get(LEAD_KEYS)
        with self._lock:
            con = self._connect()
            try:
                if isinstance(keys, list | tuple):
                    duck_sql, bound = self._scan(sql, params, where)
                    con.register(
                        RUN_LEADS,
                        pa.table(
                            {
                                "lead_key": pa.array([str(k) for k in keys], pa.string()),
                                "shard": pa.array([0] * len(keys), pa.int64()),
                            }
                        ),
                    )
                else:
                    duck_sql, bound = (
                        transpile(sql, where=where),
                        self._bind(sql, params, where=where),
                    )
                rows = con.execute(f"SELECT count(*) FROM ({duck_sql})", bound).fetchall()  # noqa: S608
            except duckdb.Error as err:
                raise DataError(f"query failed: {err}", where=where) from err
            finally:
                if isinstance(keys, list | tuple):
                    con.unregister(RUN_LEADS)
        return ScanEstimate(rows=int(rows[0][0]) if rows else 0)
