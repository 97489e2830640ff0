"""Run metrics add up from step marks; prices; text lines; optional tracing spans."""

from __future__ import annotations

import logging

import pytest

from common.observability import tracing
from common.observability.metrics import (
    NO_MESSAGES,
    combine_latency,
    format_metrics,
    metrics_rows,
    run_metrics,
)
from common.observability.prices import DEFAULT_LLM_PRICES, LLMPrice, price_for
from common.settings import Settings


def _summarize(
    shard: int,
    *,
    hits: int,
    calls: int,
    repairs: int = 0,
    failed: int = 0,
    p50: float = 0.1,
    p95: float = 0.2,
    reasons: dict | None = None,
    attempts: int = 1,
    seconds: float = 1.0,
) -> dict:
    answered = calls - repairs  # first-time calls that got an answer
    conversations = hits + answered + failed
    return {
        "step": "summarize",
        "shard": shard,
        "status": "done",
        "attempts": attempts,
        "result": {
            "llm": {
                "conversations": conversations,
                "cache_hits": hits,
                "llm_calls": calls,
                "repairs": repairs,
                "ignored": sum((reasons or {}).values()),
                "input_tokens": 1000 * calls,
                "output_tokens": 100 * calls,
                "reasons": reasons or {},
            },
            "client": {
                "calls": calls + failed,
                "attempts": calls + failed + 2,
                "retries": 2,
                "throttled": 1,
                "unavailable": 1,
                "timeouts": 0,
                "rejected": 0,
                "failed": failed,
                "input_tokens": 1000 * calls,
                "output_tokens": 100 * calls,
                **({"latency_p50_s": p50, "latency_p95_s": p95} if calls else {}),
            },
            "seconds": seconds,
        },
    }


def _marks() -> list[dict]:
    return [
        {
            "step": "fetch_leads",
            "shard": -1,
            "status": "done",
            "attempts": 1,
            "result": {"leads": 30, "seconds": 0.5},
        },
        {
            "step": "process",
            "shard": 0,
            "status": "done",
            "attempts": 1,
            "result": {"rows": 15, "ignored": 2, "seconds": 0.3},
        },
        {
            "step": "process",
            "shard": 1,
            "status": "done",
            "attempts": 2,
            "result": {"rows": 15, "ignored": 1, "seconds": 0.7},
        },
        _summarize(
            0,
            hits=4,
            calls=10,
            repairs=1,
            p50=0.1,
            p95=0.4,
            seconds=2.0,
            reasons={"llm answer invalid after one repair": 1},
        ),
        _summarize(
            1,
            hits=2,
            calls=8,
            failed=2,
            p50=0.3,
            p95=0.9,
            seconds=3.5,
            reasons={"llm call failed after retries": 2},
        ),
        {"step": "summarize", "shard": 2, "status": "failed", "attempts": 3, "result": None},
    ]


RUN = {"ignored": 7, "seconds": 12.5, "failed_shards": [2], "rows": 20}


def test_counts_add_up_across_shards() -> None:
    m = run_metrics(RUN, _marks(), DEFAULT_LLM_PRICES, model="gpt-4o-mini", provider="openai")
    assert m["tokens"] == {"input": 18_000, "output": 1_800, "total": 19_800}
    llm = m["llm"]
    # shard 0: 4 hits + 9 answered; shard 1: 2 hits + 8 answered + 2 failed
    assert llm["conversations"] == 25
    assert llm["cache_hits"] == 6 and llm["llm_calls"] == 18 and llm["repairs"] == 1
    # every conversation is one cache lookup: hits + client calls - repair calls
    assert llm["cache_lookups"] == llm["conversations"] == 6 + 20 - 1
    assert llm["cache_hit_rate"] == pytest.approx(6 / 25)
    assert m["retries"]["retries"] == 4 and m["retries"]["failed"] == 2
    assert m["ignored"] == {
        "total": 7,
        "by_reason": {
            NO_MESSAGES: 3,
            "llm answer invalid after one repair": 1,
            "llm call failed after retries": 2,
            "other": 1,
        },
    }
    assert m["failed_shards"] == 1 and m["wall_seconds"] == 12.5


def test_cost_uses_the_price_table_and_local_is_free() -> None:
    m = run_metrics(RUN, _marks(), DEFAULT_LLM_PRICES, model="gpt-4o-mini", provider="openai")
    assert m["cost"]["usd"] == pytest.approx((18_000 * 0.15 + 1_800 * 0.60) / 1e6)
    dated = run_metrics(RUN, _marks(), DEFAULT_LLM_PRICES, model="gpt-4o-mini-2024-07-18")
    assert dated["cost"]["usd"] == m["cost"]["usd"]  # longest priced prefix
    assert (
        run_metrics(RUN, _marks(), DEFAULT_LLM_PRICES, model="x", provider="local")["cost"]["usd"]
        == 0
    )
    unknown = run_metrics(RUN, _marks(), DEFAULT_LLM_PRICES, model="mystery-9")
    assert unknown["cost"]["usd"] is None
    assert "cost unknown" in format_metrics(unknown)


def test_prices_come_from_settings_over_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "LR_LLM_PRICES",
        '{"gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 2}, '
        '"in-house": {"input_per_mtok": 0.5, "output_per_mtok": 0.5}}',
    )
    prices = Settings().llm_prices
    assert prices["gpt-4o"] == LLMPrice(input_per_mtok=1, output_per_mtok=2)
    assert prices["gpt-4o-mini"] == DEFAULT_LLM_PRICES["gpt-4o-mini"]  # kept
    assert price_for("gpt-4o-2024-11-20", "openai", prices) == prices["gpt-4o"]
    assert price_for("gpt-4o-mini-x", "openai", prices) == DEFAULT_LLM_PRICES["gpt-4o-mini"]
    assert price_for("in-house", "openai", prices) == LLMPrice(
        input_per_mtok=0.5, output_per_mtok=0.5
    )


def test_latency_is_weighted_p50_and_max_p95() -> None:
    m = run_metrics(RUN, _marks(), DEFAULT_LLM_PRICES)
    # weights: successful calls per shard (10 and 8)
    assert m["latency"]["p50_s"] == pytest.approx((0.1 * 10 + 0.3 * 8) / 18, abs=1e-4)
    assert m["latency"]["p95_s"] == 0.9
    assert m["latency"]["samples"] == 18 and not m["latency"]["exact"]
    one = combine_latency([{"calls": 3, "failed": 0, "latency_p50_s": 0.2, "latency_p95_s": 0.5}])
    assert one == {"p50_s": 0.2, "p95_s": 0.5, "samples": 3, "shards": 1, "exact": True}
    assert combine_latency([{"calls": 0}])["p50_s"] is None


def test_stage_timings_sum_max_and_retries() -> None:
    stages = run_metrics(RUN, _marks(), DEFAULT_LLM_PRICES)["stages"]
    assert list(stages) == ["fetch_leads", "process", "summarize"]
    assert stages["process"]["seconds_sum"] == 1.0 and stages["process"]["seconds_max"] == 0.7
    assert stages["process"]["retried"] == 1 and stages["process"]["attempts"] == 3
    summarize = stages["summarize"]
    assert (summarize["marks"], summarize["done"], summarize["failed"]) == (3, 2, 1)
    assert summarize["seconds_sum"] == 5.5


def test_text_lines_show_every_figure() -> None:
    m = run_metrics(RUN, _marks(), DEFAULT_LLM_PRICES, model="gpt-4o-mini", provider="openai")
    labels = [label for label, _ in metrics_rows(m)]
    assert labels[:4] == ["tokens", "cache", "latency", "retries"]
    text = format_metrics(m)
    assert "18,000 in / 1,800 out, est. $0.0038 (gpt-4o-mini)" in text
    assert "6 hits of 25 lookups (24.0%)" in text
    assert "approx. over 2 shards" in text
    rows = dict(metrics_rows(m))
    assert rows["stage summarize"] == "3× sum 5.50 s, max 3.50 s, 1 retried, 1 failed"
    assert rows["wall"] == "12.50 s"
    assert text.splitlines()[-1].split() == ["wall", "12.50", "s"]


def test_a_run_without_llm_steps() -> None:
    marks = [m for m in _marks() if m["step"] != "summarize"]
    m = run_metrics({"ignored": 3}, marks, DEFAULT_LLM_PRICES)
    assert m["tokens"]["total"] == 0 and m["llm"]["cache_hit_rate"] is None
    assert m["latency"]["p50_s"] is None and m["wall_seconds"] is None
    assert [label for label, _ in metrics_rows(m)][0] == "ignored"


# --- tracing ------------------------------------------------------------------------


@pytest.fixture
def _tracing_reset():
    tracing.reset()
    yield
    tracing.reset()


@pytest.mark.usefixtures("_tracing_reset")
def test_spans_are_off_by_default() -> None:
    with tracing.span("step.summarize", shard=1) as current:
        assert current is None
    assert tracing.current_trace_id() is None


@pytest.mark.usefixtures("_tracing_reset")
def test_spans_nest_carry_attributes_and_record_errors() -> None:
    pytest.importorskip("opentelemetry.sdk", reason="needs the `otel` extra")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    exporter = InMemorySpanExporter()
    tracing.configure(exporter)
    with tracing.span("step.summarize", run_id="r1", shard=2, skipped=None):
        trace_id = tracing.current_trace_id()
        with pytest.raises(RuntimeError), tracing.span("llm.call", model="gpt-4o-mini"):
            raise RuntimeError("boom")
    inner, outer = exporter.get_finished_spans()
    assert (inner.name, outer.name) == ("llm.call", "step.summarize")
    assert dict(outer.attributes or {}) == {"run_id": "r1", "shard": 2}
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    assert inner.status.status_code is StatusCode.ERROR
    assert trace_id == f"{outer.context.trace_id:032x}"


@pytest.mark.usefixtures("_tracing_reset")
def test_a_missing_exporter_warns_once_and_stays_off(caplog: pytest.LogCaptureFixture) -> None:
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the OTLP exporter is installed here")
    caplog.set_level(logging.WARNING)
    assert tracing.configure(name="otlp") is None
    assert "lead-recovery[otel]" in caplog.text
    with tracing.span("x") as current:
        assert current is None
