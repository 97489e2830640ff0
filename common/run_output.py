"""What `lead-recovery run` prints besides the run itself: the `--dry-run` plan and
cost preview, and the line of answers by source."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click


def sources_line(sources: dict[str, int]) -> str:
    """``rules 2, cache 0, model 4, batch 0``: answered conversations by source."""
    from common.llm.analysis import SOURCES

    labels = {"rule": "rules"}
    return ", ".join(f"{labels.get(name, name)} {sources.get(name, 0)}" for name in SOURCES)


def print_plan(settings: Any, request: Any) -> None:
    from common.steps.context import StepContext
    from common.steps.fetch_leads import plan_run

    plan = plan_run(StepContext.from_settings(settings), request, now=datetime.now(UTC))

    def read(estimate: Any) -> str:
        if estimate is None:
            return "-"
        if estimate.bytes is not None:
            return f"{_size(estimate.bytes)} (BigQuery dry run)"
        return f"{estimate.rows:,} rows"

    click.echo(f"dry run of recipe {request.recipe}: nothing was started")
    click.echo(f"leads          {plan.leads:,} in {plan.shards:,} shard(s) of {plan.shard_size:,}")
    click.echo(f"leads query    reads {read(plan.leads_read)}")
    click.echo(f"conversations  one scan reads {read(plan.conversations_read)}")
    cap = plan.maximum_bytes_billed
    click.echo(f"bytes cap      {_size(cap) if cap else 'none'} (maximum_bytes_billed)")
    if plan.llm is not None:
        _print_llm_preview(plan.llm)


def _print_llm_preview(preview: Any) -> None:
    """The cost preview lines of `run --dry-run` (`common.llm.preview.LLMPreview`)."""

    def usd(value: float | None) -> str:
        return (
            "unknown (no price for this model: LR_LLM_PRICES)"
            if value is None
            else f"${value:,.4f}"
        )

    limits = preview.limits
    click.echo(f"llm            {preview.mode} with {preview.provider}/{preview.model}")
    click.echo(f"to answer      {preview.conversations:,} conversations (leads with messages)")
    click.echo(f"rules          {preview.rule_answers:,} answered by rules (no call)")
    click.echo(f"cache hits     {preview.cache_hits:,} expected (keys found in the summary cache)")
    click.echo(f"calls          {preview.calls:,} to make (before repairs)")
    basis = (
        f"mean of {preview.output_estimated_from:,} cached answers"
        if preview.output_estimated_from
        else "at most max_output_tokens per call"
    )
    click.echo(
        f"tokens         {preview.input_tokens:,} input + {preview.output_tokens:,} output ({basis})"
    )
    click.echo(f"cost online    {usd(preview.cost_usd)}")
    discount = preview.batch_discount
    off = f" ({discount:.0%} off)" if discount else " (no batch discount in the price table)"
    click.echo(f"cost batch     {usd(preview.batch_cost_usd)}{off if discount is not None else ''}")
    if preview.minutes is None:
        pace = f"no rpm/tpm limit: bounded by concurrency {limits['concurrency']} and latency"
    else:
        pace = (
            f"{_minutes(preview.minutes)} at rpm {limits['rpm'] or '-'}, tpm {limits['tpm'] or '-'}"
        )
    click.echo(f"call time      {pace}")
    if preview.note:
        click.echo(f"note           {preview.note}")


def _minutes(value: float) -> str:
    if value < 1:
        return f"{value * 60:.0f} s"
    if value < 120:
        return f"{value:.1f} min"
    return f"{value / 60:.1f} h"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{count:,} B" if unit == "B" else f"{value:.1f} {unit} ({count:,} B)"
        value /= 1000
    return f"{count:,} B"  # pragma: no cover
