"""Warehouse: recipe SQL (BigQuery dialect) on DuckDB, and the BigQuery adapter's requests.

There is no BigQuery emulator. The SQL itself runs on DuckDB; the BigQuery
adapter is checked twice: `build_job_config` directly, and the real
``google-cloud-bigquery`` client end to end against `tests.support.fake_bigquery`.
Values must always travel as query parameters: the injection cases prove
they stay data on DuckDB and reach BigQuery verbatim as parameter values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core.retry import Retry

from common.adapters.gcp.bigquery_warehouse import BigQueryWarehouse, build_job_config
from common.adapters.local.duckdb_warehouse import DuckDBWarehouse
from common.errors import DataError, TransientError
from tests.support.fake_bigquery import INSERT, QUERY_RESULTS, FakeBigQuery, serve

WHERE = "recipes/demo/conversations.sql"
AS_OF = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)

INJECTIONS = [
    "x' OR '1'='1",
    "'); DROP TABLE chat.messages; --",
    "contains @lead_keys and @as_of",
]

CONVERSATIONS_SQL = """
SELECT lead_key, body, sent_at
FROM `chat.messages`
WHERE lead_key IN UNNEST(@lead_keys)
  AND sent_at >= TIMESTAMP_SUB(@as_of, INTERVAL 48 HOUR)
ORDER BY lead_key, sent_at
"""


# ---- DuckDB ---------------------------------------------------------------------------
@pytest.fixture
def duck(tmp_path: Path) -> DuckDBWarehouse:
    keys = ["L1", "L1", "L2", "L3", "L3", *INJECTIONS]
    hours_ago = [1, 50, 2, 3, 47, 1, 1, 1]  # 50 h is outside the 48 h window
    (tmp_path / "chat").mkdir()
    pq.write_table(
        pa.table(
            {
                "lead_key": keys,
                "body": [f"msg {i}" for i in range(len(keys))],
                "sent_at": pa.array(
                    [AS_OF - dt.timedelta(hours=h) for h in hours_ago], pa.timestamp("us", "UTC")
                ),
            }
        ),
        tmp_path / "chat" / "messages.parquet",
    )
    return DuckDBWarehouse(tmp_path)


def _keys(table: pa.Table) -> list[str]:
    return table.column("lead_key").to_pylist()


def test_duckdb_runs_bigquery_sql_with_array_and_timestamp_parameters(
    duck: DuckDBWarehouse,
) -> None:
    table = duck.query(CONVERSATIONS_SQL, {"lead_keys": ["L1", "L3"], "as_of": AS_OF}, where=WHERE)
    assert _keys(table) == ["L1", "L3", "L3"]
    assert table.column("body").to_pylist() == ["msg 0", "msg 4", "msg 3"]
    assert table.schema.field("sent_at").type == pa.timestamp("us", tz="UTC")
    assert table.column("sent_at")[0].as_py() == AS_OF - dt.timedelta(hours=1)


@pytest.mark.parametrize("value", INJECTIONS)
def test_duckdb_injection_strings_match_exactly_themselves(
    duck: DuckDBWarehouse, value: str
) -> None:
    table = duck.query(CONVERSATIONS_SQL, {"lead_keys": [value], "as_of": AS_OF}, where=WHERE)
    assert _keys(table) == [value]
    scalar = duck.query(
        "SELECT lead_key FROM `chat.messages` WHERE lead_key = @key", {"key": value}, where=WHERE
    )
    assert _keys(scalar) == [value]


@pytest.mark.parametrize(
    "value", ["nobody' OR '1'='1", "'); DROP TABLE chat.messages; --x", "@lead_keys"]
)
def test_duckdb_injection_strings_match_nothing_else(duck: DuckDBWarehouse, value: str) -> None:
    assert (
        duck.query(CONVERSATIONS_SQL, {"lead_keys": [value], "as_of": AS_OF}, where=WHERE).num_rows
        == 0
    )
    count = duck.query("SELECT COUNT(*) AS n FROM `chat.messages`", {}, where=WHERE)
    assert count.column("n").to_pylist() == [8]  # the table is still there, whole


def test_duckdb_empty_list_matches_nothing(duck: DuckDBWarehouse) -> None:
    table = duck.query(CONVERSATIONS_SQL, {"lead_keys": [], "as_of": AS_OF}, where=WHERE)
    assert table.num_rows == 0
    assert table.column_names == ["lead_key", "body", "sent_at"]


def test_duckdb_ignores_unused_parameters(duck: DuckDBWarehouse) -> None:
    params = {"lead_keys": ["L2"], "as_of": AS_OF, "unused": None}
    assert _keys(duck.query(CONVERSATIONS_SQL, params, where=WHERE)) == ["L2"]


def test_duckdb_missing_parameter_names_the_file(duck: DuckDBWarehouse) -> None:
    with pytest.raises(DataError) as info:
        duck.query(CONVERSATIONS_SQL, {"lead_keys": ["L1"]}, where=WHERE)
    assert WHERE in str(info.value) and "@as_of" in str(info.value)


def test_duckdb_unknown_table_is_a_data_error(duck: DuckDBWarehouse) -> None:
    with pytest.raises(DataError) as info:
        duck.query("SELECT * FROM `chat.nope`", {}, where=WHERE)
    assert WHERE in str(info.value)


# ---- BigQuery: request building ---------------------------------------------------------
def _api(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        p["name"]: p for p in (q.to_api_repr() for q in build_job_config(params).query_parameters)
    }


@pytest.mark.parametrize(
    ("value", "bq_type"),
    [
        ("text", "STRING"),
        (True, "BOOL"),  # a bool is an int in Python: must not become INT64
        (False, "BOOL"),
        (7, "INT64"),
        (2.5, "FLOAT64"),
        (Decimal("12.345"), "NUMERIC"),
        (AS_OF, "TIMESTAMP"),
        (dt.datetime(2026, 11, 20, 18, 0), "DATETIME"),  # naive: wall-clock time
        (dt.date(2026, 11, 20), "DATE"),
        (b"\x00\x01", "BYTES"),
    ],
)
def test_scalar_parameter_types(value: Any, bq_type: str) -> None:
    param = _api({"p": value})["p"]
    assert param["parameterType"] == {"type": bq_type}


@pytest.mark.parametrize(
    ("value", "element_type"),
    [
        (["a", "b"], "STRING"),
        (("a",), "STRING"),
        ([1, 2], "INT64"),
        ([True, False], "BOOL"),
        ([1.5], "FLOAT64"),
        ([AS_OF], "TIMESTAMP"),
        ([dt.date(2026, 1, 1)], "DATE"),
        ([], "STRING"),  # BigQuery needs an element type even for an empty array
    ],
)
def test_array_parameter_types(value: Any, element_type: str) -> None:
    param = _api({"p": value})["p"]
    assert param["parameterType"] == {"type": "ARRAY", "arrayType": {"type": element_type}}
    assert len(param["parameterValue"]["arrayValues"]) == len(value)


def test_parameter_values_on_the_wire() -> None:
    api = _api({"n": 7, "ok": True, "as_of": AS_OF, "keys": ["L1", "L2"]})
    assert api["n"]["parameterValue"] == {"value": "7"}
    assert api["ok"]["parameterValue"] == {"value": "true"}
    assert api["as_of"]["parameterValue"] == {"value": "2026-11-20 18:00:00+00:00"}
    assert api["keys"]["parameterValue"] == {"arrayValues": [{"value": "L1"}, {"value": "L2"}]}
    # A non-UTC offset is converted to the same instant in UTC.
    plus2 = AS_OF.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert _api({"t": plus2})["t"]["parameterValue"] == {"value": "2026-11-20 18:00:00+00:00"}


def test_injection_strings_are_parameter_values_verbatim() -> None:
    api = _api({"key": INJECTIONS[0], "keys": INJECTIONS})
    assert api["key"]["parameterValue"] == {"value": INJECTIONS[0]}
    assert [v["value"] for v in api["keys"]["parameterValue"]["arrayValues"]] == INJECTIONS


@pytest.mark.parametrize(
    "value", [None, {"a": 1}, [1, "a"], [1, 2.0], [["nested"]], [None], object()]
)
def test_values_without_a_bigquery_type_are_refused(value: Any) -> None:
    with pytest.raises(DataError) as info:
        build_job_config({"p": value})
    assert "@p" in str(info.value)


# ---- BigQuery: the real client against the fake REST server ---------------------------------
SCHEMA = [
    {"name": "lead_key", "type": "STRING", "mode": "NULLABLE"},
    {"name": "messages", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "score", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "handed_off", "type": "BOOLEAN", "mode": "NULLABLE"},
    {"name": "last_message_at", "type": "TIMESTAMP", "mode": "NULLABLE"},
]
ROWS = [
    (
        f"L{i}" if i != 4 else INJECTIONS[0],
        i * 3,
        i / 4,
        i % 2 == 0,
        AS_OF - dt.timedelta(minutes=i, microseconds=i),
    )
    for i in range(7)
] + [(None, None, None, None, None)]


@pytest.fixture
def fake() -> FakeBigQuery:
    return FakeBigQuery(schema=SCHEMA, rows=list(ROWS))


@pytest.fixture
def bq_url(fake: FakeBigQuery) -> Iterator[str]:
    with serve(fake) as url:
        yield url


def _warehouse(url: str, *, retry: Retry | None = None, page_size: int = 3) -> BigQueryWarehouse:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project="lr-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": url},
    )
    # retry=None / job_retry=None: fail at the first error, so these tests are fast.
    return BigQueryWarehouse(
        "lr-test", location="US", page_size=page_size, client=client, retry=retry, job_retry=None
    )


def test_bigquery_query_pages_into_one_arrow_table(fake: FakeBigQuery, bq_url: str) -> None:
    params = {"lead_keys": ["L1", *INJECTIONS], "as_of": AS_OF, "unused": 1}
    table = _warehouse(bq_url).query(CONVERSATIONS_SQL, params, where=WHERE)

    assert table.num_rows == len(ROWS)
    assert table.to_pylist() == [
        dict(zip([f["name"] for f in SCHEMA], r, strict=True)) for r in ROWS
    ]
    assert table.schema == pa.schema(
        [
            ("lead_key", pa.string()),
            ("messages", pa.int64()),
            ("score", pa.float64()),
            ("handed_off", pa.bool_()),
            ("last_message_at", pa.timestamp("us", tz="UTC")),
        ]
    )

    [insert] = fake.calls(INSERT)
    query = insert.body["configuration"]["query"]  # type: ignore[index]
    assert query["query"] == CONVERSATIONS_SQL  # sent as written: no value formatted in
    assert query["useLegacySql"] is False and query["parameterMode"] == "NAMED"
    sent = {p["name"]: p for p in query["queryParameters"]}
    assert set(sent) == {"lead_keys", "as_of"}  # only the parameters the SQL uses
    assert sent == _api({"lead_keys": ["L1", *INJECTIONS], "as_of": AS_OF})
    assert insert.body["jobReference"]["location"] == "US"  # type: ignore[index]

    pages = fake.calls(QUERY_RESULTS)
    assert [p.query.get("pageToken", [None])[0] for p in pages] == [None, "3", "6"]
    assert {p.query["maxResults"][0] for p in pages} == {"3"}


def test_bigquery_empty_result_is_an_empty_table(fake: FakeBigQuery, bq_url: str) -> None:
    fake.rows = []
    table = _warehouse(bq_url).query("SELECT 1 AS x FROM `a.b` WHERE FALSE", {}, where=WHERE)
    assert table.num_rows == 0


@pytest.mark.parametrize(
    ("route", "status", "reason"),
    [
        (INSERT, 400, "invalidQuery"),
        (INSERT, 404, "notFound"),
        (INSERT, 403, "accessDenied"),
        (QUERY_RESULTS, 400, "invalidQuery"),
    ],
)
def test_bigquery_rejections_are_data_errors(
    fake: FakeBigQuery, bq_url: str, route: str, status: int, reason: str
) -> None:
    fake.fail(route, status, reason)
    with pytest.raises(DataError) as info:
        _warehouse(bq_url).query("SELECT * FROM `a.b`", {}, where=WHERE)
    assert WHERE in str(info.value)
    assert not isinstance(info.value, TransientError)


def test_bigquery_failed_job_is_a_data_error(fake: FakeBigQuery, bq_url: str) -> None:
    fake.job_error = {"reason": "invalidQuery", "message": "Unrecognized name: lead_kye"}
    with pytest.raises(DataError) as info:
        _warehouse(bq_url).query("SELECT lead_kye FROM `a.b`", {}, where=WHERE)
    assert WHERE in str(info.value) and "lead_kye" in str(info.value)


@pytest.mark.parametrize(
    ("route", "status", "reason"),
    [
        (INSERT, 503, "backendError"),
        (INSERT, 429, "rateLimitExceeded"),
        (INSERT, 403, "rateLimitExceeded"),  # BigQuery throttles with a 403
        (QUERY_RESULTS, 500, "internalError"),
    ],
)
def test_bigquery_throttling_and_outages_are_transient(
    fake: FakeBigQuery, bq_url: str, route: str, status: int, reason: str
) -> None:
    fake.fail(route, status, reason)
    with pytest.raises(TransientError) as info:
        _warehouse(bq_url).query("SELECT * FROM `a.b`", {}, where=WHERE)
    assert WHERE in str(info.value)


def test_bigquery_unreachable_is_transient() -> None:
    with serve(FakeBigQuery()) as url:
        pass  # stopped: nothing listens there any more
    with pytest.raises(TransientError):
        _warehouse(url).query("SELECT 1", {}, where=WHERE)


def test_bigquery_adapter_retries_a_passing_outage(fake: FakeBigQuery, bq_url: str) -> None:
    from google.cloud.bigquery.retry import DEFAULT_RETRY

    fake.fail(INSERT, 503, "backendError", times=2)
    quick = DEFAULT_RETRY.with_delay(initial=0.01, maximum=0.05).with_timeout(10)
    table = _warehouse(bq_url, retry=quick).query("SELECT * FROM `a.b`", {}, where=WHERE)
    assert table.num_rows == len(ROWS)
    assert len(fake.calls(INSERT)) == 3
