"""No run hangs, and the fan-in holds at width, on the Pub/Sub, Firestore and Cloud Storage emulators.

- a shard raising an unexpected error on every delivery is failed for good on
  its last attempt (``deliveryAttempt`` from the push envelope) and the run
  reports ``partial`` with that shard's error;
- `runs sweep --backend gcp` finishes a run whose shard claim was left running;
- a run of 200+ shards, every message delivered twice and shuffled, ends with
  exactly one report, every shard counted and no contention failure.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from common import chain, entrypoints
from common.backends import build_backends
from common.cli import main
from common.messages import RunOptions, RunRequest
from common.settings import Settings, get_settings
from common.steps import process as process_module
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF, _generator
from tests.e2e.test_runs_sweep import kill_after_claim
from tests.support.pubsub_driver import ChainDriver

pytestmark = pytest.mark.emulators

MAX_ATTEMPTS = 5


def _shard_size(recipes_dir: Path, size: int) -> None:
    path = recipes_dir / "demo/meta.yml"
    meta = yaml.safe_load(path.read_text())
    meta["shard_size"] = size
    path.write_text(yaml.safe_dump(meta, sort_keys=False))


@pytest.fixture(scope="session")
def wide_sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,400 leads: with 10 leads a shard, a run of more than 200 shards."""
    out = tmp_path_factory.mktemp("wide-sample")
    _generator().generate(out, seed=13, n_leads=2400, anchor=AS_OF)
    return out


def _chain(monkeypatch: pytest.MonkeyPatch, warehouse: Path, recipes_dir: Path, **driver_options):
    monkeypatch.setenv("LR_WAREHOUSE", "duckdb")
    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(warehouse))
    monkeypatch.setenv("LR_RECIPES_DIR", str(recipes_dir))
    monkeypatch.setenv("LR_MAX_DELIVERY_ATTEMPTS", str(MAX_ATTEMPTS))
    get_settings.cache_clear()
    entrypoints.context.cache_clear()
    settings = get_settings()
    return settings, ChainDriver(settings.gcp_project, settings.topic_prefix, **driver_options)


@pytest.fixture
def chain_env(gcp_env, monkeypatch: pytest.MonkeyPatch, sample_dir: Path, recipes_dir: Path):
    _shard_size(recipes_dir, 50)
    yield lambda **options: _chain(monkeypatch, sample_dir, recipes_dir, **options)
    entrypoints.context.cache_clear()


def _shard_first_key(sample_dir: Path, shard: int, size: int) -> str:
    leads = pl.read_parquet(sample_dir / "demo/leads.parquet")
    window = leads.filter(pl.col("lead_created_at") >= pl.lit(AS_OF).dt.offset_by("-30d"))
    return sorted(window["lead_key"])[shard * size]


def _start(settings: Settings) -> None:
    build_backends(settings).bus.publish(
        "recipe-runs", RunRequest(recipe="demo", options=RunOptions(as_of=AS_OF))
    )


def _single_run(settings: Settings) -> dict:
    runs = build_backends(settings).state.list_runs("demo")
    assert len(runs) == 1, runs
    return runs[0]


def test_unexpected_error_on_every_delivery_fails_the_shard_and_the_run_is_partial(
    chain_env, monkeypatch: pytest.MonkeyPatch, sample_dir: Path
) -> None:
    settings, driver = chain_env(max_delivery_attempts=MAX_ATTEMPTS, raw_push=True)
    real = process_module.compute_features
    poisoned = _shard_first_key(sample_dir, 1, 50)
    calls: list[int] = []

    def buggy(recipe, options, leads, messages):
        if leads["lead_key"][0] == poisoned:
            calls.append(1)
            raise KeyError("hours_since_last")
        return real(recipe, options, leads, messages)

    monkeypatch.setattr(process_module, "compute_features", buggy)
    _start(settings)
    driver.run_until_idle()
    state = build_backends(settings).state
    run_id = _single_run(settings)["run_id"]

    run = _single_run(settings)
    assert run["status"] == "partial", run
    assert run["failed_shards"] == [1]
    failure = run["failures"]["process-00001"]
    assert "KeyError: 'hours_since_last'" in failure["message"]
    assert failure["attempts"] == MAX_ATTEMPTS
    assert len(calls) == MAX_ATTEMPTS  # retried by redelivery, then failed for good
    [mark] = [m for m in state.list_steps(run_id, status="failed")]
    assert (mark["step"], mark["shard"]) == ("process", 1)
    assert 1 in state.counted_shards(run_id, chain.FAN_IN)
    assert (
        driver.dead_lettered == []
    )  # the last attempt acknowledged it (and dead-lettered it itself)
    [report] = [m for m in state.list_steps(run_id) if m["step"] == "report"]
    assert report["status"] == "done"


def test_runs_sweep_on_gcp_finishes_a_run_whose_claim_was_left_running(
    chain_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, driver = chain_env()
    kill_after_claim(monkeypatch, 2, lease_s=1)
    _start(settings)
    driver.run_until_idle()
    run = _single_run(settings)
    assert run["status"] == "running"
    time.sleep(1.2)

    swept = CliRunner().invoke(main, ["runs", "sweep", "--backend", "gcp", "--older-than", "0s"])
    assert swept.exit_code == 0, swept.output
    assert "failed      process shard 2: claim left running past its lease" in swept.output
    driver.run_until_idle()  # the report the sweep started, on the functions

    run = _single_run(settings)
    assert run["status"] == "partial" and run["failed_shards"] == [2], run
    assert "stuck" in run["failures"]["process-00002"]["message"]
    again = CliRunner().invoke(main, ["runs", "sweep", "--backend", "gcp", "--older-than", "0s"])
    assert again.exit_code == 0 and "nothing stuck" in again.output


def test_two_hundred_shards_delivered_twice_and_shuffled_report_once(
    gcp_env, monkeypatch: pytest.MonkeyPatch, wide_sample_dir: Path, recipes_dir: Path
) -> None:
    _shard_size(recipes_dir, 10)
    settings, driver = _chain(monkeypatch, wide_sample_dir, recipes_dir)
    # Each delivery thread is its own function instance (own clients, own
    # in-process locks), so their writes meet only in Firestore, as in production.
    instances = threading.local()

    def instance_context() -> StepContext:
        if not hasattr(instances, "ctx"):
            instances.ctx = StepContext.from_settings(settings)
        return instances.ctx

    monkeypatch.setattr(entrypoints, "context", instance_context)
    started = time.monotonic()
    _start(settings)
    # 8 deliveries in flight at once: many shards finish (and hit the fan-in) together.
    driver.run_until_idle(copies=2, shuffle=random.Random(11), max_rounds=400, workers=8)
    elapsed = time.monotonic() - started

    run = _single_run(settings)
    shards = int(run["shard_count"])
    assert shards >= 200, run
    assert run["status"] == "succeeded", run
    assert run["failed_shards"] == [] and run["failures"] == {}
    state = build_backends(settings).state
    assert state.counted_shards(run["run_id"], chain.FAN_IN) == set(range(shards))
    marks = state.list_steps(run["run_id"])
    [report] = [m for m in marks if m["step"] == "report"]
    assert report["status"] == "done" and report["attempts"] == 1
    # No contention anywhere: no step failed, not even transiently (a contention
    # TransientError would be recorded on its mark). A 503 only ever means a
    # duplicate met its twin's live claim (BUSY, which records nothing).
    assert [m for m in marks if "error" in m] == []
    statuses = Counter(status for _, _, status in driver.deliveries)
    assert set(statuses) <= {200, 503}, statuses
    per_shard = [m for m in marks if m["shard"] >= 0]
    assert len(per_shard) == shards * len(
        [s for s in chain.STAGES if s.per_shard and s.available and s.name != "summarize"]
    )
    outputs = build_backends(settings).blobs.list("output_run/demo/")
    assert len([k for k in outputs if k.endswith("/demo_analysis.csv")]) == 1
    print(
        f"{shards} shards, {len(driver.deliveries)} deliveries {dict(statuses)} in {elapsed:.1f} s"
    )
