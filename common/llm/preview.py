"""The `--dry-run` cost preview of a recipe's LLM step: calls, cache hits, tokens, cost, time.

It does what summarize would up to the call: reads the leads' conversations
with the recipe's SQL (one query), runs the processors in-process
(`compute_features`), applies `llm.rules`, renders every prompt and computes
its cache key, and looks the keys up in the summary cache. Nothing is sent to
the provider, so no key is needed.

Input tokens are counted offline (tiktoken ``o200k_base``) over the system
message, the rendered prompt and the JSON Schema, as the client's rate
limiter counts them. Output tokens are estimated from the cached answers
found (their JSON, counted the same way), else taken as ``max_output_tokens``
per call (an upper bound). Repairs are not foreseen.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from common.processors.base import LEAD_KEY, MESSAGE_SCHEMA, require_message_columns

IGNORE = "ignore_reason"


@dataclass(frozen=True)
class LLMPreview:
    """What the LLM step of a run would cost.

    Attributes:
        mode: The recipe's ``llm.mode``.
        provider: The effective provider (`LR_LLM_PROVIDER` over the recipe).
        model: The effective model.
        conversations: Leads with messages the step would answer.
        rule_answers: Conversations a rule answers outright (no call).
        cache_hits: Calls the summary cache answers.
        calls: Calls to make (before repairs).
        input_tokens: Their input tokens (o200k estimate).
        output_tokens: Their estimated output tokens.
        output_estimated_from: Cached answers the output estimate comes from
            (0: ``max_output_tokens`` per call, an upper bound).
        cost_usd: Online cost (None: the model has no price).
        batch_cost_usd: Cost through the provider's batch interface.
        batch_discount: The price table's batch discount of the model.
        minutes: How long the calls take at the recipe's rpm/tpm (None: no limit).
        limits: ``rpm``, ``tpm``, ``concurrency`` used for ``minutes``.
        note: What the preview leaves out (e.g. calls that depend on first answers).
    """

    mode: str
    provider: str
    model: str
    conversations: int
    rule_answers: int
    cache_hits: int
    calls: int
    input_tokens: int
    output_tokens: int
    output_estimated_from: int
    cost_usd: float | None
    batch_cost_usd: float | None
    batch_discount: float | None
    minutes: float | None
    limits: dict[str, int | None]
    note: str | None = None


def read_conversations(
    ctx: Any, recipe: Any, leads: pl.DataFrame, as_of: datetime, job: Any
) -> pl.DataFrame:
    """The leads' messages, read once with the recipe's conversations SQL."""

    where = recipe.where(recipe.meta.conversations_sql)
    table = ctx.backends.warehouse.query(
        recipe.conversations_sql,
        {"as_of": as_of, "recipe": recipe.name, "lead_keys": leads[LEAD_KEY].to_list()},
        where=where,
        job=job,
    )
    messages = pl.from_arrow(table)
    assert isinstance(messages, pl.DataFrame)
    require_message_columns(messages.columns, where=where)
    # The same contract as fetch-conversations, so the preview sees what a run would.
    from common.processors.base import conform_messages

    conformed, _ = conform_messages(
        messages.select(list(MESSAGE_SCHEMA)),
        where=where,
        sender_map=recipe.meta.sender_map,
        sent_at_timezone=recipe.meta.sent_at_timezone,
    )
    return conformed


def request_tokens(request: Any) -> int:
    """Input tokens of one request: system, user message and schema (o200k)."""
    from common.llm.tokens import count_tokens

    schema = json.dumps(request.json_schema, separators=(",", ":")) if request.json_schema else ""
    return count_tokens(request.system) + count_tokens(request.user) + count_tokens(schema)


def preview_llm(
    ctx: Any, recipe: Any, options: Any, leads: pl.DataFrame, messages: pl.DataFrame
) -> LLMPreview | None:
    """The cost preview of ``recipe``'s LLM step over ``leads`` and their ``messages``.

    None when the recipe's mode has no ``plan`` hook (`score`, `extract`).

    Args:
        ctx: Settings and backends (the summary cache is read, never written).
        recipe: A recipe with an ``llm`` section.
        options: The run options (``as_of`` set; ``no_cache`` reads no cache).
        leads: The run's leads (after ``--limit``).
        messages: Their messages (`read_conversations`).
    """
    from common.llm.factory import effective_provider_model
    from common.llm.modes import get_mode
    from common.llm.tokens import count_tokens
    from common.observability.prices import estimate_cost, price_for
    from common.processors.base import normalize_messages
    from common.steps.process import compute_features

    settings = ctx.settings
    config = recipe.llm
    provider, model = effective_provider_model(settings, config.provider, config.model)
    features = compute_features(recipe, options, leads, messages)
    kept = features.filter(pl.col(IGNORE).is_null()).drop(IGNORE)
    normalized = normalize_messages(messages).filter(
        pl.col(LEAD_KEY).is_in(kept[LEAD_KEY].implode())
    )
    hook = getattr(get_mode(config.mode), "plan", None)
    if hook is None:
        return None  # the mode's later calls depend on its first answers: no preview
    plan = hook(
        recipe=recipe,
        settings=settings,
        cache=ctx.backends.cache if settings.llm_cache else None,
        read_cache=not options.no_cache,
        kept=kept,
        messages=normalized,
    )
    calls = len(plan.requests)
    input_tokens = sum(request_tokens(r) for r in plan.requests)
    if plan.cached_answers:
        sizes = [count_tokens(json.dumps(a, ensure_ascii=False)) for a in plan.cached_answers]
        per_call = min(config.max_output_tokens, math.ceil(sum(sizes) / len(sizes)))
    else:
        per_call = config.max_output_tokens
    output_tokens = per_call * calls
    price = price_for(model, provider, settings.llm_prices)
    cost = estimate_cost(input_tokens, output_tokens, price) if price else None
    batch = estimate_cost(input_tokens, output_tokens, price.batch()) if price else None
    limits = config.limits
    bounds = []
    if limits.rpm:
        bounds.append(calls / limits.rpm)
    if limits.tpm:
        # The limiter reserves input + max_output_tokens per call, then settles.
        bounds.append((input_tokens + output_tokens) / limits.tpm)
    return LLMPreview(
        mode=config.mode,
        provider=provider,
        model=model,
        conversations=plan.conversations,
        rule_answers=plan.rule_answers,
        cache_hits=plan.cache_hits,
        calls=calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        output_estimated_from=len(plan.cached_answers),
        cost_usd=cost,
        batch_cost_usd=batch,
        batch_discount=price.batch_discount if price else None,
        minutes=max(bounds) if bounds else None,
        limits={"rpm": limits.rpm, "tpm": limits.tpm, "concurrency": limits.concurrency},
        note=plan.note,
    )
