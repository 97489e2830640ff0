"""The BigQuery adapter's jobs, staged scan, Storage reads and dry runs, through the real clients.

`tests.support.fake_bigquery` executes what the ``google-cloud-bigquery``
client sends on DuckDB, and `tests.support.fake_bigquery_storage` serves the
Storage Read API over gRPC to the real ``google-cloud-bigquery-storage``
client, so these tests check both what goes over the wire (labels, caps, job
ids, dispositions, row restrictions) and what comes back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.adapters.gcp.bigquery_warehouse import (
    STAGING_EXPIRATION,
    BigQueryWarehouse,
    scan_job_id,
    staging_name,
)
from common.errors import DataError, TransientError
from common.ports.warehouse import SHARD_COLUMN, JobOptions
from tests.support.fake_bigquery import (
    DELETE_TABLE,
    INSERT,
    UPLOAD,
    UPLOAD_CHUNK,
    FakeBigQuery,
    billed_bytes,
    serve,
)
from tests.support.fake_bigquery_storage import (
    CREATE_READ_SESSION,
    READ_ROWS,
    FakeBigQueryStorage,
    serve_storage,
)

PROJECT = "lr-test"
DATASET = "lr_staging"
WHERE = "recipes/demo/conversations.sql"
AS_OF = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
JOB = JobOptions(
    labels={"app": "lead-recovery", "recipe": "demo", "run_id": "run-1", "step": "fetch_leads"},
    maximum_bytes_billed=50 * 1024 * 1024,
)
CONVERSATIONS_SQL = """
SELECT lead_key, body, sent_at
FROM `chat.messages`
WHERE lead_key IN UNNEST(@lead_keys)
  AND sent_at <= @as_of
ORDER BY lead_key, sent_at
"""
N_LEADS = 30
SHARDS = 4


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """``chat.messages``: 3 messages for each of 30 leads, one of them after ``AS_OF``."""
    keys, bodies, sent = [], [], []
    for lead in range(N_LEADS):
        for i, hours in enumerate((-1, 2, 5)):  # -1: after AS_OF, never read
            keys.append(f"L{lead:02d}")
            bodies.append(f"lead {lead} message {i}")
            sent.append(AS_OF - dt.timedelta(hours=hours))
    (tmp_path / "chat").mkdir()
    pq.write_table(
        pa.table(
            {
                "lead_key": keys,
                "body": bodies,
                "sent_at": pa.array(sent, pa.timestamp("us", "UTC")),
            }
        ),
        tmp_path / "chat" / "messages.parquet",
    )
    return tmp_path


@pytest.fixture
def fake(data_dir: Path) -> FakeBigQuery:
    return FakeBigQuery(execute=True, data_dir=data_dir, project=PROJECT)


@pytest.fixture
def storage(fake: FakeBigQuery) -> FakeBigQueryStorage:
    return FakeBigQueryStorage(fake, streams=2)


@pytest.fixture
def warehouse(fake: FakeBigQuery, storage: FakeBigQueryStorage) -> Iterator[BigQueryWarehouse]:
    with serve(fake) as url, serve_storage(storage) as endpoint:
        yield BigQueryWarehouse(
            PROJECT,
            location="US",
            staging_dataset=DATASET,
            api_endpoint=url,
            storage_endpoint=endpoint,
            retry=None,
            job_retry=None,
        )


def _leads(n: int = N_LEADS, shards: int = SHARDS) -> pa.Table:
    # Lead 29 has no messages in the table? It does: every lead has; shard 3 gets
    # leads 3, 7, ...; an extra lead without messages checks the join drops nothing else.
    keys = [f"L{i:02d}" for i in range(n)] + ["nobody"]
    return pa.table({"lead_key": keys, "shard": [i % shards for i in range(n)] + [0]})


def _expected(shard: int) -> list[tuple[str, str]]:
    return sorted(
        (f"L{lead:02d}", f"lead {lead} message {i}")
        for lead in range(N_LEADS)
        if lead % SHARDS == shard
        for i in (1, 2)
    )


def _stage(warehouse: BigQueryWarehouse, run_id: str = "demo-2026-11-20T18-00-ab12") -> object:
    return warehouse.stage_scan(
        CONVERSATIONS_SQL,
        {"as_of": AS_OF, "recipe": "demo"},
        leads=_leads(),
        run_id=run_id,
        where=WHERE,
        job=JOB,
    )


# ---- query: labels and the cap on every job ------------------------------------------------
def test_query_carries_labels_and_the_bytes_cap(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    table = warehouse.query(
        "SELECT lead_key, COUNT(*) AS n FROM `chat.messages` WHERE sent_at <= @as_of "
        "GROUP BY lead_key ORDER BY lead_key",
        {"as_of": AS_OF},
        where=WHERE,
        job=JOB,
    )
    assert table.num_rows == N_LEADS and set(table.column("n").to_pylist()) == {2}
    [insert] = fake.calls(INSERT)
    config = insert.body["configuration"]  # type: ignore[index]
    assert config["labels"] == dict(JOB.labels)
    assert config["query"]["maximumBytesBilled"] == str(JOB.maximum_bytes_billed)


def test_no_cap_sends_no_maximum_bytes_billed(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    uncapped = JobOptions(labels=JOB.labels, maximum_bytes_billed=None)
    table = warehouse.query(
        "SELECT COUNT(*) AS n FROM `chat.messages`", {}, where=WHERE, job=uncapped
    )
    assert table.column("n").to_pylist() == [N_LEADS * 3]
    [insert] = fake.calls(INSERT)
    assert "maximumBytesBilled" not in insert.body["configuration"]["query"]  # type: ignore[index]
    assert insert.body["configuration"]["labels"] == dict(JOB.labels)  # type: ignore[index]


def test_query_over_the_cap_fails_naming_the_cap_and_how_to_raise_it(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    job = JobOptions(labels=JOB.labels, maximum_bytes_billed=1000)
    with pytest.raises(DataError) as info:
        warehouse.query("SELECT * FROM `chat.messages`", {}, where=WHERE, job=job)
    message = str(info.value)
    assert not isinstance(info.value, TransientError)  # a 500-coded reason, but never retried
    assert WHERE in message and "1000" in message
    assert "maximum_bytes_billed" in message and "LR_BIGQUERY_MAXIMUM_BYTES_BILLED" in message
    assert fake.query_jobs()[0]["status"]["errorResult"]["reason"] == "bytesBilledLimitExceeded"


# ---- stage_scan: one load, one query job ------------------------------------------------------
def test_stage_scan_loads_the_leads_and_runs_one_labelled_capped_scan_job(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    run_id = "demo-2026-11-20T18-00-ab12"
    staged = _stage(warehouse, run_id)

    assert staged.rows == N_LEADS * 2  # type: ignore[attr-defined]
    assert staged.columns == ["lead_key", "body", "sent_at"]  # type: ignore[attr-defined]
    messages_bytes = (fake.data_dir / "chat/messages.parquet").stat().st_size  # type: ignore[operator]
    assert staged.bytes_processed >= messages_bytes  # type: ignore[attr-defined]
    assert staged.bytes_billed == billed_bytes(staged.bytes_processed)  # type: ignore[attr-defined]

    [load] = fake.calls(UPLOAD)
    assert load.query["uploadType"] == ["multipart"]
    load_job = next(j for j in fake.jobs.values() if "load" in j["configuration"])
    load_config = load_job["configuration"]["load"]
    assert load_config["writeDisposition"] == "WRITE_TRUNCATE"
    assert load_config["sourceFormat"] == "PARQUET"
    assert load_job["configuration"]["labels"] == dict(JOB.labels)
    leads_table = load_config["destinationTable"]
    assert leads_table == {
        "projectId": PROJECT,
        "datasetId": DATASET,
        "tableId": f"{staging_name(run_id)}_leads",
    }

    [scan] = fake.query_jobs()
    assert scan["jobReference"]["jobId"] == scan_job_id(run_id, 0)
    config = scan["configuration"]
    assert config["labels"] == dict(JOB.labels)
    query = config["query"]
    assert query["maximumBytesBilled"] == str(JOB.maximum_bytes_billed)
    assert query["writeDisposition"] == "WRITE_TRUNCATE"
    assert query["clustering"] == {"fields": [SHARD_COLUMN]}
    assert query["destinationTable"]["tableId"] == f"{staging_name(run_id)}_conversations"
    # The recipe's values travel as parameters; the leads come from the loaded table.
    assert {p["name"] for p in query["queryParameters"]} == {"as_of"}
    assert f"`{PROJECT}`.`{DATASET}`.`{staging_name(run_id)}_leads`" in query["query"]

    # Both staged tables expire on their own, about STAGING_EXPIRATION from now.
    now_ms = dt.datetime.now(dt.UTC).timestamp() * 1000
    for part in ("leads", "conversations"):
        stored = fake.tables[(PROJECT, DATASET, f"{staging_name(run_id)}_{part}")]
        assert stored.expiration_ms is not None
        left = (stored.expiration_ms - now_ms) / 1000
        assert STAGING_EXPIRATION.total_seconds() - 60 < left <= STAGING_EXPIRATION.total_seconds()


def test_read_staged_reads_each_shard_with_a_row_restriction_over_every_stream(
    storage: FakeBigQueryStorage, warehouse: BigQueryWarehouse
) -> None:
    _stage(warehouse)
    run_id = "demo-2026-11-20T18-00-ab12"
    for shard in range(SHARDS):
        table = warehouse.read_staged(run_id, shard, where=WHERE)
        assert table.column_names == ["lead_key", "body", "sent_at"]  # no _shard
        assert table.schema.field("sent_at").type == pa.timestamp("us", tz="UTC")
        rows = sorted(
            zip(table.column("lead_key").to_pylist(), table.column("body").to_pylist(), strict=True)
        )
        assert rows == _expected(shard)

    sessions = storage.calls(CREATE_READ_SESSION)
    assert [s.read_session.read_options.row_restriction for s in sessions] == [
        f"{SHARD_COLUMN} = {i}" for i in range(SHARDS)
    ]
    assert {s.read_session.data_format for s in sessions} == {2}  # ARROW
    assert sessions[0].read_session.table == (
        f"projects/{PROJECT}/datasets/{DATASET}/tables/{staging_name(run_id)}_conversations"
    )
    assert len(storage.calls(READ_ROWS)) == 2 * SHARDS  # both streams of every session


def test_read_staged_of_a_shard_without_rows_is_empty_with_the_staged_columns(
    warehouse: BigQueryWarehouse,
) -> None:
    _stage(warehouse)
    table = warehouse.read_staged("demo-2026-11-20T18-00-ab12", SHARDS + 3, where=WHERE)
    assert table.num_rows == 0
    assert table.column_names == ["lead_key", "body", "sent_at"]
    assert table.schema.field("sent_at").type == pa.timestamp("us", tz="UTC")


def test_a_redelivered_stage_scan_waits_for_the_same_job_instead_of_scanning_again(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    first = _stage(warehouse)
    second = _stage(warehouse)

    assert second == first
    [scan] = fake.query_jobs()  # one scan job ran, one scan is billed
    inserts = [
        c
        for c in fake.calls(INSERT)
        if c.body["jobReference"]["jobId"] == scan["jobReference"]["jobId"]
    ]  # type: ignore[index]
    assert len(inserts) == 2  # the second answered 409 and the adapter fetched the job


def test_a_scan_job_that_failed_for_a_passing_reason_is_followed_by_the_next_job_id(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    run_id = "demo-2026-11-20T18-00-ab12"
    fake.job_error = {"reason": "backendError", "message": "try again"}
    with pytest.raises(TransientError):
        _stage(warehouse, run_id)
    fake.job_error = None

    staged = _stage(warehouse, run_id)  # the redelivery
    assert staged.rows == N_LEADS * 2  # type: ignore[attr-defined]
    ids = [j["jobReference"]["jobId"] for j in fake.query_jobs()]
    assert ids == [scan_job_id(run_id, 0), scan_job_id(run_id, 1)]


def test_a_scan_over_the_cap_fails_for_good_naming_the_cap(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    job = JobOptions(labels=JOB.labels, maximum_bytes_billed=4096)
    with pytest.raises(DataError) as info:
        warehouse.stage_scan(
            CONVERSATIONS_SQL,
            {"as_of": AS_OF},
            leads=_leads(),
            run_id="r1",
            where=WHERE,
            job=job,
        )
    assert not isinstance(info.value, TransientError)
    assert "4096" in str(info.value) and "maximum_bytes_billed" in str(info.value)
    assert "conversations scan" in str(info.value)


def test_large_leads_go_through_a_resumable_upload(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import google.cloud.bigquery.client as bq_client

    monkeypatch.setattr(bq_client, "_MAX_MULTIPART_SIZE", 1)
    staged = _stage(warehouse)
    assert staged.rows == N_LEADS * 2  # type: ignore[attr-defined]
    assert [c.query["uploadType"] for c in fake.calls(UPLOAD)] == [["resumable"]]
    assert fake.calls(UPLOAD_CHUNK)


# ---- drop_staged, read after drop ---------------------------------------------------------
def test_drop_staged_deletes_both_tables_and_is_idempotent(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    run_id = "demo-2026-11-20T18-00-ab12"
    _stage(warehouse, run_id)
    warehouse.drop_staged(run_id)
    warehouse.drop_staged(run_id)  # a redelivered report

    assert not [k for k in fake.tables if k[1] == DATASET]
    deleted = {c.path.rsplit("/", 1)[1] for c in fake.calls(DELETE_TABLE)}
    assert deleted == {f"{staging_name(run_id)}_leads", f"{staging_name(run_id)}_conversations"}
    with pytest.raises(DataError) as info:
        warehouse.read_staged(run_id, 0, where=WHERE)
    assert "no staged conversations" in str(info.value)


def test_storage_outage_is_transient(
    storage: FakeBigQueryStorage, warehouse: BigQueryWarehouse
) -> None:
    _stage(warehouse)
    storage.fail(CREATE_READ_SESSION, grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(TransientError):
        warehouse.read_staged("demo-2026-11-20T18-00-ab12", 0, where=WHERE)


# ---- estimate: a dry run ---------------------------------------------------------------
def test_estimate_is_a_dry_run_answering_the_bytes_it_would_read(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    estimate = warehouse.estimate(
        CONVERSATIONS_SQL,
        {"lead_keys": ["L01", "L02"], "as_of": AS_OF},
        where=WHERE,
        job=JOB,
    )
    assert estimate.bytes == (fake.data_dir / "chat/messages.parquet").stat().st_size  # type: ignore[operator]
    assert estimate.rows is None
    [insert] = fake.calls(INSERT)
    config = insert.body["configuration"]  # type: ignore[index]
    assert config["dryRun"] is True and config["query"]["useQueryCache"] is False
    assert config["labels"] == dict(JOB.labels)
    assert not fake.query_jobs()  # nothing ran


def test_estimate_sends_a_bounded_sample_of_a_long_key_list(
    fake: FakeBigQuery, warehouse: BigQueryWarehouse
) -> None:
    keys = [f"L{i:06d}" for i in range(100_000)]  # ~2 MB of JSON: near the request limit
    estimate = warehouse.estimate(
        CONVERSATIONS_SQL, {"lead_keys": keys, "as_of": AS_OF}, where=WHERE, job=JOB
    )
    assert estimate.bytes == (fake.data_dir / "chat/messages.parquet").stat().st_size  # type: ignore[operator]
    [insert] = fake.calls(INSERT)
    [param] = [
        p
        for p in insert.body["configuration"]["query"]["queryParameters"]  # type: ignore[index]
        if p["name"] == "lead_keys"
    ]
    assert len(param["parameterValue"]["arrayValues"]) == 1_000


def test_estimate_of_invalid_sql_is_a_data_error(warehouse: BigQueryWarehouse) -> None:
    with pytest.raises(DataError) as info:
        warehouse.estimate("SELECT * FROM `chat.nope`", {}, where=WHERE)
    assert WHERE in str(info.value)


# ---- names ----------------------------------------------------------------------------
@pytest.mark.parametrize("run_id", ["demo-2026-11-20T18-00-ab12", "a.b/c d", "ü" * 400])
def test_staging_names_are_valid_table_and_job_ids(run_id: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_]{1,1000}", staging_name(run_id) + "_conversations")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,1024}", scan_job_id(run_id, 7))


def test_run_ids_that_sanitise_alike_get_different_tables() -> None:
    assert staging_name("a-b") != staging_name("a_b") != staging_name("a.b")
