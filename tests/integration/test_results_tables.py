"""Results tables through both warehouse adapters: DuckDB (local) and BigQuery (the double).

The BigQuery adapter runs against `tests.support.fake_bigquery` in executing
mode, so the load jobs' configuration (schema, partitioning, clustering, schema
update options) is read off the wire and the rows are really stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from common.adapters.gcp.bigquery_warehouse import BigQueryWarehouse
from common.adapters.local.duckdb_warehouse import DuckDBWarehouse
from common.calls.report_join import OUTCOME_COLUMNS
from common.ports.warehouse import JobOptions, ResultsTable, Warehouse
from common.results.tables import lead_rows, run_values, with_schema
from tests.support.fake_bigquery import INSERT, UPLOAD, FakeBigQuery, serve

PROJECT = "lr-test"
DATASET = "lr_results"
TABLE = ResultsTable(DATASET, "analysis")
STARTED = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
JOB = JobOptions(labels={"app": "lead-recovery", "recipe": "demo", "step": "report"})


@pytest.fixture(params=["duckdb", "bigquery"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Warehouse, object]]:
    if request.param == "duckdb":
        yield DuckDBWarehouse(tmp_path / "warehouse"), None
        return
    fake = FakeBigQuery(execute=True, data_dir=tmp_path / "bq", project=PROJECT)
    with serve(fake) as url:
        yield (
            BigQueryWarehouse(PROJECT, location="US", api_endpoint=url, retry=None, job_retry=None),
            fake,
        )


def _rows(run_id: str, keys: list[str], *, started: dt.datetime = STARTED, extra: bool = False):
    frame = pl.DataFrame(
        {
            "lead_key": keys,
            "conversation_state": ["stalled_after_bot"] * len(keys),
            "HOURS_SINCE_LAST_MESSAGE": [float(i) for i in range(len(keys))],
            "handoff_finalized": [False] * len(keys),
        }
    )
    if extra:  # a recipe that grew an LLM output column
        frame = frame.with_columns(pl.lit(7, pl.Int64).alias("recovery_score"))
    rows = lead_rows(frame, run_values(run_id, "demo", started, started))
    return with_schema(TABLE, rows)


def _count(warehouse: Warehouse, run_id: str | None = None) -> int:
    sql = f"SELECT COUNT(*) AS n FROM {TABLE.sql_name}"  # noqa: S608
    params = {}
    if run_id:
        sql += " WHERE run_id = @run_id"
        params["run_id"] = run_id
    return int(warehouse.query(sql, params, where="test").column("n")[0].as_py())


def test_reloading_a_run_replaces_its_rows_and_new_runs_add(backend) -> None:
    warehouse, _ = backend
    assert not warehouse.has_table(TABLE)
    table, rows = _rows("run-1", ["a", "b", "c"])
    assert warehouse.load_results(table, rows, run_id="run-1", job=JOB) == 3
    assert warehouse.has_table(TABLE)
    warehouse.load_results(table, rows, run_id="run-1", job=JOB)  # a redelivered report
    assert _count(warehouse) == 3
    table, rows = _rows("run-2", ["a", "b", "c", "d"], started=STARTED + dt.timedelta(days=1))
    warehouse.load_results(table, rows, run_id="run-2", job=JOB)
    assert (_count(warehouse, "run-1"), _count(warehouse, "run-2"), _count(warehouse)) == (3, 4, 7)


def test_a_new_output_column_adds_a_table_column_and_keeps_the_rows(backend) -> None:
    warehouse, _ = backend
    table, rows = _rows("run-1", ["a", "b"])
    warehouse.load_results(table, rows, run_id="run-1", job=JOB)
    table, rows = _rows("run-2", ["a", "b", "c"], extra=True, started=STARTED + dt.timedelta(1))
    warehouse.load_results(table, rows, run_id="run-2", job=JOB)
    found = warehouse.query(
        f"SELECT run_id, recovery_score FROM {TABLE.sql_name} ORDER BY run_id, lead_key",  # noqa: S608
        {},
        where="test",
    ).to_pylist()
    assert [(r["run_id"], r["recovery_score"]) for r in found] == [
        ("run-1", None),
        ("run-1", None),
        ("run-2", 7),
        ("run-2", 7),
        ("run-2", 7),
    ]


def test_bigquery_load_job_schema_partitioning_clustering_and_replace(tmp_path: Path) -> None:
    fake = FakeBigQuery(execute=True, data_dir=tmp_path / "bq", project=PROJECT)
    with serve(fake) as url:
        warehouse = BigQueryWarehouse(
            PROJECT, location="US", api_endpoint=url, retry=None, job_retry=None
        )
        table, rows = _rows("run-1", ["a", "b", "c"])
        warehouse.load_results(table, rows, run_id="run-1", job=JOB)
        warehouse.load_results(table, rows, run_id="run-1", job=JOB)
        table, rows = _rows("run-2", ["a"], extra=True, started=STARTED + dt.timedelta(1))
        warehouse.load_results(table, rows, run_id="run-2", job=JOB)

    loads = [r.body for r in fake.calls(UPLOAD)]
    assert len(loads) == 3
    # Not streaming inserts: Parquet load jobs only.
    assert not [r for r in fake.requests if r.path.endswith("/insertAll")]
    configuration = fake.jobs[next(j for j in fake.jobs if j.startswith("lr_results_"))][
        "configuration"
    ]
    load = configuration["load"]
    assert load["sourceFormat"] == "PARQUET"
    assert load["writeDisposition"] == "WRITE_APPEND"
    assert load["timePartitioning"] == {"type": "DAY", "field": "run_date"}
    assert load["clustering"] == {"fields": ["recipe", "lead_key"]}
    assert load["schemaUpdateOptions"] == ["ALLOW_FIELD_ADDITION"]
    assert configuration["labels"]["step"] == "report"
    declared = {f["name"]: f["type"] for f in load["schema"]["fields"]}
    assert declared == {
        "recipe": "STRING",
        "run_id": "STRING",
        "run_date": "DATE",
        "run_started_at": "TIMESTAMP",
        "as_of": "TIMESTAMP",
        "lead_key": "STRING",
        "conversation_state": "STRING",
        "HOURS_SINCE_LAST_MESSAGE": "FLOAT64",
        "handoff_finalized": "BOOL",
        # Always there (NULL for a recipe without calls), so the KPI views can read them.
        **{
            c: "INT64" if c == "call_attempts" else "STRING"
            for c in ("call_disposition", "call_attempts")
        },
        **{c: "TIMESTAMP" for c in OUTCOME_COLUMNS if c.endswith("_at")},
    }
    # Replace-own-run: the second load of run-1 was preceded by a DELETE of run-1's
    # rows, the run id travelling as a query parameter, never in the SQL text.
    deletes = [
        r.body["configuration"]["query"]
        for r in fake.calls(INSERT)
        if r.body and "DELETE" in r.body["configuration"].get("query", {}).get("query", "")
    ]
    assert len(deletes) == 2  # before run-1's second load and before run-2's
    assert "run-1" not in deletes[0]["query"]
    params = {p["name"]: p["parameterValue"]["value"] for p in deletes[0]["queryParameters"]}
    assert params == {"run_id": "run-1", "run_date": "2026-11-20"}
    stored = fake.tables[(PROJECT, DATASET, "analysis")]
    assert stored.num_rows == 4  # 3 of run-1 (once), 1 of run-2
    resource = stored.resource()
    assert resource["timePartitioning"] == {"type": "DAY", "field": "run_date"}
    assert resource["clustering"] == {"fields": ["recipe", "lead_key"]}
    assert "recovery_score" in {f["name"] for f in resource["schema"]["fields"]}
