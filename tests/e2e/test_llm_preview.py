"""`run --dry-run` previews the LLM step's cost; after a real run it expects cache hits.

Against the protocol-level test server (OpenAI wire format), not the offline model.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.support.fake_llm import FakeLLM

KEY = "sk-test-aaaaaaaaaaaaaaaaaaaaaaaa"
ARGS = ["run", "-r", "stall_reasons", "--as-of", "2026-11-20T18:00:00Z", "--limit", "20"]


@pytest.fixture
def openai_env(
    local_env: Path, recipes_dir: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> Path:
    meta_path = recipes_dir / "stall_reasons/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["llm"]["limits"] = {"concurrency": 8, "retries": 2, "timeout_seconds": 5, "rpm": 600}
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    monkeypatch.setenv("LR_LLM_PROVIDER", "openai")
    monkeypatch.setenv("LR_LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", KEY)
    return recipes_dir


def _lines(output: str) -> dict[str, str]:
    return {line[:15].strip(): line[15:].strip() for line in output.splitlines() if line[:15]}


def _number(text: str) -> float:
    match = re.search(r"[\d,]+(?:\.\d+)?", text)
    assert match, text
    return float(match.group().replace(",", ""))


def _dry_run() -> dict[str, str]:
    from common.cli import main

    result = CliRunner().invoke(main, [*ARGS, "--dry-run"])
    assert result.exit_code == 0, result.output
    return _lines(result.output)


def test_dry_run_previews_calls_tokens_cost_and_time_then_sees_the_cache(
    openai_env: Path, fake_llm: FakeLLM
) -> None:
    from common.cli import main

    before = _dry_run()
    assert fake_llm.count == 0  # a preview never calls the model
    assert before["llm"] == "analyze with openai/gpt-4o-mini"
    conversations = int(_number(before["to answer"]))
    rules = int(_number(before["rules"]))
    calls = int(_number(before["calls"]))
    assert conversations > 0 and rules > 0 and calls == conversations - rules
    assert _number(before["cache hits"]) == 0
    tokens = before["tokens"]
    assert _number(tokens) > 100 * calls and "at most max_output_tokens" in tokens
    online, batch = _number(before["cost online"]), _number(before["cost batch"])
    assert online > 0 and batch == pytest.approx(online / 2, abs=1e-4)
    assert "50% off" in before["cost batch"]
    assert before["call time"].startswith(f"{calls / 600 * 60:.0f} s at rpm 600,")

    run = CliRunner().invoke(main, [*ARGS, "--no-progress"])
    assert run.exit_code == 0, run.output
    assert fake_llm.count == calls  # the preview counted the calls the run made

    after = _dry_run()
    assert fake_llm.count == calls
    assert int(_number(after["cache hits"])) == calls
    assert int(_number(after["calls"])) == 0
    assert int(_number(after["rules"])) == rules
    assert _number(after["cost online"]) == 0
    assert after["tokens"].startswith("0 input + 0 output")
