"""One conversations scan per run (issue 13): the shards read their part of it, not the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from common.cli import main
from common.local_runner import run_recipe
from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF


class CountingWarehouse:
    """The real DuckDB warehouse, with a record of the calls each method received."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)

        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, str(kwargs.get("where", ""))))
            return method(*args, **kwargs)

        return record


@pytest.fixture
def twenty_shards(local_env: Path, recipes_dir: Path) -> StepContext:
    meta_path = recipes_dir / "demo/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["shard_size"] = 5  # ~100 leads in the 30-day window of the 300-lead sample
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return StepContext.from_settings(Settings())


def test_a_run_reads_its_conversations_with_one_scan(twenty_shards: StepContext) -> None:
    ctx = twenty_shards
    spy = CountingWarehouse(ctx.backends.warehouse)
    ctx.backends._warehouse = spy  # type: ignore[assignment]

    summary = run_recipe(ctx, "demo", RunOptions(as_of=AS_OF), progress=False)

    assert summary.status == "succeeded" and summary.shards >= 20
    conversations = [c for c in spy.calls if c[1].endswith("conversations.sql")]
    assert [c[0] for c in conversations].count("stage_scan") == 1
    assert [c[0] for c in conversations].count("read_staged") == summary.shards
    assert not [c for c in conversations if c[0] == "query"]
    run = ctx.backends.state.get_run(summary.run_id)
    assert run["scan"]["messages"] == summary.messages > 0
    # The report drops the staged scan: nothing is left for the next run to trip on.
    assert spy.real.staging_dir == ctx.settings.staging_dir
    assert not (spy.real.staging_dir / summary.run_id).exists()


def test_dry_run_prints_reads_and_shards_and_starts_nothing(
    twenty_shards: StepContext,
) -> None:
    result = CliRunner().invoke(
        main, ["run", "--recipe", "demo", "--as-of", AS_OF.isoformat(), "--dry-run"]
    )

    assert result.exit_code == 0, result.output
    assert "nothing was started" in result.output
    leads_line = next(line for line in result.output.splitlines() if line.startswith("leads "))
    leads = int(leads_line.split()[1].replace(",", ""))
    assert f"in {-(-leads // 5)} shard(s) of 5" in leads_line
    assert "one scan reads" in result.output and "rows" in result.output
    assert twenty_shards.backends.state.list_runs() == []
