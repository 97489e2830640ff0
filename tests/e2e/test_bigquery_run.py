"""The demo recipe on the BigQuery warehouse (the project's test double), other backends local.

`tests.support.fake_bigquery` executes what the real ``google-cloud-bigquery``
client sends (on DuckDB, over the sample data's Parquet) and
`tests.support.fake_bigquery_storage` serves the Storage Read API to the real
``google-cloud-bigquery-storage`` client, so a whole run goes through the
BigQuery adapter as it would on Google Cloud: a run of 20 shards must issue
exactly one conversations query job, labelled and capped, and read each shard
with its own row restriction; ``run --dry-run`` prints the bytes of BigQuery
dry runs and the shard count.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from common.cli import main
from common.steps.jobs import label_value
from tests.e2e.conftest import AS_OF
from tests.support.fake_bigquery import INSERT, FakeBigQuery, serve
from tests.support.fake_bigquery_storage import (
    CREATE_READ_SESSION,
    FakeBigQueryStorage,
    serve_storage,
)

PROJECT = "lr-bq-e2e"
STAGING = "lr_staging_e2e"
SHARDS = 20
CAP = 1_000_000_000  # bytes; above the double's 10 MiB minimum bill per query


def _window(sample_dir: Path) -> pl.DataFrame:
    leads = pl.read_parquet(sample_dir / "demo/leads.parquet")
    return leads.filter(
        (pl.col("lead_created_at") >= pl.lit(AS_OF).dt.offset_by("-30d"))
        & (pl.col("lead_created_at") <= pl.lit(AS_OF))
    )


def _shard_size(leads: int, shards: int) -> int:
    sizes = [s for s in range(1, leads + 1) if math.ceil(leads / s) == shards]
    assert sizes, f"{leads} leads cannot make exactly {shards} shards"
    return sizes[0]


@pytest.fixture
def bigquery(
    local_env: Path, sample_dir: Path, recipes_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeBigQuery, FakeBigQueryStorage]]:
    """The local backends with the BigQuery warehouse aimed at the double; demo in 20 shards."""
    meta_path = recipes_dir / "demo/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["shard_size"] = _shard_size(_window(sample_dir).height, SHARDS)
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))

    fake = FakeBigQuery(execute=True, data_dir=sample_dir, project=PROJECT)
    storage = FakeBigQueryStorage(fake, streams=2)
    with serve(fake) as url, serve_storage(storage) as endpoint:
        monkeypatch.setenv("LR_WAREHOUSE", "bigquery")
        monkeypatch.setenv("LR_PROJECT", PROJECT)
        monkeypatch.setenv("LR_BIGQUERY_API_ENDPOINT", url)
        monkeypatch.setenv("LR_BIGQUERY_STORAGE_ENDPOINT", endpoint)
        monkeypatch.setenv("LR_BIGQUERY_STAGING_DATASET", STAGING)
        monkeypatch.setenv("LR_BIGQUERY_MAXIMUM_BYTES_BILLED", str(CAP))
        yield fake, storage


def _step(job: dict) -> str:
    return job["configuration"].get("labels", {}).get("step", "")


def test_a_run_of_20_shards_issues_one_labelled_capped_conversations_query(
    bigquery: tuple[FakeBigQuery, FakeBigQueryStorage], local_env: Path, sample_dir: Path
) -> None:
    fake, storage = bigquery
    run_id = "demo-bq-e2e-20-shards"
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--recipe",
            "demo",
            "--as-of",
            AS_OF.isoformat(),
            "--run-id",
            run_id,
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"in {SHARDS} shard(s)" in result.output

    # Every query job the run created before the report: the leads query and ONE
    # conversations scan. The report's own jobs read only the results tables.
    jobs = [j for j in fake.query_jobs() if _step(j) != "report"]
    scans = [j for j in jobs if "destinationTable" in j["configuration"]["query"]]
    assert len(scans) == 1, [_step(j) for j in jobs]
    assert len(jobs) == 2, [_step(j) for j in jobs]
    for job in fake.query_jobs():
        if _step(job) == "report":
            assert os.environ["LR_RESULTS_DATASET"] in job["configuration"]["query"]["query"]
    # The report loaded the run into the results tables with Parquet load jobs.
    loads = [j["configuration"]["load"] for j in fake.jobs.values() if "load" in j["configuration"]]
    assert {"analysis", "ignored", "runs"} <= {
        load["destinationTable"]["tableId"] for load in loads
    }
    stored = fake.tables[(PROJECT, os.environ["LR_RESULTS_DATASET"], "analysis")]
    assert stored.resource()["timePartitioning"] == {"type": "DAY", "field": "run_date"}
    [scan] = scans
    labels = scan["configuration"]["labels"]
    assert labels["recipe"] == "demo"
    assert labels["run_id"] == label_value(run_id)
    assert labels["step"] and labels["step"] == label_value(labels["step"])
    assert scan["configuration"]["query"]["maximumBytesBilled"] == str(CAP)
    assert "error" not in scan["status"] and "errorResult" not in scan["status"]
    for job in jobs:  # the leads query too
        assert job["configuration"]["labels"]["run_id"] == label_value(run_id)
        assert job["configuration"]["query"]["maximumBytesBilled"] == str(CAP)
    # No job read the messages table per shard: one insert mentions demo.messages.
    reads_messages = [
        c for c in fake.calls(INSERT) if "messages" in c.body["configuration"]["query"]["query"]
    ]
    assert len(reads_messages) == 1

    # Each shard read its own part of the staged table with the Storage Read API.
    restrictions = sorted(
        s.read_session.read_options.row_restriction for s in storage.calls(CREATE_READ_SESSION)
    )
    assert restrictions == sorted(f"_shard = {i}" for i in range(SHARDS))

    # The right rows: one per lead with messages, the rest ignored, as on DuckDB.
    window = _window(sample_dir)
    messages = pl.read_parquet(sample_dir / "demo/messages.parquet")
    analysis = [line for line in result.output.splitlines() if line.startswith("analysis")]
    path = Path(analysis[0].split(None, 1)[1])
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert stored.num_rows == len(rows)  # the results table holds the analysis CSV's rows
    with_messages = set(messages.filter(pl.col("sent_at") <= AS_OF)["lead_key"]) & set(
        window["lead_key"]
    )
    assert {r["lead_key"] for r in rows} == with_messages
    scanned = messages.filter(
        pl.col("lead_key").is_in(window["lead_key"].implode()) & (pl.col("sent_at") <= AS_OF)
    )
    assert f"messages   {scanned.height}\n" in result.output  # every message, once
    assert f"rows       {len(rows)} written, {window.height - len(rows)} ignored" in result.output

    # The report dropped the run's staged tables.
    assert not [key for key in fake.tables if key[1] == STAGING]


def test_dry_run_prints_the_bytes_of_bigquery_dry_runs_and_the_shard_count(
    bigquery: tuple[FakeBigQuery, FakeBigQueryStorage], sample_dir: Path
) -> None:
    fake, _storage = bigquery
    result = CliRunner().invoke(
        main, ["run", "--recipe", "demo", "--dry-run", "--as-of", AS_OF.isoformat()]
    )
    assert result.exit_code == 0, result.output

    dry_runs = [c for c in fake.calls(INSERT) if c.body["configuration"].get("dryRun")]
    assert len(dry_runs) == 2  # the leads query and the conversations scan
    assert all(c.body["configuration"]["query"]["useQueryCache"] is False for c in dry_runs)
    messages_bytes = (sample_dir / "demo/messages.parquet").stat().st_size
    leads_bytes = (sample_dir / "demo/leads.parquet").stat().st_size
    assert f"{messages_bytes:,} B" in result.output and "BigQuery dry run" in result.output
    assert f"{leads_bytes:,} B" in result.output
    assert f"in {SHARDS} shard(s)" in result.output
    # Nothing was scanned or staged: only the leads query ran (its rows make the shards).
    assert [j for j in fake.query_jobs() if "destinationTable" in j["configuration"]["query"]] == []
    assert len(fake.query_jobs()) == 1
    assert not [key for key in fake.tables if key[1] == STAGING]
