"""The rows the report step loads into the results tables, and their BigQuery schema.

Three tables (names in settings, dataset ``LR_RESULTS_DATASET``):

- **analysis**: one row per analysed lead per run: every column of the merged
  frame (lead columns, processor columns, LLM fields, cluster labels, call
  outcome columns), the history columns (`common.results.history`) and the
  run columns below;
- **ignored**: the same for the leads left out, with ``ignore_reason``;
- **runs**: one row per run: counts, KPIs and the run's metrics (JSON).

Every row carries `RUN_COLUMNS`. Tables are partitioned by ``run_date`` and
clustered by ``recipe`` and ``lead_key`` (runs: ``recipe``, ``run_id``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from common.calls.report_join import OUTCOME_SCHEMA
from common.ports.warehouse import ResultsTable

if TYPE_CHECKING:
    import pyarrow as pa

    from common.settings import Settings

RUN_SCHEMA: dict[str, pl.DataType] = {
    "recipe": pl.String(),
    "run_id": pl.String(),
    "run_date": pl.Date(),
    "run_started_at": pl.Datetime("us", "UTC"),
    "as_of": pl.Datetime("us", "UTC"),
}
"""Columns every results row starts with."""
RUN_COLUMNS = tuple(RUN_SCHEMA)
REACHED = ("recovered", "callback_requested", "not_interested", "no_decision", "wrong_number")
"""Dispositions of a call where someone answered."""


@dataclass(frozen=True)
class ResultsTables:
    """The three results tables of a deployment."""

    analysis: ResultsTable
    ignored: ResultsTable
    runs: ResultsTable

    @classmethod
    def from_settings(cls, settings: Settings) -> ResultsTables:
        """Names from ``LR_RESULTS_*``."""
        dataset = settings.results_dataset
        return cls(
            analysis=ResultsTable(dataset, settings.results_analysis_table),
            ignored=ResultsTable(dataset, settings.results_ignored_table),
            runs=ResultsTable(
                dataset, settings.results_runs_table, clustering=("recipe", "run_id")
            ),
        )


def bigquery_type(dtype: pl.DataType) -> str:
    """The BigQuery type of a declared (polars) column type; nested values travel as JSON text."""
    if dtype == pl.Boolean:
        return "BOOL"
    if dtype.is_integer():
        return "INT64"
    if dtype.is_float():
        return "FLOAT64"
    if isinstance(dtype, pl.Decimal):
        return "NUMERIC"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP" if dtype.time_zone else "DATETIME"
    if dtype == pl.Date:
        return "DATE"
    if dtype == pl.Time:
        return "TIME"
    if dtype == pl.Binary:
        return "BYTES"
    return "STRING"


def _loadable(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns as JSON text, untyped (all-null) ones as strings, UInt64 as Int64."""
    fixes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List | pl.Array | pl.Struct | pl.Object):
            fixes.append(
                pl.col(name).map_elements(
                    lambda v: json.dumps(v.to_list() if hasattr(v, "to_list") else v, default=str),
                    return_dtype=pl.String,
                    skip_nulls=True,
                )
            )
        elif dtype == pl.Null or isinstance(dtype, pl.Categorical | pl.Enum):
            fixes.append(pl.col(name).cast(pl.String))
        elif dtype == pl.UInt64:
            fixes.append(pl.col(name).cast(pl.Int64))
    return frame.with_columns(fixes) if fixes else frame


def with_schema(table: ResultsTable, frame: pl.DataFrame) -> tuple[ResultsTable, pa.Table]:
    """``table`` with the schema of ``frame``'s declared types, and the rows as Arrow."""
    frame = _loadable(frame)
    schema = tuple((name, bigquery_type(dtype)) for name, dtype in frame.schema.items())
    described = ResultsTable(
        table.dataset, table.name, schema, table.partition_field, table.clustering
    )
    return described, frame.to_arrow()


def run_values(
    run_id: str, recipe: str, started: datetime, as_of: datetime | None
) -> dict[str, Any]:
    """The `RUN_COLUMNS` values of one run."""
    return {
        "recipe": recipe,
        "run_id": run_id,
        "run_date": started.date(),
        "run_started_at": started,
        "as_of": as_of,
    }


def lead_rows(frame: pl.DataFrame, run: Mapping[str, Any]) -> pl.DataFrame:
    """`RUN_COLUMNS` first, then ``frame``'s columns, plus the call outcome columns if absent.

    The outcome columns are always there (NULL for a recipe without calls) so the
    KPI views read the same columns whatever the recipes.
    """
    frame = frame.drop([c for c in RUN_COLUMNS if c in frame.columns])
    missing = [
        pl.lit(None, dtype).alias(c)
        for c, dtype in OUTCOME_SCHEMA.items()
        if c not in frame.columns
    ]
    if missing:
        frame = frame.with_columns(missing)
    head = [pl.lit(run[c], dtype).alias(c) for c, dtype in RUN_SCHEMA.items()]
    return frame.select([*head, pl.all()])


def run_row(
    run: Mapping[str, Any],
    summary: Mapping[str, Any],
    analysis: pl.DataFrame,
    ignored: pl.DataFrame,
) -> pl.DataFrame:
    """The runs table's one row for a run: counts, KPIs and the metrics as JSON."""
    both = pl.concat(
        [f.select(["call_disposition", "call_attempts"]) for f in (analysis, ignored)],
        how="vertical_relaxed",
    )
    disposition = both["call_disposition"]
    values: dict[str, Any] = {
        "status": summary.get("status"),
        "leads": both.height,
        "stalled": analysis.height,
        "ignored": ignored.height,
        "called": int((both["call_attempts"].fill_null(0) > 0).sum()),
        "reached": int(disposition.is_in(list(REACHED)).sum()),
        "recovered": int((disposition == "recovered").sum()),
        "failed_shards": len(summary.get("failed_shards") or []),
        "seconds": float(summary.get("seconds") or 0.0),
        "metrics": json.dumps(summary.get("metrics") or {}, default=str, sort_keys=True),
    }
    head = {c: run[c] for c in RUN_COLUMNS}
    schema = {
        **RUN_SCHEMA,
        "status": pl.String(),
        **{
            k: pl.Int64() for k in ("leads", "stalled", "ignored", "called", "reached", "recovered")
        },
        "failed_shards": pl.Int64(),
        "seconds": pl.Float64(),
        "metrics": pl.String(),
    }
    return pl.DataFrame([{**head, **values}], schema=schema)


def as_date(value: Any) -> date | None:
    """A ``date`` from a date, datetime or ISO text (None stays None)."""
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    return datetime.fromisoformat(str(value)).date()
