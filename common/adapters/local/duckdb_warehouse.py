"""Warehouse on DuckDB over local Parquet files; recipe SQL is transpiled from BigQuery."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from common.adapters._arrow import utc_microseconds
from common.errors import DataError
from common.sql import check_parameters


def transpile(sql: str, *, where: str) -> str:
    """BigQuery SQL → DuckDB SQL; ``@name`` parameters become ``$name``."""
    try:
        statements = sqlglot.transpile(
            sql, read="bigquery", write="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE
        )
    except sqlglot.errors.SqlglotError as err:
        raise DataError(f"SQL cannot be read as BigQuery SQL: {err}", where=where) from err
    if len(statements) != 1:
        raise DataError("expected exactly one SQL statement", where=where, found=len(statements))
    return statements[0]


def _to_duckdb_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_to_duckdb_value(v) for v in value]
    return value


class DuckDBWarehouse:
    """Every ``<dataset>/<table>.parquet`` under ``root`` is the table ``dataset.table``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = duckdb.connect(":memory:")
            con.execute("SET TimeZone = 'UTC'")
            for path in sorted(self.root.glob("*/*.parquet")):
                schema, table = path.parent.name, path.stem
                # Identifiers are quoted by sqlglot; the file path is a bound parameter.
                con.execute(
                    exp.Create(this=exp.to_identifier(schema), kind="SCHEMA", exists=True).sql(
                        "duckdb"
                    )
                )
                # DuckDB cannot prepare a view, so each file is loaded as a table; the
                # identifiers are quoted by sqlglot and the path is a bound parameter.
                name = exp.table_(table, db=schema, quoted=True).sql("duckdb")
                con.execute(
                    f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_parquet($path)",  # noqa: S608
                    {"path": str(path)},
                )
            self._con = con
        return self._con

    def query(self, sql: str, params: Mapping[str, Any], *, where: str) -> pa.Table:
        """Run recipe SQL on DuckDB with ``params`` bound as named parameters."""
        duck_sql = transpile(sql, where=where)
        used = check_parameters(sql, set(params), where=where)
        bound = {k: _to_duckdb_value(v) for k, v in params.items() if k in used}
        with self._lock:
            con = self._connect()
            try:
                table = con.sql(duck_sql, params=bound).to_arrow_table()
            except duckdb.Error as err:
                raise DataError(f"query failed: {err}", where=where) from err
        return utc_microseconds(table)
