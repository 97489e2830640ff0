"""Arrow helpers shared by the warehouse adapters."""

from __future__ import annotations

import contextlib

import pyarrow as pa

# pyarrow imports pandas, when it is installed (the `test` and `cluster` extras), the
# first time it converts Python values or builds an empty table: 0.25-0.3 s that
# landed inside a run (its first scan, or the report's trend). Import it here, with
# the adapters, so it is part of starting the process.
with contextlib.suppress(ImportError):
    import pandas  # noqa: F401


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
