"""The summarize step end to end against the test LLM server (OpenAI and Gemini protocols)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import polars as pl
import pytest
import yaml

from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF
from tests.support.fake_llm import FakeLLM, Fault

KEYS = ["sk-test-aaaaaaaaaaaaaaaaaaaaaaaa", "sk-test-bbbbbbbbbbbbbbbbbbbbbbbb"]
LIMIT = 24


@pytest.fixture(params=["openai", "gemini"])
def llm_env(
    request, local_env: Path, recipes_dir: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
):
    """The stall_reasons recipe pointed at the test server, with room for retries."""
    meta_path = recipes_dir / "stall_reasons/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["shard_size"] = 10
    meta["llm"].pop("rules", None)  # every lead asks the model here (rules: test_llm_rules.py)
    meta["llm"]["limits"] = {
        "concurrency": 8,
        "retries": 8,
        "timeout_seconds": 5,
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.5,
    }
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    monkeypatch.setenv("LR_LLM_PROVIDER", request.param)
    if request.param == "openai":
        monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
        monkeypatch.setenv("LR_OPENAI_API_KEYS", ",".join(KEYS))
    else:
        monkeypatch.setenv("LR_GEMINI_BASE_URL", fake_llm.url)
        monkeypatch.setenv("LR_GEMINI_API_KEYS", ",".join(KEYS))
    return recipes_dir


def _run(**options):
    from common.local_runner import run_recipe

    ctx = StepContext.from_settings(Settings())
    return ctx, run_recipe(
        ctx, "stall_reasons", RunOptions(as_of=AS_OF, limit=LIMIT, **options), progress=False
    )


def _rows(path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(open(path, encoding="utf-8")))


def _answers(path: str) -> list[dict[str, str]]:
    """The rows without the lead-history columns (a second run's say `unchanged`, not `new`)."""
    from common.results.history import ANALYSIS_COLUMNS

    return [{k: v for k, v in r.items() if k not in ANALYSIS_COLUMNS} for r in _rows(path)]


def test_report_carries_llm_columns_and_cache_saves_every_call(
    llm_env: Path, fake_llm: FakeLLM
) -> None:
    _, first = _run()
    assert first.status == "succeeded"
    rows = _rows(first.outputs["analysis"])
    assert rows and {"primary_stall_reason_code", "recovery_score", "summary"} <= set(rows[0])
    assert all(0 <= int(r["recovery_score"]) <= 100 for r in rows)
    calls = fake_llm.count
    assert calls == len(rows) == first.llm["llm_calls"]
    assert first.llm["cache_hits"] == 0

    _, second = _run()
    assert fake_llm.count == calls  # zero new LLM calls
    assert second.llm["cache_hits"] == len(rows) and second.llm["llm_calls"] == 0
    assert _answers(second.outputs["analysis"]) == _answers(first.outputs["analysis"])
    assert {r["change"] for r in _rows(second.outputs["analysis"])} == {"unchanged"}

    prompt = llm_env / "stall_reasons/prompt.txt"
    prompt.write_text(prompt.read_text() + "\nBe brief.\n")
    _, third = _run()
    assert fake_llm.count == calls + len(rows)  # only the new prompt's keys were asked
    assert third.llm["cache_hits"] == 0

    _, fourth = _run(no_cache=True)
    assert fourth.llm["cache_hits"] == 0 and fake_llm.count == calls + 2 * len(rows)


def test_bad_answers_are_repaired_or_ignored_with_reason(
    llm_env: Path, fake_llm: FakeLLM, sample_dir: Path
) -> None:
    # The faults are keyed on the lead's name in the prompt, which masking (on by default
    # for openai; tested in test_privacy.py) would replace with <FIRST_NAME>.
    meta_path = llm_env / "stall_reasons/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["privacy"] = {"enabled": False}
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    _, probe = _run()
    rows = _rows(probe.outputs["analysis"])
    names = pl.DataFrame(rows)["name"]
    unique = [n for n in names if (names == n).sum() == 1]
    broken, repaired = unique[0], unique[1]
    fake_llm.reset() if hasattr(fake_llm, "reset") else None
    # `broken` answers garbage every time; `repaired` only the first time.
    fake_llm.inject(Fault.violating(), times=None, when=f"first name: {broken}.")
    fake_llm.inject(Fault.malformed(), times=1, when=f"first name: {repaired}.")
    _, run = _run(no_cache=True)
    assert run.status == "succeeded"
    kept = {r["name"] for r in _rows(run.outputs["analysis"])}
    ignored = _rows(run.outputs["ignored"])
    assert repaired in kept and broken not in kept
    reasons = [r["ignore_reason"] for r in ignored if r["name"] == broken]
    assert reasons and reasons[0].startswith(
        "llm answer invalid after one repair: schema violation"
    )
    assert run.llm["repairs"] == 2 and run.llm["ignored"] == 1


def test_throttling_and_errors_are_retried_and_keys_stay_secret(
    llm_env: Path, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_llm.enqueue(*[Fault.throttle(retry_after=0) for _ in range(10)])
    fake_llm.inject(Fault.error(503), times=3)
    fake_llm.inject(Fault.error(500), times=2)
    fake_llm.fail_key(KEYS[0], Fault.throttle(retry_after=0.2))  # one key is throttled for good
    ctx, run = _run(no_cache=True)
    assert run.status == "succeeded" and run.rows > 0 and run.llm.get("ignored", 0) == 0
    assert set(fake_llm.raw_keys) <= set(KEYS)
    # Rotation: the throttled key was tried a bounded number of times, the other carried the run.
    by_key = fake_llm.by_key
    assert max(by_key.values()) == by_key[max(by_key, key=by_key.get)]
    steps = [s for s in ctx.backends.state.list_steps(run.run_id) if s["step"] == "summarize"]
    assert sum(s["result"]["client"]["throttled"] for s in steps) >= 10
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    for key in KEYS:
        assert key not in text
