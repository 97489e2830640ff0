"""The LLM-as-judge of an eval: free-text answers graded against the cases' rubrics.

The judge (`JudgeAnswer`: reasons, then a 1-5 score) runs through the same
`Analyzer` machinery and cache as the answers, with one model for both
variants.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from common.evals.model import Prepared, VariantResult
from common.evals.scoring import Verdict
from common.llm.items import Item
from common.observability.tracing import span
from common.processors.base import LEAD_KEY

JUDGE_SYSTEM = (
    "You are a strict reviewer of what an assistant wrote about a sales conversation. "
    "Grade only against the rubric; do not reward length. Answer with one JSON object that "
    "matches the given JSON Schema exactly, and nothing else."
)
JUDGE_PROMPT = """Grade the `{field}` an assistant wrote for the conversation below.

Rubric (what a 5 looks like, and what costs points):
{rubric}

Lead: {lead}

The `{field}` to grade:
<<<
{answer}
>>>

First give up to three short reasons, then a score from 1 (wrong, harmful or useless)
to 5 (exactly what the rubric asks for).

Conversation:
{conversation}
"""
JUDGE_MIN_OUTPUT_TOKENS = 400


class JudgeAnswer(BaseModel):
    """The judge's structured answer (reasons first: the score follows from them)."""

    model_config = ConfigDict(extra="forbid")

    reasons: list[Annotated[str, Field(max_length=200)]] = Field(
        max_length=3, description="Up to three short reasons for the score."
    )
    score: int = Field(ge=1, le=5, description="1 (wrong or harmful) to 5 (what the rubric asks).")


def render_judge(template: str, item: Item) -> str:
    """Fill the judge prompt (values are inserted as text, never re-parsed)."""
    return template.format_map({**item.fields, "conversation": item.digest})


def _lead_text(row: dict[str, Any], columns: Sequence[str]) -> str:
    shown = [f"{c}={row[c]}" for c in columns if row.get(c) is not None]
    return ", ".join(shown) or "(no fields)"


def judge_variant(
    ctx: Any,
    recipe: Any,
    prepared: Prepared,
    result: VariantResult,
    *,
    read_cache: bool,
    judge_model: str | None = None,
) -> None:
    """Grade ``result``'s answers against the cases' rubrics; fills its verdicts and stats.

    The judge uses ``judge_model`` (default: LR_LLM_MODEL or the recipe's model,
    never the variant's own override), so both variants get the same judge.
    """
    from common.llm.factory import build_analyzer
    from common.observability.metrics import resolve_model

    settings = ctx.settings
    if judge_model:
        settings = settings.model_copy(update={"llm_model": judge_model})
    config = recipe.llm
    judge_recipe = dataclasses.replace(
        recipe,
        llm=config.model_copy(
            update={"max_output_tokens": max(config.max_output_tokens, JUDGE_MIN_OUTPUT_TOKENS)}
        ),
    )
    rows = {r[LEAD_KEY]: r for r in prepared.kept.iter_rows(named=True)}
    items: list[Item] = []
    targets: list[tuple[str, str]] = []
    verdicts: dict[str, dict[str, Verdict]] = {}
    for case in prepared.cases:
        answer = result.answers.get(case.key) or {}
        for spec in case.judges:
            value = answer.get(spec.field)
            if value is None:
                verdicts.setdefault(case.key, {})[spec.field] = Verdict(None, error="no answer")
                continue
            items.append(
                Item(
                    lead_key=f"{case.key}#{spec.field}",
                    fields={
                        "field": spec.field,
                        "rubric": spec.rubric.strip(),
                        "answer": str(value),
                        "lead": _lead_text(rows.get(case.key, {}), prepared.lead_columns),
                    },
                    digest=prepared.digests.get(case.key, ""),
                )
            )
            targets.append((case.key, spec.field))
    model, provider = resolve_model(recipe, settings)
    result.judge_model, result.judge_provider = model, provider
    if not items:
        result.verdicts = verdicts
        return
    analyzer = build_analyzer(
        judge_recipe,
        settings,
        ctx.backends.cache,
        read_cache=read_cache,
        prompt=JUDGE_PROMPT,
        answer_model=JudgeAnswer,
        system=JUDGE_SYSTEM,
        schema_name="judgement",
        render=render_judge,
    )
    started = time.monotonic()
    with span("eval.judge", recipe=recipe.name, variant=result.variant.name, model=model):
        outcomes, stats = analyzer.run(items)
    for (key, name), outcome in zip(targets, outcomes, strict=True):
        if outcome.answer is None:
            verdict = Verdict(None, error=outcome.reason or "no judgement")
        else:
            verdict = Verdict(int(outcome.answer["score"]), tuple(outcome.answer["reasons"]))
        verdicts.setdefault(key, {})[name] = verdict
    result.verdicts = verdicts
    result.judge_stats = stats.as_dict()
    result.judge_client = analyzer.client.stats.as_dict()
    result.judge_seconds = round(time.monotonic() - started, 3)
