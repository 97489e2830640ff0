"""``analyze`` mode: one structured answer per conversation (``llm.output_schema``)."""

from __future__ import annotations

from typing import Any

import polars as pl

from common.llm.analysis import ANSWER_SOURCE, Item, Outcome
from common.llm.config import LLMConfig
from common.llm.modes import ModeResult
from common.ports.summarycache import SummaryCache
from common.processors.base import LEAD_KEY
from common.settings import Settings

IGNORE = "ignore_reason"
DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "category": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "list": pl.String(),
}
LIST_SEPARATOR = "; "
"""How a `list` answer is written into one CSV cell."""


def answers_frame(config: LLMConfig, outcomes: list[Outcome]) -> pl.DataFrame:
    """One row per outcome: lead_key, the answer's fields (typed), its source, the ignore reason."""
    schema: dict[str, Any] = {LEAD_KEY: pl.String(), IGNORE: pl.String()}
    schema.update({name: DTYPES[spec.type] for name, spec in config.output_schema.items()})
    schema[ANSWER_SOURCE] = pl.String()
    rows = []
    for outcome in outcomes:
        row: dict[str, Any] = {
            LEAD_KEY: outcome.lead_key,
            IGNORE: outcome.reason,
            ANSWER_SOURCE: outcome.source,
        }
        for name, spec in config.output_schema.items():
            value = (outcome.answer or {}).get(name)
            if spec.type == "list" and value is not None:
                value = LIST_SEPARATOR.join(str(v) for v in value)
            row[name] = value
        rows.append(row)
    return pl.DataFrame(rows, schema=schema, orient="row")


def digest_items(
    kept: pl.DataFrame, messages: pl.DataFrame, *, token_budget: int, timezone: str
) -> tuple[list[Item], pl.DataFrame]:
    """Items (lead fields + digest) for every kept lead with messages, and the digests frame."""
    from common.llm.digest import build_digests

    digests = build_digests(messages, token_budget=token_budget, timezone=timezone)
    rows = kept.join(digests.select(LEAD_KEY, "digest", "truncated"), on=LEAD_KEY, how="inner")
    items = [
        Item(
            lead_key=row[LEAD_KEY],
            fields={k: v for k, v in row.items() if k not in ("digest", "truncated")},
            digest=row["digest"],
        )
        for row in rows.iter_rows(named=True)
    ]
    return items, rows.select(LEAD_KEY, pl.col("truncated").alias("digest_truncated"))


class AnalyzeMode:
    """The default mode."""

    name = "analyze"

    def columns(self, config: LLMConfig) -> dict[str, pl.DataType]:
        """The output schema's fields, and where each answer came from (`answer_source`)."""
        columns = {name: DTYPES[spec.type] for name, spec in config.output_schema.items()}
        return {**columns, ANSWER_SOURCE: pl.String()}

    def run(
        self,
        *,
        recipe: Any,
        settings: Settings,
        cache: SummaryCache | None,
        read_cache: bool,
        kept: pl.DataFrame,
        messages: pl.DataFrame,
    ) -> ModeResult:
        """Digest each conversation and ask for its structured answer (through the cache)."""
        from common.llm.factory import build_analyzer

        items, truncation = digest_items(
            kept, messages, token_budget=recipe.llm.token_budget, timezone=recipe.meta.timezone
        )
        analyzer = build_analyzer(recipe, settings, cache, read_cache=read_cache)
        outcomes, stats = analyzer.run(items)
        frame = answers_frame(recipe.llm, outcomes).join(truncation, on=LEAD_KEY, how="left")
        return ModeResult(frame, stats.as_dict(), analyzer.client.stats.as_dict())
