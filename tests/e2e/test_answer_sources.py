"""Where every LLM answer came from (`answer_source`: rule, cache, model, batch), end to end.

The summaries shard records each answer's source, the summarize step counts
them (`llm.sources` on the run document) and `lead-recovery run` prints them.
Runs against the protocol-level test server (OpenAI wire format), not the
bundled offline model.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from common import layout
from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF
from tests.support.fake_llm import FakeLLM

KEY = "sk-test-aaaaaaaaaaaaaaaaaaaaaaaa"
LIMIT = 20


@pytest.fixture
def openai_env(
    local_env: Path, recipes_dir: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """stall_reasons on the test server; returns the recipes folder."""
    meta_path = recipes_dir / "stall_reasons/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["llm"]["limits"] = {"concurrency": 8, "retries": 2, "timeout_seconds": 5}
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    monkeypatch.setenv("LR_LLM_PROVIDER", "openai")
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", KEY)
    return recipes_dir


def _run(**options):
    from common.local_runner import run_recipe

    ctx = StepContext.from_settings(Settings())
    summary = run_recipe(
        ctx, "stall_reasons", RunOptions(as_of=AS_OF, limit=LIMIT, **options), progress=False
    )
    return ctx, summary


def _summaries(ctx: StepContext, run_id: str, shards: int) -> pl.DataFrame:
    from common.steps.io import read_frame

    return pl.concat(
        [
            read_frame(ctx.backends.blobs, layout.shard_key(run_id, "summaries", i))
            for i in range(shards)
        ]
    )


def test_each_answer_records_its_source_and_the_run_counts_them(
    openai_env: Path, fake_llm: FakeLLM
) -> None:
    ctx, first = _run()
    assert first.status == "succeeded"
    frame = _summaries(ctx, first.run_id, first.shards)
    answered = frame.filter(pl.col("ignore_reason").is_null())
    sources = first.llm["sources"]
    assert set(sources) == {"rule", "cache", "model", "batch"}
    assert sources["cache"] == 0 and sources["batch"] == 0
    assert sources["model"] == fake_llm.count  # one call per model answer
    assert sum(sources.values()) == answered.height
    counted = answered.group_by("answer_source").len()
    assert dict(counted.iter_rows()) == {k: v for k, v in sources.items() if v}

    ctx, second = _run()  # everything the model answered is cached now
    assert second.llm["sources"]["cache"] == sources["model"]
    assert second.llm["sources"]["model"] == 0
    frame = _summaries(ctx, second.run_id, second.shards)
    assert set(frame["answer_source"].drop_nulls()) <= {"cache", "rule"}


def test_run_command_prints_the_sources(openai_env: Path, fake_llm: FakeLLM) -> None:
    from common.cli import main

    args = ["run", "-r", "stall_reasons", "--as-of", "2026-11-20T18:00:00Z", "--no-progress"]
    result = CliRunner().invoke(main, [*args, "--limit", str(LIMIT)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("answers")]
    assert len(lines) == 1
    assert f"model {fake_llm.count}" in lines[0]
    assert "rules " in lines[0] and "cache 0" in lines[0] and "batch 0" in lines[0]
