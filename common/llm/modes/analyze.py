"""``analyze`` mode: one structured answer per conversation (``llm.output_schema``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from common.counters import merge_counters
from common.llm.analysis import Analyzer
from common.llm.config import AnswerRule, LLMConfig
from common.llm.items import ANSWER_SOURCE, Item, Outcome, count_sources
from common.llm.modes.base import LLMPlan, ModeResult, reason_counts
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
RECOUNTED = ("conversations", "ignored", "reasons", "sources")
"""Counters counted over every outcome (rules included), not summed over the tasks."""
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


@dataclass
class Task:
    """Items one analyzer asks: every field, or (``rule``) the fields a rule leaves."""

    analyzer: Analyzer
    items: list[Item]
    rule: AnswerRule | None = None


def split_by_rules(
    config: LLMConfig, analyzer: Analyzer, items: list[Item], kept: pl.DataFrame
) -> tuple[list[Outcome], list[Task]]:
    """Answers the rules give outright, and the tasks left for the model.

    The rules are matched over ``kept`` at once (`match_rules`); the first
    matching rule wins. A rule with ``rest: empty`` (or fixing every field)
    answers with no call (source ``rule``); one with ``rest: ask`` gets a task
    whose analyzer asks only for the other fields, told the fixed values.
    """
    from common.llm.rules import (
        covers_all,
        match_rules,
        rest_model,
        rest_renderer,
        rule_answer,
    )

    if not config.rules:
        return [], [Task(analyzer, items)]
    matched = dict(
        zip(
            kept[LEAD_KEY].to_list(),
            match_rules(config.rules, kept, where="llm.rules").to_list(),
            strict=True,
        )
    )
    decided: list[Outcome] = []
    plain = Task(analyzer, [])
    partial: dict[int, Task] = {}
    for item in items:
        index = matched.get(item.lead_key)
        if index is None:
            plain.items.append(item)
            continue
        rule = config.rules[index]
        if covers_all(config, rule):
            decided.append(Outcome(item.lead_key, answer=rule_answer(config, rule), source="rule"))
            continue
        if index not in partial:
            partial[index] = Task(
                analyzer.variant(
                    prompt=analyzer.prompt,
                    answer_model=rest_model(config, rule),
                    system=analyzer.system,
                    schema_name=analyzer.schema_name,
                    render=rest_renderer(rule, analyzer.render),
                ),
                [],
                rule,
            )
        partial[index].items.append(item)
    return decided, [plain, *partial.values()]


class AnalyzeMode:
    """The default mode."""

    name = "analyze"

    def columns(self, config: LLMConfig) -> dict[str, pl.DataType]:
        """The output schema's fields, and where each answer came from (`answer_source`)."""
        columns = {name: DTYPES[spec.type] for name, spec in config.output_schema.items()}
        return {**columns, ANSWER_SOURCE: pl.String()}

    def validate(self, recipe: Any) -> None:
        """Load-time checks of `llm.rules` (values, columns, types).

        Raises:
            RecipeError: naming meta.yml and the rule's index.
        """
        from common.llm.rules import check_rules

        check_rules(recipe)

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
        """Answer by rule where one matches; ask the model (through the cache) for the rest."""
        from common.llm.factory import build_analyzer

        items, truncation = digest_items(
            kept, messages, token_budget=recipe.llm.token_budget, timezone=recipe.meta.timezone
        )
        analyzer = build_analyzer(recipe, settings, cache, read_cache=read_cache)
        decided, tasks = split_by_rules(recipe.llm, analyzer, items, kept)
        by_key = {o.lead_key: o for o in decided}
        counters: list[dict[str, Any]] = []
        for task in tasks:
            if not task.items:
                continue
            outcomes, stats = task.analyzer.run(task.items)
            counters.append({k: v for k, v in stats.as_dict().items() if k not in RECOUNTED})
            for outcome in outcomes:
                if task.rule is not None and outcome.answer is not None:
                    outcome.answer = {**outcome.answer, **task.rule.answer}
                by_key[outcome.lead_key] = outcome
        outcomes = [by_key[item.lead_key] for item in items]
        reasons = [o.reason for o in outcomes]
        totals = merge_counters(
            {"cache_hits": 0, "llm_calls": 0, "repairs": 0, "input_tokens": 0, "output_tokens": 0},
            *counters,
            {
                "conversations": len(items),
                "ignored": sum(1 for r in reasons if r),
                "reasons": reason_counts(reasons),
                "sources": count_sources(outcomes),
            },
        )
        frame = answers_frame(recipe.llm, outcomes).join(truncation, on=LEAD_KEY, how="left")
        return ModeResult(frame, totals, analyzer.client.stats.as_dict())

    def plan(
        self,
        *,
        recipe: Any,
        settings: Settings,
        cache: SummaryCache | None,
        read_cache: bool,
        kept: pl.DataFrame,
        messages: pl.DataFrame,
    ) -> LLMPlan:
        """What `run` would do, without a call: rule answers, cache hits, requests to send."""
        from common.llm.factory import build_analyzer

        items, _ = digest_items(
            kept, messages, token_budget=recipe.llm.token_budget, timezone=recipe.meta.timezone
        )
        analyzer = build_analyzer(recipe, settings, cache, read_cache=read_cache, offline=True)
        decided, tasks = split_by_rules(recipe.llm, analyzer, items, kept)
        plan = LLMPlan(conversations=len(items), rule_answers=len(decided))
        for task in tasks:
            requests = [task.analyzer.request(item) for item in task.items]
            keys = [task.analyzer.cache_key(r) for r in requests]
            found = (
                task.analyzer.cache.get_many(keys)
                if task.analyzer.cache is not None and read_cache and keys
                else {}
            )
            plan.cache_hits += sum(1 for k in keys if k in found)
            plan.cached_answers += [found[k]["answer"] for k in keys if k in found]
            plan.requests += [r for r, k in zip(requests, keys, strict=True) if k not in found]
        return plan
