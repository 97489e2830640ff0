"""The demo recipe through Pub/Sub, Firestore and Cloud Storage emulators.

Acceptance: the same analysis rows as the local run; delivering every message
twice and out of order changes nothing, and the report is produced once.
"""

from __future__ import annotations

import io
import random
import uuid
from pathlib import Path

import polars as pl
import pytest
import yaml

from common import entrypoints
from common.backends import build_backends
from common.local_runner import run_recipe
from common.messages import RunOptions, RunRequest
from common.settings import Settings, get_settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF
from tests.support.pubsub_driver import ChainDriver

pytestmark = pytest.mark.emulators


@pytest.fixture
def small_shards(recipes_dir: Path) -> Path:
    """The demo recipe with 50 leads per shard, so the fan-in has several shards."""
    path = recipes_dir / "demo/meta.yml"
    meta = yaml.safe_load(path.read_text())
    meta["shard_size"] = 50
    path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return recipes_dir


@pytest.fixture
def local_rows(tmp_path: Path, sample_dir: Path, small_shards: Path) -> bytes:
    """The analysis CSV of the same recipe run on the local backends."""
    settings = Settings(
        backend="local",
        data_dir=tmp_path / "local",
        state_db=tmp_path / "local.sqlite",
        warehouse_dir=sample_dir,
        recipes_dir=small_shards,
        # Its own results tables: the emulator run must not see this run as its previous one.
        results_dataset=f"local_{uuid.uuid4().hex[:12]}",
    )
    summary = run_recipe(
        StepContext.from_settings(settings), "demo", RunOptions(as_of=AS_OF), progress=False
    )
    assert summary.status == "succeeded" and summary.shards > 3
    return _comparable(Path(summary.outputs["analysis"]).read_bytes())


@pytest.fixture
def emulator_chain(gcp_env, monkeypatch: pytest.MonkeyPatch, sample_dir: Path, small_shards: Path):
    """Settings for the functions: Google adapters on emulators, recipe SQL on DuckDB."""
    monkeypatch.setenv("LR_WAREHOUSE", "duckdb")
    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(sample_dir))
    monkeypatch.setenv("LR_RECIPES_DIR", str(small_shards))
    get_settings.cache_clear()
    entrypoints.context.cache_clear()
    settings = get_settings()
    driver = ChainDriver(settings.gcp_project, settings.topic_prefix)
    yield settings, driver
    entrypoints.context.cache_clear()


def _start(settings: Settings) -> None:
    bus = build_backends(settings).bus
    bus.publish("recipe-runs", RunRequest(recipe="demo", options=RunOptions(as_of=AS_OF)))


def _comparable(analysis_csv: bytes) -> bytes:
    """The analysis without `first_seen_run`, which names the run (ids differ between runs)."""
    lines = analysis_csv.decode().splitlines()
    header = lines[0].split(",")
    if "first_seen_run" not in header:
        return analysis_csv
    frame = pl.read_csv(io.BytesIO(analysis_csv), infer_schema=False)
    return frame.drop("first_seen_run").write_csv().encode()


def _outputs(settings: Settings) -> dict[str, bytes]:
    blobs = build_backends(settings).blobs
    return {key: blobs.get_bytes(key) for key in blobs.list("output_run/demo/")}


def _single_run(settings: Settings) -> dict:
    runs = build_backends(settings).state.list_runs("demo")
    assert len(runs) == 1, runs
    return runs[0]


def test_emulator_run_matches_local_run(emulator_chain, local_rows: bytes) -> None:
    settings, driver = emulator_chain
    _start(settings)
    driver.run_until_idle()
    run = _single_run(settings)
    assert run["status"] == "succeeded", run
    outputs = _outputs(settings)
    analysis = [k for k in outputs if k.endswith("/demo_analysis.csv")]
    assert len(analysis) == 1
    assert _comparable(outputs[analysis[0]]) == local_rows
    assert _comparable(outputs["output_run/demo/latest.csv"]) == local_rows
    assert all(status == 200 for _, _, status in driver.deliveries)


def test_duplicate_and_shuffled_deliveries_change_nothing(
    emulator_chain, local_rows: bytes
) -> None:
    settings, driver = emulator_chain
    _start(settings)
    seen = driver.run_until_idle(copies=2, shuffle=random.Random(5))
    # Late redeliveries of every message of the run, after it finished, newest first.
    for pulled in reversed(seen):
        assert driver.deliver(pulled) == 200

    run = _single_run(settings)
    assert run["status"] == "succeeded"
    outputs = _outputs(settings)
    analysis = [k for k in outputs if k.endswith("/demo_analysis.csv")]
    assert len(analysis) == 1 and _comparable(outputs[analysis[0]]) == local_rows
    assert sorted(k.rsplit("/", 1)[-1] for k in outputs) == [
        "demo_analysis.csv",
        "ignored.csv",
        "latest.csv",
        "latest.html",
        "latest.json",
        "latest_ignored.csv",
        "report.html",
    ]
    state = build_backends(settings).state
    steps = state.list_steps(run["run_id"])
    report = [s for s in steps if s["step"] == "report"]
    assert len(report) == 1 and report[0]["status"] == "done" and report[0]["attempts"] == 1
    # Every shard's steps ran exactly once although each message came 3 times.
    assert all(s["attempts"] == 1 for s in steps), [
        (s["step"], s["shard"], s["attempts"]) for s in steps
    ]
    delivered_report = [d for d in driver.deliveries if d[0] == "report"]
    assert len(delivered_report) >= 3
