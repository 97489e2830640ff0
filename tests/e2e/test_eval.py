"""`lead-recovery eval` against the test LLM server, and run metrics that add up on a real run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner, Result

from common.evals.cli import eval_command
from common.evals.judge import JUDGE_SYSTEM
from common.messages import RunOptions
from common.observability.metrics import format_metrics, resolve_model, run_metrics
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF
from tests.support.fake_llm import FakeLLM, default_answer

KEY = "sk-test-eeeeeeeeeeeeeeeeeeeeeeee"
RUBRIC = "Friendly, in the customer's language, answers the last concern, no invented promises."


def _msg(hour: int, sender: str, text: str | None) -> dict:
    return {"sent_at": f"2026-11-19T{hour:02d}:00:00Z", "sender": sender, "text": text}


TINY_CASES = [
    {
        "id": "price",
        "lead": {"name": "Ana"},
        "messages": [
            _msg(10, "bot", "Tu tasa es de 62% anual"),
            _msg(11, "user", "uy sí, súper barato 🙃"),
        ],
        "expected": {"primary_stall_reason_code": "PRICE_OR_TERMS", "recovery_score": 30},
    },
    {
        "id": "paid",
        "lead": {"name": "Camila"},
        "messages": [_msg(10, "bot", "Tu cuota vence hoy"), _msg(11, "user", "ya lo pagué")],
        "expected": {"next_action": "HUMAN_FOLLOW_UP", "recovery_score": 35},
    },
    {
        "id": "thumbs",
        "lead": {"name": "Jesús"},
        "messages": [_msg(10, "bot", "¿Quieres que un asesor te llame?"), _msg(12, "user", "👍")],
        "expected": {
            "primary_stall_reason_code": "WAITING_FOR_ADVISOR",
            "next_action": ["CALL_NOW", "HUMAN_FOLLOW_UP"],
            "recovery_score": 80,
        },
    },
    {
        "id": "no",
        "lead": {"name": "Tyler", "language": "en"},
        "messages": [_msg(9, "bot", "Want to continue?"), _msg(15, "user", "🙅‍♂️")],
        "expected": {"primary_stall_reason_code": "NOT_INTERESTED", "recovery_score": 10},
    },
    {
        "id": "busy",
        "lead": {"name": "Sarah", "language": "en"},
        "messages": [_msg(8, "bot", "Ready to finish?"), _msg(9, "user", "next week, busy")],
        "expected": {"primary_stall_reason_code": "NEEDS_TIME", "next_action": "SEND_REMINDER"},
    },
]


@pytest.fixture
def eval_env(
    local_env: Path,
    recipes_dir: Path,
    sample_dir: Path,
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """stall_reasons on the test server (OpenAI protocol) with a small eval set `tiny`.

    `tiny` has five inline cases and one case read from the sample warehouse by lead key.
    """
    meta_path = recipes_dir / "stall_reasons/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["shard_size"] = 10
    meta["llm"].pop("rules", None)  # one call per case here (rules: test_llm_rules.py)
    meta["llm"]["limits"] = {
        "concurrency": 8,
        "retries": 2,
        "timeout_seconds": 5,
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.2,
    }
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    monkeypatch.setenv("LR_LLM_PROVIDER", "openai")
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", KEY)
    truth = pl.read_parquet(sample_dir / "demo/ground_truth.parquet")
    never = truth.filter(pl.col("scenario") == "never_replied")["lead_key"].sort()[0]
    cases = [
        *TINY_CASES,
        {
            "id": "warehouse",
            "lead_key": never,
            "expected": {"primary_stall_reason_code": "NO_REPLY"},
        },
    ]
    _write_tiny(recipes_dir, cases, thresholds={})
    return recipes_dir


def _write_tiny(recipes: Path, cases: list[dict], thresholds: dict) -> None:
    doc = {
        "as_of": AS_OF.isoformat(),
        "lead": {"country": "MX", "product": "personal_loan", "language": "es"},
        "judge": [{"field": "suggested_message", "rubric": RUBRIC}],
        "eval_thresholds": thresholds,
        "cases": cases,
    }
    path = recipes / "stall_reasons/evals/tiny.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _set_thresholds(recipes: Path, thresholds: dict) -> None:
    path = recipes / "stall_reasons/evals/tiny.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["eval_thresholds"] = thresholds
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _eval(*args: str | Path) -> Result:
    return CliRunner().invoke(eval_command, ["--recipe", "stall_reasons", *map(str, args)])


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8")))


def _metric(out: Path, variant: str, field: str, metric: str, group: str = "tiny") -> float:
    rows = _csv(out / "summary.csv")
    [row] = [r for r in rows if (r["variant"], r["set"], r["field"]) == (variant, group, field)]
    return float(row[metric])


def test_gate_fails_then_passes_and_a_rerun_is_fully_cached(
    eval_env: Path, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    first = _eval("--set", "tiny", "--out", tmp_path / "one")
    assert first.exit_code == 0, first.output  # no thresholds yet
    assert "(no eval_thresholds in the eval sets)" in first.output
    answers = [r for r in fake_llm.requests if r.system != JUDGE_SYSTEM]
    judged = [r for r in fake_llm.requests if r.system == JUDGE_SYSTEM]
    assert len(answers) == 6 and len(judged) == 6  # every case, every suggested_message
    assert any("omitted" in r.user or "[20" in r.user for r in answers)  # digests were sent
    accuracy = _metric(tmp_path / "one", "A", "primary_stall_reason_code", "accuracy")
    mae = _metric(tmp_path / "one", "A", "recovery_score", "mae")
    cases = _csv(tmp_path / "one/cases.csv")
    expected_acc = [
        r["passed"] == "True" for r in cases if r["field"] == "primary_stall_reason_code"
    ]
    assert len(expected_acc) == 5 and accuracy == pytest.approx(sum(expected_acc) / 5)
    assert mae > 1

    calls = fake_llm.count
    _set_thresholds(
        eval_env,
        {"primary_stall_reason_code": {"accuracy": accuracy}, "recovery_score": {"mae": mae - 1}},
    )
    failing = _eval("--set", "tiny", "--out", tmp_path / "two")
    assert failing.exit_code == 1, failing.output
    assert f"FAIL  tiny: recovery_score mae {mae:.3f} > {mae - 1:g}" in failing.output
    assert f"ok    tiny: primary_stall_reason_code accuracy {accuracy:.3f} >=" in failing.output
    gates = _csv(tmp_path / "two/gates.csv")
    assert [g["passed"] for g in gates] == ["True", "False"]

    _set_thresholds(
        eval_env,
        {"primary_stall_reason_code": {"accuracy": accuracy}, "recovery_score": {"mae": mae}},
    )
    passing = _eval("--set", "tiny", "--out", tmp_path / "three")
    assert passing.exit_code == 0, passing.output
    assert "FAIL" not in passing.output

    assert fake_llm.count == calls  # the second and third runs were answered by the cache
    assert "A cache    6 hits of 6 lookups (100.0%), 0 LLM calls" in passing.output
    assert "A judge cache  6 hits of 6 lookups (100.0%)" in passing.output
    assert _csv(tmp_path / "three/cases.csv") == cases

    fresh = _eval("--set", "tiny", "--no-cache", "--no-judge", "--out", tmp_path / "four")
    assert fresh.exit_code == 0 and fake_llm.count == calls + 6


def test_comparison_of_two_prompts_prints_per_field_differences(
    eval_env: Path, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    prompt_b = tmp_path / "prompt_b.txt"
    prompt_b.write_text((eval_env / "stall_reasons/prompt.txt").read_text() + "\nAnswer tersely.\n")
    out = tmp_path / "out"
    result = _eval("--set", "tiny", "--compare", prompt_b, "--no-judge", "--out", out)
    assert result.exit_code == 0, result.output
    assert "comparison: A: prompt.txt @ openai/gpt-4o-mini  vs  B: prompt_b.txt" in result.output
    b_requests = [r for r in fake_llm.requests if "Answer tersely." in r.user]
    assert len(b_requests) == 6 and fake_llm.count == 12
    section = result.output.split("comparison:", 1)[1]
    for field, metric in (
        ("primary_stall_reason_code", "accuracy"),
        ("recovery_score", "mae"),
        ("next_action", "accuracy"),
    ):
        a = _metric(out, "A", field, metric)
        b = _metric(out, "B", field, metric)
        digits = 2 if metric == "mae" else 3
        line = next(row for row in section.splitlines() if f" {field} " in row and metric in row)
        assert line.split()[3:6] == [f"{a:.{digits}f}", f"{b:.{digits}f}", f"{b - a:+.{digits}f}"]
    changed = section.split("answers that differ: ", 1)[1].splitlines()[0]
    assert "suggested_message: " in changed and "/6" in changed
    rows = {(r["set"], r["field"], r["metric"]): r for r in _csv(out / "comparison.csv")}
    mae = rows[("tiny", "recovery_score", "mae")]
    assert float(mae["delta"]) == pytest.approx(float(mae["b"]) - float(mae["a"]))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Answers that differ between A and B" in html and "prompt_b.txt" in html


def test_invalid_input_exits_2_before_any_call(
    eval_env: Path, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    bad_prompt = tmp_path / "bad.txt"
    bad_prompt.write_text("Customer {surname}: {conversation}")
    result = _eval("--set", "tiny", "--prompt", bad_prompt)
    assert result.exit_code == 2, result.output
    assert "placeholder `{surname}`" in result.output and "bad.txt" in result.output

    _write_tiny(eval_env, [{**TINY_CASES[0], "expected": {"recovery": 3}}], thresholds={})
    result = _eval("--set", "tiny")
    assert result.exit_code == 2
    assert "tiny.yaml: case `price` expected.recovery" in result.output
    assert "did you mean `recovery_score`?" in result.output

    assert _eval("--set", "nope").exit_code == 2
    assert fake_llm.count == 0


def test_the_repository_sets_run_with_judge_and_report(
    eval_env: Path, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _eval("--set", "generated", "--set", "hard_cases", "--limit", "2", "--out", out)
    assert result.exit_code in (0, 1), result.output  # the fake model may miss the gate
    assert "eval stall_reasons: 4 cases (generated 2, hard_cases 2)" in result.output
    judged = [r for r in fake_llm.requests if r.system == JUDGE_SYSTEM]
    assert len(judged) == 2 and all("Rubric" in r.user for r in judged)
    gates = _csv(out / "gates.csv")
    assert {(g["set"], g["field"], g["metric"]) for g in gates} >= {
        ("generated", "primary_stall_reason_code", "accuracy"),
        ("hard_cases", "recovery_score", "mae"),
        ("hard_cases", "suggested_message", "judge_mean"),
    }
    assert (result.exit_code == 1) == any(g["passed"] == "False" for g in gates)
    html = (out / "report.html").read_text(encoding="utf-8")
    for part in ("Run metrics", "Confusion tables", "judge:", "est. $", "hard_cases"):
        assert part in html


def test_run_metrics_add_up_on_a_real_run(eval_env: Path, fake_llm: FakeLLM) -> None:
    from common.local_runner import run_recipe

    ctx = StepContext.from_settings(Settings())
    options = RunOptions(as_of=AS_OF, limit=24)
    summary = run_recipe(ctx, "stall_reasons", options, progress=False)
    assert summary.status == "succeeded" and summary.shards == 3
    state = ctx.backends.state
    model, provider = resolve_model(ctx.recipe("stall_reasons"), ctx.settings)
    assert (model, provider) == ("gpt-4o-mini", "openai")

    def metrics(run_id: str) -> dict:
        run = state.get_run(run_id) or {}
        return run_metrics(
            run, state.list_steps(run_id), ctx.settings.llm_prices, model=model, provider=provider
        )

    m = metrics(summary.run_id)
    llm = m["llm"]
    assert llm["conversations"] == summary.llm["conversations"] > 0
    assert llm["cache_hits"] + llm["llm_calls"] == llm["conversations"] == fake_llm.count
    assert llm["cache_hit_rate"] == 0
    inputs = sum(len(r.system + r.user) // 4 + 1 for r in fake_llm.requests)
    outputs = sum(
        len(json.dumps(default_answer(r.schema, r.user), ensure_ascii=False)) // 4 + 1
        for r in fake_llm.requests
    )
    assert m["tokens"] == {"input": inputs, "output": outputs, "total": inputs + outputs}
    assert m["cost"]["usd"] == pytest.approx((inputs * 0.15 + outputs * 0.60) / 1e6, abs=1e-6)
    assert (
        m["latency"]["samples"] == fake_llm.count and m["latency"]["p95_s"] >= m["latency"]["p50_s"]
    )
    assert m["ignored"]["total"] == summary.ignored == sum(m["ignored"]["by_reason"].values())
    assert summary.rows + summary.ignored == summary.leads
    stages = m["stages"]
    assert stages["summarize"]["marks"] == stages["process"]["marks"] == summary.shards
    assert list(stages) == ["fetch_leads", "fetch_conversations", "process", "summarize", "report"]
    assert m["wall_seconds"] is not None and m["wall_seconds"] >= stages["summarize"]["seconds_max"]
    assert "hits of" in format_metrics(m)

    again = run_recipe(ctx, "stall_reasons", options, progress=False)
    m2 = metrics(again.run_id)
    assert m2["llm"]["cache_hits"] == m2["llm"]["conversations"] == llm["conversations"]
    assert m2["llm"]["cache_hit_rate"] == 1.0 and m2["tokens"]["total"] == 0
    assert m2["cost"]["usd"] == 0 and fake_llm.count == llm["conversations"]
