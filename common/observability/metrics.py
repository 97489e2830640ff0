"""What a run cost and how it went, computed from its run document and step marks.

`run_metrics` reads only what the pipeline already records:

- the run document (``rows``, ``ignored``, ``seconds``, ``failed_shards``…);
- every step mark (``step``, ``shard``, ``status``, ``attempts``, ``result``), where
  ``result.seconds`` is the step's own time and the LLM steps add ``result.llm``
  (`AnalysisStats` counters: conversations, cache hits, calls, repairs, tokens,
  ignored reasons) and ``result.client`` (`LLMStats`: calls, retries, throttled,
  latency p50/p95 of that shard).

Latency is an approximation: each shard stores its own p50 and p95, not its
samples, so the run's **p50 is the mean of the shards' p50s weighted by their
successful calls** and its **p95 is the largest shard p95** (an upper bound of
the true p95, exact with one shard). ``latency.exact`` says which.

The cache hit rate is ``cache_hits / cache lookups``, where lookups are the
hits plus the first-time requests (client calls minus repair calls): for an
``analyze`` recipe without failures that is ``cache_hits / conversations``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from common.observability.prices import LLMPrice, estimate_cost, price_for

NO_MESSAGES = "no messages found for this lead"
"""The process step's ignore reason (leads without any message)."""

STAGE_ORDER = (
    "fetch_leads",
    "fetch_conversations",
    "process",
    "summarize",
    "cluster",
    "report",
)
"""Steps in chain order (`common.chain.STAGES`); others follow alphabetically."""

_CLIENT_COUNTERS = (
    "calls",
    "attempts",
    "retries",
    "throttled",
    "unavailable",
    "timeouts",
    "rejected",
    "failed",
    "limiter_waits",
)


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _sum_counters(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum numbers key by key (one level of nested dicts, e.g. ``reasons``)."""
    total: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            if isinstance(value, Mapping):
                bucket = total.setdefault(name, {})
                for key, count in value.items():
                    bucket[key] = bucket.get(key, 0) + _num(count)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                total[name] = total.get(name, 0) + value
    return total


def combine_latency(clients: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's latency from per-shard client stats (see the module docstring).

    Args:
        clients: `LLMStats.as_dict()` of each shard (``calls``, ``failed``,
            ``latency_p50_s``, ``latency_p95_s``).

    Returns:
        ``p50_s``, ``p95_s`` (None without samples), ``samples`` (successful
        calls), ``shards`` (shards with samples) and ``exact``.
    """
    weighted = 0.0
    samples = 0
    p95: float | None = None
    shards = 0
    for client in clients:
        if client.get("latency_p50_s") is None:
            continue
        n = max(int(_num(client.get("calls"))) - int(_num(client.get("failed"))), 1)
        weighted += _num(client["latency_p50_s"]) * n
        samples += n
        shards += 1
        p95 = max(p95 or 0.0, _num(client.get("latency_p95_s", client["latency_p50_s"])))
    return {
        "p50_s": round(weighted / samples, 4) if samples else None,
        "p95_s": round(p95, 4) if p95 is not None else None,
        "samples": samples,
        "shards": shards,
        "exact": shards <= 1,
    }


def stage_timings(steps: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per step name: marks, done/failed counts, attempts, retried marks, seconds sum and max."""
    stages: dict[str, dict[str, Any]] = {}
    for mark in steps:
        name = str(mark.get("step", "?"))
        stage = stages.setdefault(
            name,
            {
                "marks": 0,
                "done": 0,
                "failed": 0,
                "attempts": 0,
                "retried": 0,
                "seconds_sum": 0.0,
                "seconds_max": 0.0,
            },
        )
        stage["marks"] += 1
        status = mark.get("status")
        stage["done"] += status == "done"
        stage["failed"] += status == "failed"
        attempts = int(_num(mark.get("attempts"))) or 1
        stage["attempts"] += attempts
        stage["retried"] += attempts > 1
        seconds = _num((mark.get("result") or {}).get("seconds"))
        stage["seconds_sum"] = round(stage["seconds_sum"] + seconds, 3)
        stage["seconds_max"] = round(max(stage["seconds_max"], seconds), 3)
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    return dict(sorted(stages.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _wall_seconds(run: Mapping[str, Any]) -> float | None:
    if isinstance(run.get("seconds"), int | float):
        return float(run["seconds"])
    try:
        started = datetime.fromisoformat(str(run.get("created_at") or run["started_at"]))
        finished = datetime.fromisoformat(str(run["finished_at"]))
    except (KeyError, ValueError):
        return None
    return round((finished - started).total_seconds(), 3)


def _model_of(
    llm_results: list[Mapping[str, Any]], model: str | None, provider: str | None
) -> tuple[str | None, str | None]:
    # Explicit arguments win; otherwise a step result may name them (forward compatible
    # with a summarize step that records `model` / `provider` next to its counters).
    for result in llm_results:
        for part in (result, result.get("llm") or {}, result.get("client") or {}):
            model = model or part.get("model")
            provider = provider or part.get("provider")
    return model, provider


def run_metrics(
    run_doc: Mapping[str, Any],
    steps: Iterable[Mapping[str, Any]],
    prices: Mapping[str, LLMPrice],
    *,
    model: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Tokens, estimated cost, cache, latency, retries, ignored by reason, stage timings.

    Args:
        run_doc: The run document (after the report's summary, or with it merged in).
        steps: The run's step marks (`StateStore.list_steps`).
        prices: USD per million tokens by model (`Settings.llm_prices`).
        model: The model the LLM steps used (e.g. `resolve_model`); else read from the
            step results when they carry it; unknown: no cost.
        provider: Its provider (``local`` costs 0).

    Returns:
        A JSON-able dict: ``tokens``, ``cost``, ``llm``, ``latency``, ``retries``,
        ``ignored``, ``stages``, ``wall_seconds`` (see docs/evals.md), and
        ``messages_dropped`` (messages fetch-conversations dropped, by reason).
    """
    marks = list(steps)
    llm_results = [
        m["result"] for m in marks if isinstance((m.get("result") or {}).get("llm"), Mapping)
    ]
    llm = _sum_counters(r["llm"] for r in llm_results)
    clients = [r["client"] for r in llm_results if isinstance(r.get("client"), Mapping)]
    client = _sum_counters({k: c.get(k, 0) for k in _CLIENT_COUNTERS} for c in clients)

    input_tokens = int(llm.get("input_tokens", client.get("input_tokens", 0)))
    output_tokens = int(llm.get("output_tokens", client.get("output_tokens", 0)))
    model, provider = _model_of(llm_results, model, provider)
    price = price_for(model, provider, prices)
    # Batch answers (llm.batch) cost the price table's batch price; the rest the online price.
    batch_in = int(llm.get("batch_input_tokens", 0))
    batch_out = int(llm.get("batch_output_tokens", 0))
    online_usd = batch_usd = saved_usd = None
    if price:
        online_usd = estimate_cost(input_tokens - batch_in, output_tokens - batch_out, price)
        batch_usd = estimate_cost(batch_in, batch_out, price.batch())
        saved_usd = round(estimate_cost(batch_in, batch_out, price) - batch_usd, 6)
    cost: dict[str, Any] = {
        "usd": (
            round(online_usd + batch_usd, 6)
            if online_usd is not None and batch_usd is not None
            else None
        ),
        "batch_usd": round(batch_usd, 6) if batch_usd is not None else None,
        "batch_saved_usd": saved_usd,
        "model": model,
        "provider": provider,
        "input_per_mtok": price.input_per_mtok if price else None,
        "output_per_mtok": price.output_per_mtok if price else None,
    }

    cache_hits = int(llm.get("cache_hits", 0))
    repairs = int(llm.get("repairs", 0))
    if clients:
        lookups = cache_hits + max(int(client.get("calls", 0)) - repairs, 0)
    else:
        lookups = int(llm.get("conversations", 0))
    llm_part = {
        "conversations": int(llm.get("conversations", 0)),
        "cache_hits": cache_hits,
        "cache_lookups": lookups,
        "cache_hit_rate": round(cache_hits / lookups, 4) if lookups else None,
        "llm_calls": int(llm.get("llm_calls", 0)),
        "batch_calls": int(llm.get("batch_calls", 0)),
        "repairs": repairs,
        "ignored": int(llm.get("ignored", 0)),
    }

    llm_reasons = {k: int(v) for k, v in (llm.get("reasons") or {}).items()}
    no_messages = sum(
        int(_num((m.get("result") or {}).get("ignored")))
        for m in marks
        if m.get("step") == "process"
    )
    by_reason = {**({NO_MESSAGES: no_messages} if no_messages else {}), **llm_reasons}
    total_ignored = int(_num(run_doc.get("ignored", sum(by_reason.values()))))
    other = total_ignored - sum(by_reason.values())
    if other > 0:
        by_reason["other"] = other

    dropped: dict[str, int] = {}
    for mark in marks:
        if mark.get("step") == "fetch_conversations":
            for reason, count in ((mark.get("result") or {}).get("dropped") or {}).items():
                dropped[reason] = dropped.get(reason, 0) + int(_num(count))

    return {
        "messages_dropped": {"total": sum(dropped.values()), "by_reason": dropped},
        "tokens": {
            "input": input_tokens,
            "output": output_tokens,
            "total": input_tokens + output_tokens,
        },
        "cost": cost,
        "llm": llm_part,
        "latency": combine_latency(clients),
        "retries": {k: int(client.get(k, 0)) for k in _CLIENT_COUNTERS},
        "ignored": {"total": total_ignored, "by_reason": by_reason},
        "failed_shards": len(run_doc.get("failed_shards") or []),
        "stages": stage_timings(marks),
        "wall_seconds": _wall_seconds(run_doc),
    }


def resolve_model(recipe: Any, settings: Any) -> tuple[str | None, str | None]:
    """The (model, provider) the recipe's LLM steps use, as `build_analyzer` chooses them.

    ``LR_LLM_PROVIDER`` / ``LR_LLM_MODEL`` override the recipe; a provider override
    without a model uses that provider's default model. (None, None) without ``llm``.
    """
    from common.llm.factory import effective_provider_model

    config = getattr(recipe, "llm", None)
    if config is None:
        return None, None
    provider, model = effective_provider_model(settings, config.provider, config.model)
    return model, provider


# --- showing them --------------------------------------------------------------------


def _int(value: Any) -> str:
    return f"{int(_num(value)):,}"


def _secs(value: Any) -> str:
    return "-" if value is None else f"{_num(value):.2f} s"


def metrics_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs, one per line of `format_metrics` (for HTML tables too)."""
    rows: list[tuple[str, str]] = []
    tokens, cost, llm = metrics.get("tokens", {}), metrics.get("cost", {}), metrics.get("llm", {})
    if llm.get("conversations") or tokens.get("total"):
        if cost.get("usd") is not None:
            spend = f"est. ${cost['usd']:.4f}"
            if cost.get("model"):
                spend += f" ({cost['model']})"
        else:
            spend = f"cost unknown (no price for {cost.get('model') or 'an unnamed model'})"
        rows.append(
            (
                "tokens",
                f"{_int(tokens.get('input'))} in / {_int(tokens.get('output'))} out, {spend}",
            )
        )
        rate = llm.get("cache_hit_rate")
        rows.append(
            (
                "cache",
                f"{_int(llm.get('cache_hits'))} hits of {_int(llm.get('cache_lookups'))} "
                f"lookups ({'-' if rate is None else f'{100 * rate:.1f}%'}), "
                f"{_int(llm.get('llm_calls'))} LLM calls, {_int(llm.get('repairs'))} repairs "
                f"for {_int(llm.get('conversations'))} conversations",
            )
        )
        if llm.get("batch_calls"):
            saved = cost.get("batch_saved_usd")
            rows.append(
                (
                    "batch",
                    f"{_int(llm.get('batch_calls'))} answers by provider batch, "
                    f"{_int(llm.get('llm_calls'))} online calls"
                    + (
                        f", est. ${saved:.4f} saved at the batch price" if saved is not None else ""
                    ),
                )
            )
        latency = metrics.get("latency", {})
        if latency.get("samples"):
            note = "" if latency.get("exact") else f", approx. over {latency['shards']} shards"
            rows.append(
                (
                    "latency",
                    f"p50 {_secs(latency['p50_s'])}, p95 {_secs(latency['p95_s'])} "
                    f"({_int(latency['samples'])} calls{note})",
                )
            )
        retries = metrics.get("retries", {})
        rows.append(
            (
                "retries",
                f"{_int(retries.get('retries'))} (throttled {_int(retries.get('throttled'))}, "
                f"unavailable {_int(retries.get('unavailable'))}, timeouts "
                f"{_int(retries.get('timeouts'))}), failed calls {_int(retries.get('failed'))}",
            )
        )
    ignored = metrics.get("ignored", {})
    reasons = ", ".join(f"{k} {_int(v)}" for k, v in (ignored.get("by_reason") or {}).items())
    rows.append(("ignored", f"{_int(ignored.get('total'))}" + (f": {reasons}" if reasons else "")))
    if metrics.get("failed_shards"):
        rows.append(("failed", f"{_int(metrics['failed_shards'])} shard(s)"))
    for name, stage in (metrics.get("stages") or {}).items():
        text = f"{stage['marks']}× sum {_secs(stage['seconds_sum'])}"
        if stage["marks"] > 1:
            text += f", max {_secs(stage['seconds_max'])}"
        if stage.get("retried"):
            text += f", {stage['retried']} retried"
        if stage.get("failed"):
            text += f", {stage['failed']} failed"
        rows.append((f"stage {name}", text))
    rows.append(("wall", _secs(metrics.get("wall_seconds"))))
    return rows


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """The metrics as aligned text lines, for `lead-recovery runs show` and logs."""
    rows = metrics_rows(metrics)
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{label:<{width}}  {text}" for label, text in rows)
