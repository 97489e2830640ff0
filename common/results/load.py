"""The report step's part: history onto the merged frame, then the run's rows into the tables."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl

from common.errors import DataError
from common.ports.warehouse import JobOptions, Warehouse
from common.results import history
from common.results.tables import ResultsTables, lead_rows, run_row, run_values, with_schema
from common.results.views import query_view

log = logging.getLogger(__name__)
IGNORE = "ignore_reason"
TREND_RUNS = 30
"""Runs the HTML report's trend chart shows (the latest)."""


def with_history(
    warehouse: Warehouse,
    tables: ResultsTables,
    merged: pl.DataFrame,
    *,
    recipe: str,
    run_id: str,
    started: datetime,
    job: JobOptions | None = None,
) -> pl.DataFrame:
    """`history.HISTORY_COLUMNS` on the merged frame, from the recipe's previous run's rows."""
    previous_id = history.previous_run(
        warehouse, tables, recipe=recipe, run_id=run_id, started=started, job=job
    )
    previous = (
        history.previous_rows(warehouse, tables, recipe=recipe, run_id=previous_id or "", job=job)
        if previous_id
        else history.empty_previous()
    )
    return history.add_history(merged, previous, run_id=run_id)


def load_run(
    warehouse: Warehouse,
    tables: ResultsTables,
    *,
    recipe: str,
    run_id: str,
    started: datetime,
    as_of: datetime | None,
    kept: pl.DataFrame,
    ignored: pl.DataFrame,
    summary: Mapping[str, Any],
    job: JobOptions | None = None,
) -> dict[str, int]:
    """Replace the run's rows in the analysis, ignored and runs tables; rows loaded per table.

    The runs row goes last: `history.previous_run` finds a run by it, so a run
    whose analysis rows are not all loaded is never taken as a previous run.
    """
    run = run_values(run_id, recipe, started, as_of)
    analysis = lead_rows(kept.drop([c for c in (IGNORE,) if c in kept.columns]), run)
    dropped = lead_rows(ignored, run)
    loaded = {}
    for name, table, frame in (
        ("analysis", tables.analysis, analysis),
        ("ignored", tables.ignored, dropped),
        ("runs", tables.runs, run_row(run, summary, analysis, dropped)),
    ):
        described, rows = with_schema(table, frame)
        loaded[name] = warehouse.load_results(described, rows, run_id=run_id, job=job)
    return loaded


def recovery_trend(
    warehouse: Warehouse, tables: ResultsTables, *, recipe: str, job: JobOptions | None = None
) -> list[dict[str, Any]]:
    """The recipe's latest runs' KPIs (`views/recovery_kpis.sql`), oldest first; [] if none."""
    if not (warehouse.has_table(tables.analysis) and warehouse.has_table(tables.ignored)):
        return []
    try:
        # Through polars: pyarrow's to_pylist imports pandas (0.3 s) to convert timestamps.
        rows = pl.from_arrow(  # type: ignore[union-attr]
            query_view(warehouse, "recovery_kpis", tables, recipe=recipe, job=job)
        ).to_dicts()
    except DataError as err:  # the chart is a nicety: the report goes on without it
        log.warning("recovery trend unavailable: %s", err)
        return []
    return rows[-TREND_RUNS:]
