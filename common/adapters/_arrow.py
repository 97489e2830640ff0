"""Arrow helpers shared by the warehouse adapters."""

from __future__ import annotations

import pyarrow as pa


def utc_microseconds(table: pa.Table) -> pa.Table:
    """Timestamp columns as microseconds, zone-aware ones in UTC (what BigQuery returns).

    Both warehouse adapters end with this, so a query gives the same Arrow types
    on DuckDB and on BigQuery.
    """
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            column = column.cast(pa.timestamp("us", tz="UTC" if field.type.tz else None))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)
