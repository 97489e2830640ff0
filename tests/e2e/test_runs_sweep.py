"""`lead-recovery runs sweep` finishes a run whose shard was left claimed by a worker that died."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from common.cli import main
from common.messages import RunOptions, ShardMessage
from common.ports import StepKey, StepStatus
from common.settings import Settings
from common.steps import dispatch as dispatch_module
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF

DEAD_SHARD = 2
LEASE_S = 2


@pytest.fixture
def ctx(local_env: Path, recipes_dir: Path) -> StepContext:
    meta_path = recipes_dir / "demo/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["shard_size"] = 40
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return StepContext.from_settings(Settings())


def kill_after_claim(monkeypatch: pytest.MonkeyPatch, shard: int, lease_s: int) -> None:
    """`process` of ``shard`` claims its step, then its instance dies (message lost).

    What an out-of-memory kill leaves behind: a claim `running` under a lease,
    no failure recorded, and a message Pub/Sub dead-letters after redeliveries
    that all met the live claim. Nobody counts the shard; the run waits.
    """
    real = dispatch_module.process

    def process(ctx: StepContext, message: ShardMessage) -> None:
        if message.shard_index != shard:
            return real(ctx, message)
        key = StepKey(message.run_id, "process", shard)
        assert ctx.backends.state.begin_step(key, lease_s) is StepStatus.RUN
        return None  # killed: nothing after the claim happens

    monkeypatch.setattr(dispatch_module, "process", process)


def test_runs_sweep_finishes_a_run_whose_claim_was_left_running(
    ctx: StepContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from common.local_runner import run_recipe

    kill_after_claim(monkeypatch, DEAD_SHARD, LEASE_S)
    summary = run_recipe(ctx, "demo", RunOptions(as_of=AS_OF), progress=False, run_id="stuck")
    assert summary.status == "running"  # hangs: the dead shard is never counted
    cli = CliRunner()

    # Under a live lease the shard may still be working: the sweeper leaves it alone.
    first = cli.invoke(main, ["runs", "sweep", "--older-than", "0s"])
    assert first.exit_code == 0, first.output
    assert "nothing stuck" in first.output
    assert ctx.backends.state.get_run("stuck")["status"] == "running"

    time.sleep(LEASE_S + 0.2)
    swept = cli.invoke(main, ["runs", "sweep", "--older-than", "0s"])
    assert swept.exit_code == 0, swept.output
    assert "failed      process shard 2: claim left running past its lease" in swept.output
    assert "stuck  now partial (failed shards: 1)" in swept.output

    run = ctx.backends.state.get_run("stuck")
    assert run["status"] == "partial" and run["failed_shards"] == [DEAD_SHARD]
    assert "stuck: claim left running past its lease" in run["failures"]["process-00002"]["message"]
    marks = ctx.backends.state.list_steps("stuck")
    [report] = [m for m in marks if m["step"] == "report"]
    assert report["status"] == "done"
    [dead] = [m for m in marks if m["step"] == "process" and m["shard"] == DEAD_SHARD]
    assert dead["status"] == "failed" and dead["error"]["type"] == "StuckError"

    listed = cli.invoke(main, ["runs", "list"])
    assert listed.exit_code == 0, listed.output
    [line] = [line for line in listed.output.splitlines() if line.startswith("stuck ")]
    assert "partial" in line and "failed_shards=1" in line

    again = cli.invoke(main, ["runs", "sweep", "--older-than", "0s"])  # idempotent
    assert again.exit_code == 0 and "nothing stuck" in again.output
    assert [m for m in ctx.backends.state.list_steps("stuck") if m["step"] == "report"] == [report]
