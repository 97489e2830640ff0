"""A shard that fails for good is recorded and dead-lettered; the other shards still report."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
import yaml

from common import chain
from common.errors import DataError, TransientError
from common.messages import RunOptions
from common.settings import Settings
from common.steps import process as process_module
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF


@pytest.fixture
def ctx(local_env: Path, recipes_dir: Path) -> StepContext:
    meta_path = recipes_dir / "demo/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["shard_size"] = 40
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return StepContext.from_settings(Settings())


def _shard_2_first_key(sample_dir: Path) -> str:
    leads = pl.read_parquet(sample_dir / "demo/leads.parquet")
    window = leads.filter(pl.col("lead_created_at") >= pl.lit(AS_OF).dt.offset_by("-30d"))
    return sorted(window["lead_key"])[80]  # shard_size 40: shard 2 starts at row 80


def _poison_shard_2(sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make `process` fail for good on shard 2; returns the lead key that poisons it."""
    real = process_module.compute_features
    poisoned = _shard_2_first_key(sample_dir)

    def failing(recipe, options, leads, messages):
        if leads["lead_key"][0] == poisoned:
            raise DataError("conversations have a bad row", where="shard 2")
        return real(recipe, options, leads, messages)

    monkeypatch.setattr(process_module, "compute_features", failing)
    return poisoned


def test_terminal_shard_failure_reports_the_rest(
    ctx: StepContext, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.local_runner import run_recipe

    poisoned = _poison_shard_2(sample_dir, monkeypatch)
    summary = run_recipe(ctx, "demo", RunOptions(as_of=AS_OF), progress=False)

    assert summary.status == "partial"
    assert list(summary.failures) == ["process-00002"]
    assert "bad row" in summary.failures["process-00002"]["message"]
    run = ctx.backends.state.get_run(summary.run_id)
    assert run["failed_shards"] == [2]
    rows = list(csv.DictReader(open(summary.outputs["analysis"], encoding="utf-8")))
    ignored = list(csv.DictReader(open(summary.outputs["ignored"], encoding="utf-8")))
    assert len(rows) + len(ignored) == summary.leads - 40  # shard 2's 40 leads are missing
    assert poisoned not in {r["lead_key"] for r in rows}
    published = [d.topic for d in ctx.backends.bus.published]
    assert (
        chain.dead_letter_topic("conversations-fetched") not in published
    )  # local runner acks in place
    report_steps = [
        s for s in ctx.backends.state.list_steps(summary.run_id) if s["step"] == "report"
    ]
    assert len(report_steps) == 1 and report_steps[0]["status"] == "done"


def test_a_failed_shard_whose_fan_in_record_failed_is_counted_on_redelivery(
    ctx: StepContext, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure is recorded, then the fan-in write hits contention: the run must not hang.

    The redelivered message finds the step failed for good and records the
    shard on the fan-in then (seen on the Firestore emulator under load).
    """
    from common.local_runner import run_recipe

    _poison_shard_2(sample_dir, monkeypatch)
    state = ctx.backends.state
    real_complete = state.complete_shard
    contended = []

    def complete_shard(run_id, stage, shard, shard_count):
        if shard == 2 and not contended:
            contended.append(shard)
            raise TransientError("Firestore transaction contention in complete_shard")
        return real_complete(run_id, stage, shard, shard_count)

    monkeypatch.setattr(state, "complete_shard", complete_shard)
    summary = run_recipe(ctx, "demo", RunOptions(as_of=AS_OF), progress=False)

    assert contended == [2]
    assert summary.status == "partial"
    assert list(summary.failures) == ["process-00002"]
    run = ctx.backends.state.get_run(summary.run_id)
    assert run["failed_shards"] == [2]
    assert 2 in state.counted_shards(summary.run_id, chain.FAN_IN)
    report_steps = [s for s in state.list_steps(summary.run_id) if s["step"] == "report"]
    assert len(report_steps) == 1 and report_steps[0]["status"] == "done"


def test_transient_failure_is_retried_by_redelivery(
    ctx: StepContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TransientError releases the claim: the redelivered message runs the step again."""
    from common import local_runner

    monkeypatch.setattr(local_runner, "BACKOFF_S", 0.01)
    calls = {"n": 0}
    real = process_module.compute_features

    def flaky(recipe, options, leads, messages):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientError("warehouse busy", where="test")
        return real(recipe, options, leads, messages)

    monkeypatch.setattr(process_module, "compute_features", flaky)
    summary = local_runner.run_recipe(ctx, "demo", RunOptions(as_of=AS_OF), progress=False)
    assert summary.status == "succeeded"
    assert summary.failures == {}  # recorded on the mark, then healed: not a failure of the run
    steps = {
        s["shard"]: s
        for s in ctx.backends.state.list_steps(summary.run_id)
        if s["step"] == "process"
    }
    # Shards run on several threads: whichever called first failed once.
    [retried] = [shard for shard, s in steps.items() if s["attempts"] == 2]
    assert steps[retried]["status"] == "done"
    assert steps[retried]["error"]["message"] == "test: warehouse busy"
    assert all(s["attempts"] == 1 for shard, s in steps.items() if shard != retried)
    assert all(s["status"] == "done" for s in steps.values())


def test_transient_failure_gives_up_after_bounded_attempts(
    ctx: StepContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long outage: every shard fails on its last attempt, is failed for good, and the run ends."""
    from common import local_runner

    monkeypatch.setattr(local_runner, "BACKOFF_S", 0.0)

    def always(recipe, options, leads, messages):
        raise TransientError("warehouse down", where="test")

    monkeypatch.setattr(process_module, "compute_features", always)
    # Nothing left to report: the run fails saying why (and keeps the last good latest.csv).
    with pytest.raises(DataError, match="every shard failed for good"):
        local_runner.run_recipe(ctx, "demo", RunOptions(as_of=AS_OF), progress=False, run_id="down")
    summary = local_runner.summarize_run(ctx, "down")
    assert summary.status == "failed" and summary.outputs == {}
    assert "warehouse down" in summary.failures["report-run"]["message"]
    steps = [s for s in ctx.backends.state.list_steps("down") if s["step"] == "process"]
    assert len(steps) == summary.shards
    for step in steps:
        assert step["attempts"] == local_runner.MAX_ATTEMPTS and step["status"] == "failed"
        assert step["error"]["message"] == "test: warehouse down"
        assert step["error"]["attempts"] == local_runner.MAX_ATTEMPTS


def test_unexpected_error_on_every_attempt_fails_the_shard_and_the_run_is_partial(
    ctx: StepContext, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (KeyError) in one shard: retried, then failed for good on the last attempt.

    The run does not abort (nor hang): it reports the other shards, `partial`,
    with that shard's error.
    """
    from common import local_runner

    monkeypatch.setattr(local_runner, "BACKOFF_S", 0.0)
    real = process_module.compute_features
    poisoned = _shard_2_first_key(sample_dir)

    def buggy(recipe, options, leads, messages):
        if leads["lead_key"][0] == poisoned:
            raise KeyError("hours_since_last")
        return real(recipe, options, leads, messages)

    monkeypatch.setattr(process_module, "compute_features", buggy)
    summary = local_runner.run_recipe(ctx, "demo", RunOptions(as_of=AS_OF), progress=False)

    assert summary.status == "partial"
    assert list(summary.failures) == ["process-00002"]
    assert "KeyError: 'hours_since_last'" in summary.failures["process-00002"]["message"]
    run = ctx.backends.state.get_run(summary.run_id)
    assert run["status"] == "partial" and run["failed_shards"] == [2]
    assert "KeyError" in run["failures"]["process-00002"]["message"]
    [mark] = [
        s
        for s in ctx.backends.state.list_steps(summary.run_id, status="failed")
        if s["step"] == "process"
    ]
    assert mark["shard"] == 2 and mark["attempts"] == local_runner.MAX_ATTEMPTS
    rows = list(csv.DictReader(open(summary.outputs["analysis"], encoding="utf-8")))
    ignored = list(csv.DictReader(open(summary.outputs["ignored"], encoding="utf-8")))
    assert len(rows) + len(ignored) == summary.leads - 40
