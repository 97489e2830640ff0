"""The `score` and `extract` modes end to end: their demo recipes against the test LLM server."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF, REPO
from tests.support.fake_llm import FakeLLM, Fault, Received

KEYS = ["sk-test-aaaaaaaaaaaaaaaaaaaaaaaa", "sk-test-bbbbbbbbbbbbbbbbbbbbbbbb"]
LIMIT = 20
BATCH = 80
"""Batch size of the extraction tests: companies have 60-400 messages, so 1 to 5 batches."""
COMPANIES = 6


def _load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, REPO / f"scripts/{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while executing
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """The session's demo data plus a few generated companies, as one local warehouse."""
    out = tmp_path_factory.mktemp("warehouse")
    shutil.copytree(sample_dir / "demo", out / "demo")
    _load_script("generate_company_data").generate(out, seed=5, n_companies=COMPANIES, anchor=AS_OF)
    return out


@pytest.fixture
def llm_env(
    local_env: Path,
    warehouse: Path,
    recipes_dir: Path,
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """Every recipe pointed at the test server (OpenAI protocol) and the combined warehouse."""
    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(warehouse))
    monkeypatch.setenv("LR_LLM_PROVIDER", "openai")
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", ",".join(KEYS))
    return recipes_dir


def _edit_meta(recipes_dir: Path, recipe: str, **llm: Any) -> None:
    path = recipes_dir / recipe / "meta.yml"
    meta = yaml.safe_load(path.read_text())
    meta["llm"]["limits"] = {
        "concurrency": 8,
        "retries": 3,
        "timeout_seconds": 5,
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.2,
    }
    for key, value in llm.items():
        if isinstance(value, dict):
            meta["llm"].setdefault(key, {}).update(value)
        else:
            meta["llm"][key] = value
    path.write_text(yaml.safe_dump(meta, sort_keys=False))


def _run(recipe: str, **options: Any) -> Any:
    from common.local_runner import run_recipe

    ctx = StepContext.from_settings(Settings())
    return run_recipe(ctx, recipe, RunOptions(as_of=AS_OF, **options), progress=False)


def _rows(path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(open(path, encoding="utf-8")))


def _answers(path: str) -> list[dict[str, str]]:
    """The rows without the lead-history columns (a second run's say `unchanged`, not `new`)."""
    from common.results.history import ANALYSIS_COLUMNS

    return [{k: v for k, v in r.items() if k not in ANALYSIS_COLUMNS} for r in _rows(path)]


def _kind(request: Received) -> str:
    """Which call a request is, by the fields of the answer it asks for."""
    fields = set((request.schema or {}).get("properties", {}))
    kinds = {
        frozenset({"score", "signals_positive", "signals_negative", "rationale"}): "score",
        frozenset({"subject", "message"}): "outreach",
        frozenset({"events"}): "batch",
        frozenset({"subject", "body"}): "followup",
    }
    return kinds.get(frozenset(fields), "other")


def _calls(fake: FakeLLM) -> Counter[str]:
    return Counter(_kind(r) for r in fake.requests)


# --- score ---------------------------------------------------------------------------------


def test_scoring_writes_outreach_only_at_or_above_the_threshold(
    llm_env: Path, fake_llm: FakeLLM
) -> None:
    _edit_meta(llm_env, "lead_scoring")
    first = _run("lead_scoring", limit=LIMIT)
    assert first.status == "succeeded"
    rows = _rows(first.outputs["analysis"])
    assert len(rows) > 10 and all(0 <= int(r["lead_score"]) <= 100 for r in rows)
    eligible = [r for r in rows if r["outreach_eligible"] == "true"]
    ineligible = [r for r in rows if r["outreach_eligible"] == "false"]
    assert eligible and ineligible and len(eligible) + len(ineligible) == len(rows)
    assert all(int(r["lead_score"]) >= 70 and r["outreach_subject"] for r in eligible)
    assert all(r["outreach_message"] for r in eligible)
    assert all(int(r["lead_score"]) < 70 for r in ineligible)
    assert all(not r["outreach_subject"] and not r["outreach_message"] for r in ineligible)
    assert all(r["score_rationale"] for r in rows)

    calls = _calls(fake_llm)
    assert calls == {"score": len(rows), "outreach": len(eligible)}  # none for ineligible leads
    outreach = [r for r in fake_llm.requests if _kind(r) == "outreach"]
    shown = sorted(
        int(m.group(1)) for r in outreach if (m := re.search(r"Score (\d+)/100", r.user))
    )
    assert shown == sorted(int(r["lead_score"]) for r in eligible)
    assert "Scoring criteria:" in fake_llm.requests[0].system  # the criteria file is sent
    assert first.llm["outreach_eligible"] == len(eligible) == first.llm["outreach_written"]

    # Same run again: every answer comes from the cache.
    count = fake_llm.count
    second = _run("lead_scoring", limit=LIMIT)
    assert fake_llm.count == count
    assert second.llm["llm_calls"] == 0 and second.llm["cache_hits"] == count
    assert _answers(second.outputs["analysis"]) == _answers(first.outputs["analysis"])
    assert {r["change"] for r in _rows(second.outputs["analysis"])} == {"unchanged"}

    # A lower threshold reuses every score and asks only for the messages now due.
    _edit_meta(llm_env, "lead_scoring", scoring={"threshold": 40})
    third = _run("lead_scoring", limit=LIMIT)
    newly = [r for r in rows if 40 <= int(r["lead_score"]) < 70]
    assert _calls(fake_llm) == {"score": len(rows), "outreach": len(eligible) + len(newly)}
    assert third.llm["cache_hits"] == len(rows) + len(eligible)


def test_a_failed_outreach_message_keeps_the_score_and_lands_in_ignored(
    llm_env: Path, fake_llm: FakeLLM
) -> None:
    _edit_meta(llm_env, "lead_scoring")
    fake_llm.inject(Fault.error(400), times=1, when="Write the first outreach message")
    run = _run("lead_scoring", limit=LIMIT)
    assert run.status == "succeeded"
    failed = [r for r in _rows(run.outputs["ignored"]) if r["lead_score"]]
    assert len(failed) == 1 and failed[0]["outreach_eligible"] == "true"
    assert failed[0]["ignore_reason"].startswith("outreach message failed: llm rejected")
    assert not failed[0]["outreach_message"] and int(failed[0]["lead_score"]) >= 70


# --- extract -------------------------------------------------------------------------------


def _window_counts(warehouse: Path, by: str = "lead_key") -> dict[str, int]:
    """Messages per group in the recipe's 90-day window."""
    messages = pl.read_parquet(warehouse / "companies/messages.parquet")
    leads = pl.read_parquet(warehouse / "companies/leads.parquet")
    start = AS_OF.timestamp() - 90 * 86_400
    window = messages.filter(
        (pl.col("sent_at").dt.epoch("s") > start) & (pl.col("sent_at") <= AS_OF)
    ).join(leads.select("lead_key", pl.col(by).alias("_group")), on="lead_key")
    return dict(window.group_by("_group").len().iter_rows())


def _check_events(rows: list[dict[str, str]], warehouse: Path, types: set[str]) -> int:
    """events_json parses, cites only messages of its own company; returns the event count."""
    messages = pl.read_parquet(warehouse / "companies/messages.parquet")
    ids = {k: set(g["message_id"]) for (k,), g in messages.group_by("lead_key")}
    total = 0
    for row in rows:
        events = json.loads(row["events_json"])
        assert len(events) == int(row["event_count"])
        for event in events:
            assert event["type"] in types and 1 <= event["severity"] <= 5
            assert event["source_message_ids"]
            assert set(event["source_message_ids"]) <= ids[row["lead_key"]]
        total += len(events)
    return total


def test_extraction_batches_each_company_and_writes_one_followup(
    llm_env: Path, fake_llm: FakeLLM, warehouse: Path
) -> None:
    _edit_meta(llm_env, "investor_update", token_budget=200_000, extraction={"batch_size": BATCH})
    first = _run("investor_update")
    assert first.status == "succeeded"
    rows = _rows(first.outputs["analysis"])
    assert len(rows) == COMPANIES and first.ignored == 0

    counts = _window_counts(warehouse)
    assert max(counts.values()) > 2 * BATCH  # some companies need three batches or more
    calls = _calls(fake_llm)
    assert calls["batch"] == sum(math.ceil(n / BATCH) for n in counts.values())
    with_events = [r for r in rows if int(r["event_count"]) > 0]
    assert calls["followup"] == len(with_events) and set(calls) <= {"batch", "followup"}
    assert all(r["followup_subject"] and r["followup_body"] for r in with_events)
    meta = yaml.safe_load((llm_env / "investor_update/meta.yml").read_text())
    assert _check_events(rows, warehouse, set(meta["llm"]["extraction"]["event_types"])) > 0
    for batch in (r for r in fake_llm.requests if _kind(r) == "batch"):
        shown = re.findall(
            r"^\[id=(c\d{4}-m\d{4}) \d{4}-\d\d-\d\d \d\d:\d\d\] \w+: ", batch.user, re.M
        )
        allowed = batch.schema["$defs"]["Event"]["properties"]["source_message_ids"]["items"]
        assert shown and allowed["enum"] == shown  # only this batch's messages can be cited
    assert first.llm["batches"] == calls["batch"] and first.llm["groups"] == COMPANIES

    count = fake_llm.count
    second = _run("investor_update")
    assert fake_llm.count == count  # every batch and follow-up is cached
    assert second.llm["llm_calls"] == 0
    assert _answers(second.outputs["analysis"]) == _answers(first.outputs["analysis"])


def test_extraction_groups_by_a_lead_column(
    llm_env: Path, fake_llm: FakeLLM, warehouse: Path
) -> None:
    _edit_meta(
        llm_env,
        "investor_update",
        token_budget=200_000,
        extraction={"batch_size": BATCH, "group_by": "sector"},
    )
    run = _run("investor_update")
    assert run.status == "succeeded"
    rows = _rows(run.outputs["analysis"])
    counts = _window_counts(warehouse, by="sector")
    assert len(counts) < COMPANIES  # some companies share a sector
    assert _calls(fake_llm)["batch"] == sum(math.ceil(n / BATCH) for n in counts.values())
    by_sector: dict[str, set[str]] = {}
    for row in rows:
        by_sector.setdefault(row["sector"], set()).add(row["events_json"])
    assert all(len(v) == 1 for v in by_sector.values())  # one group, one result


def test_a_failed_batch_fails_its_whole_company(
    llm_env: Path, fake_llm: FakeLLM, warehouse: Path
) -> None:
    _edit_meta(llm_env, "investor_update", token_budget=200_000, extraction={"batch_size": BATCH})
    fake_llm.inject(Fault.violating(), times=None, when="[id=c0001-m0001 ")
    run = _run("investor_update")
    ignored = _rows(run.outputs["ignored"])
    assert [r["lead_key"] for r in ignored] == ["c0001"]
    assert ignored[0]["ignore_reason"].startswith("event extraction failed for batch c0001#1/")
    leads = pl.read_parquet(warehouse / "companies/leads.parquet")
    company = leads.filter(pl.col("lead_key") == "c0001")["company"][0]
    followups = [r.user for r in fake_llm.requests if _kind(r) == "followup"]
    assert followups and not [f for f in followups if f"for {company} (" in f]
    assert len(_rows(run.outputs["analysis"])) == COMPANIES - 1
