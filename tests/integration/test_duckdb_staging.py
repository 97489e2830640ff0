"""The local warehouse's one scan per run: staged by shard, read per shard, estimated, dropped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.adapters.local.duckdb_warehouse import DuckDBWarehouse
from common.errors import DataError

AS_OF = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
WHERE = "recipes/x/conversations.sql"
SQL = """
SELECT message_id, lead_key, sent_at, text
FROM chat.messages
WHERE lead_key IN UNNEST(@lead_keys) AND sent_at <= @as_of
ORDER BY lead_key, sent_at
"""


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    keys = ["a", "a", "b", "c", "c", "c", "zz", "b"]
    hours = [1, 2, 3, 1, 2, 3, 1, -5]  # the last one is after as_of
    (tmp_path / "wh/chat").mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "message_id": [f"m{i}" for i in range(len(keys))],
                "lead_key": keys,
                "sent_at": pa.array(
                    [AS_OF - dt.timedelta(hours=h) for h in hours], pa.timestamp("us", "UTC")
                ),
                "text": [f"text {i}" for i in range(len(keys))],
            }
        ),
        tmp_path / "wh/chat/messages.parquet",
    )
    return DuckDBWarehouse(tmp_path / "wh", staging_dir=tmp_path / "staging")


LEADS = pa.table({"lead_key": ["a", "b", "c", "d"], "shard": pa.array([0, 0, 1, 2], pa.int64())})


def test_one_scan_is_split_by_the_shard_of_each_lead(warehouse: DuckDBWarehouse) -> None:
    staged = warehouse.stage_scan(
        SQL, {"as_of": AS_OF, "recipe": "x"}, leads=LEADS, run_id="run-1", where=WHERE
    )

    assert staged.rows == 6  # zz is no lead of the run; one of b's is after as_of
    assert staged.columns == ["message_id", "lead_key", "sent_at", "text"]
    shard0 = warehouse.read_staged("run-1", 0, where=WHERE)
    assert sorted(shard0.column("lead_key").to_pylist()) == ["a", "a", "b"]
    assert shard0.column_names == staged.columns
    assert shard0.schema.field("sent_at").type == pa.timestamp("us", "UTC")
    assert (
        warehouse.read_staged("run-1", 1, where=WHERE).column("lead_key").to_pylist() == ["c"] * 3
    )
    # A shard whose leads have no message: no rows, the same columns.
    empty = warehouse.read_staged("run-1", 2, where=WHERE)
    assert empty.num_rows == 0 and empty.column_names == staged.columns


def test_staging_again_replaces_the_run_and_drop_removes_it(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    params = {"as_of": AS_OF, "recipe": "x"}
    warehouse.stage_scan(SQL, params, leads=LEADS, run_id="run-2", where=WHERE)
    moved = pa.table({"lead_key": ["a", "c"], "shard": pa.array([1, 1], pa.int64())})
    staged = warehouse.stage_scan(SQL, params, leads=moved, run_id="run-2", where=WHERE)

    assert staged.rows == 5
    assert warehouse.read_staged("run-2", 0, where=WHERE).num_rows == 0
    assert warehouse.read_staged("run-2", 1, where=WHERE).num_rows == 5
    assert [p.name for p in (tmp_path / "staging").iterdir()] == ["run-2"]  # no temp folders

    warehouse.drop_staged("run-2")
    warehouse.drop_staged("run-2")  # idempotent
    with pytest.raises(DataError, match="no staged conversations"):
        warehouse.read_staged("run-2", 0, where=WHERE)


def test_scan_values_stay_parameters(warehouse: DuckDBWarehouse) -> None:
    hostile = pa.table(
        {"lead_key": ["a'; DROP TABLE chat.messages; --"], "shard": pa.array([0], pa.int64())}
    )
    staged = warehouse.stage_scan(
        SQL, {"as_of": AS_OF, "recipe": "x"}, leads=hostile, run_id="run-3", where=WHERE
    )
    assert staged.rows == 0
    assert warehouse.query("SELECT count(*) AS n FROM chat.messages", {}, where=WHERE)[
        "n"
    ].to_pylist() == [8]


def test_estimate_counts_the_rows_the_scan_would_read(warehouse: DuckDBWarehouse) -> None:
    params = {"as_of": AS_OF, "recipe": "x"}
    assert warehouse.estimate(SQL, {**params, "lead_keys": ["a", "c"]}, where=WHERE).rows == 5
    assert warehouse.estimate("SELECT * FROM chat.messages", {}, where=WHERE).rows == 8


def test_a_scan_that_fails_names_the_sql_and_leaves_nothing(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    bad = SQL.replace("chat.messages", "chat.nope")
    with pytest.raises(DataError, match="conversations scan failed") as err:
        warehouse.stage_scan(bad, {"as_of": AS_OF}, leads=LEADS, run_id="run-4", where=WHERE)
    assert err.value.where == WHERE
    assert not (tmp_path / "staging").exists() or not any((tmp_path / "staging").iterdir())
