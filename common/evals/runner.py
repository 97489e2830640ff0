"""Run a recipe's LLM step over its eval cases, exactly as the pipeline would, per variant.

For every case: lead fields and messages (inline, or read from the warehouse
with the recipe's SQL), then the recipe's processors (`compute_features`) at
the case's as-of time, then the recipe's LLM mode (for ``analyze``:
`digest_items` and the recipe's `Analyzer`), through the summary cache. A
*variant* replaces the prompt and/or the model; two variants make an A/B
comparison. An optional judge (`common.evals.judge`) grades free-text fields
against the cases' rubrics. Preparing the cases is `common.evals.prepare`; the
data (`Variant`, `VariantResult`, `EvalRun`) is `common.evals.model`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from common.evals.fields import FieldSpec
from common.evals.judge import judge_variant
from common.evals.model import IGNORE, EvalRun, Prepared, Variant, VariantResult
from common.evals.prepare import check_variant_prompt, prepare
from common.evals.sets import EvalSet, EvalSetError
from common.observability.tracing import span
from common.processors.base import LEAD_KEY

log = logging.getLogger(__name__)


def run_variant(
    ctx: Any, recipe: Any, prepared: Prepared, variant: Variant, *, read_cache: bool
) -> VariantResult:
    """The recipe's LLM mode over the prepared cases with the variant's prompt and model."""
    from common.llm.modes import get_mode
    from common.observability.metrics import resolve_model

    settings = ctx.settings
    if variant.model:
        settings = settings.model_copy(update={"llm_model": variant.model})
    chosen = dataclasses.replace(recipe, prompt=variant.prompt) if variant.prompt else recipe
    model, provider = resolve_model(recipe, settings)
    started = time.monotonic()
    with span(
        "eval.variant",
        recipe=recipe.name,
        variant=variant.name,
        prompt=variant.prompt_name,
        model=model,
        provider=provider,
        cases=len(prepared.cases),
    ):
        try:
            result = get_mode(recipe.llm.mode).run(
                recipe=chosen,
                settings=settings,
                cache=ctx.backends.cache,
                read_cache=read_cache,
                kept=prepared.kept,
                messages=prepared.messages,
            )
        except KeyError as err:  # a mode's own prompt (e.g. score's message prompt)
            raise EvalSetError(
                f"a prompt of mode `{recipe.llm.mode}` uses `{{{err.args[0]}}}`, which the "
                "cases do not supply",
                where=recipe.where(),
                expected=f"`{err.args[0]}` in each case's `lead` (or the set's header `lead`)",
            ) from err
    seconds = round(time.monotonic() - started, 3)
    columns = [c for c in result.frame.columns if c not in (LEAD_KEY, IGNORE)]
    answers: dict[str, dict[str, Any] | None] = {}
    reasons: dict[str, str | None] = {}
    for row in result.frame.iter_rows(named=True):
        reason = row.get(IGNORE)
        reasons[row[LEAD_KEY]] = reason
        answers[row[LEAD_KEY]] = None if reason else {c: row[c] for c in columns}
    for case in prepared.cases:  # a case the mode returned no row for has no answer
        answers.setdefault(case.key, None)
        reasons.setdefault(case.key, "no answer returned")
    log.info("variant %s: %d cases in %.2f s", variant.name, len(prepared.cases), seconds)
    return VariantResult(
        variant=variant,
        model=model,
        provider=provider,
        answers=answers,
        reasons=reasons,
        stats=result.stats,
        client=result.client,
        seconds=seconds,
    )


def rules_baseline(recipe: Any, prepared: Prepared) -> VariantResult | None:
    """The answers `llm.rules` alone give: fixed fields of the first matching rule.

    A case no rule matches has no answer (it counts as wrong), and a field a
    rule leaves to the model is unanswered: the score a prompt or model has to
    beat. None when the recipe has no rules.
    """
    from common.llm.rules import match_rules

    rules = recipe.llm.rules if recipe.llm is not None else []
    if not rules:
        return None
    index = match_rules(rules, prepared.kept, where=recipe.where(field="llm.rules"))
    matched = dict(zip(prepared.kept[LEAD_KEY].to_list(), index.to_list(), strict=True))
    answers: dict[str, dict[str, Any] | None] = {}
    reasons: dict[str, str | None] = {}
    for case in prepared.cases:
        rule = matched.get(case.key)
        answers[case.key] = None if rule is None else dict(rules[rule].answer)
        reasons[case.key] = "no rule matches" if rule is None else None
    return VariantResult(
        variant=Variant("rules", prompt_name="llm.rules"),
        model=None,
        provider="rules",
        answers=answers,
        reasons=reasons,
    )


def run_eval(
    ctx: Any,
    recipe: Any,
    sets: Sequence[EvalSet],
    variants: Sequence[Variant],
    *,
    fields: dict[str, FieldSpec],
    read_cache: bool = True,
    judge: bool = True,
    judge_model: str | None = None,
    limit: int | None = None,
) -> EvalRun:
    """Prepare the cases once, then run (and judge) every variant.

    Raises:
        EvalSetError: invalid cases or prompts (before any LLM call).
        TerminalError: the LLM refused every request (key, model, endpoint).
    """
    prepared = prepare(ctx, recipe, sets, limit=limit)
    for variant in variants:
        check_variant_prompt(recipe, prepared, variant)
    results: list[VariantResult] = []
    for variant in variants:
        result = run_variant(ctx, recipe, prepared, variant, read_cache=read_cache)
        if judge:
            judge_variant(
                ctx, recipe, prepared, result, read_cache=read_cache, judge_model=judge_model
            )
        results.append(result)
    return EvalRun(
        recipe=recipe.name,
        sets=list(sets),
        prepared=prepared,
        fields=fields,
        variants=results,
        judged=judge,
        baseline=rules_baseline(recipe, prepared),
    )
