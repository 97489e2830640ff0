"""Run a recipe's LLM step over its eval cases, exactly as the pipeline would, per variant.

For every case: lead fields and messages (inline, or read from the warehouse
with the recipe's SQL), then the recipe's processors (`compute_features`) at
the case's as-of time, then the recipe's LLM mode (for ``analyze``:
`digest_items` and the recipe's `Analyzer`), through the summary cache. A
*variant* replaces the prompt and/or the model; two variants make an A/B
comparison. An optional judge (`JudgeAnswer`: reasons, then a 1-5 score)
grades free-text fields against the cases' rubrics, through the same
`Analyzer` machinery and cache, with one model for both variants.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from common.evals.scoring import FieldScore, Gate, ScoredCase, Verdict, gate, score_cases
from common.evals.sets import EvalCase, EvalSet, EvalSetError, FieldSpec, JudgeSpec, case_as_of
from common.llm.analysis import Item
from common.observability.tracing import span
from common.processors.base import LEAD_KEY, MESSAGE_SCHEMA

log = logging.getLogger(__name__)

IGNORE = "ignore_reason"
ALL = "all"
"""Name of the group of every case (next to each set's name)."""

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


@dataclass(frozen=True)
class Variant:
    """One configuration to evaluate."""

    name: str
    """``A`` or ``B``."""
    prompt: str | None = None
    """Prompt template; None: the recipe's."""
    prompt_name: str = "prompt.txt"
    model: str | None = None
    """Model; None: LR_LLM_MODEL or the recipe's."""


@dataclass(frozen=True)
class PreparedCase:
    """A case ready to run: its key in the frames, its set and rubrics."""

    key: str
    """``<set>/<id>``: the ``lead_key`` of its rows."""
    set_name: str
    case: EvalCase
    judges: tuple[JudgeSpec, ...]


@dataclass
class Prepared:
    """Every case's features and messages, as the LLM mode takes them."""

    cases: list[PreparedCase]
    kept: pl.DataFrame
    messages: pl.DataFrame
    digests: dict[str, str]
    """Case key → conversation digest (what the judge reads)."""
    lead_columns: list[str] = field(default_factory=list)
    """The lead fields (before processors), for the judge's view of the lead."""


@dataclass
class VariantResult:
    """One variant's answers, verdicts and counters."""

    variant: Variant
    model: str | None
    provider: str | None
    answers: dict[str, dict[str, Any] | None]
    reasons: dict[str, str | None]
    verdicts: dict[str, dict[str, Verdict]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    judge_stats: dict[str, Any] = field(default_factory=dict)
    judge_client: dict[str, Any] = field(default_factory=dict)
    judge_seconds: float = 0.0
    judge_model: str | None = None
    judge_provider: str | None = None

    @property
    def label(self) -> str:
        """``A: prompt.txt @ openai/gpt-4o-mini``."""
        return f"{self.variant.name}: {self.variant.prompt_name} @ {self.provider}/{self.model}"

    def metrics(self, prices: Any) -> dict[str, Any]:
        """Run metrics of this variant (answers and judge): tokens, cost, cache, latency."""
        from common.observability.metrics import run_metrics

        marks = [
            {
                "step": "eval",
                "status": "done",
                "attempts": 1,
                "result": {"llm": self.stats, "client": self.client, "seconds": self.seconds},
            }
        ]
        answer = run_metrics(
            {"ignored": sum(1 for r in self.reasons.values() if r), "seconds": self.seconds},
            marks,
            prices,
            model=self.model,
            provider=self.provider,
        )
        if self.judge_stats:
            judge_marks = [
                {
                    "step": "eval_judge",
                    "status": "done",
                    "attempts": 1,
                    "result": {
                        "llm": self.judge_stats,
                        "client": self.judge_client,
                        "seconds": self.judge_seconds,
                    },
                }
            ]
            answer["judge"] = run_metrics(
                {"ignored": 0, "seconds": self.judge_seconds},
                judge_marks,
                prices,
                model=self.judge_model,
                provider=self.judge_provider,
            )
        return answer


@dataclass
class EvalRun:
    """The outcome of an eval: cases, fields, one or two variants; scoring on demand."""

    recipe: str
    sets: list[EvalSet]
    prepared: Prepared
    fields: dict[str, FieldSpec]
    variants: list[VariantResult]
    judged: bool = True
    """Whether the judge ran (judge thresholds are skipped otherwise)."""
    baseline: VariantResult | None = None
    """What the recipe's `llm.rules` alone answer (None: the recipe has no rules)."""

    def scored(self, result: VariantResult, set_name: str = ALL) -> list[ScoredCase]:
        """The cases of one set (or all) with ``result``'s answers and verdicts."""
        return [
            ScoredCase(
                case_id=p.case.id,
                set_name=p.set_name,
                expected=p.case.expected,
                judges=p.judges,
                answer=result.answers.get(p.key),
                verdicts=result.verdicts.get(p.key, {}),
            )
            for p in self.prepared.cases
            if set_name in (ALL, p.set_name)
        ]

    def groups(self) -> list[str]:
        """``all`` (with two sets or more) and every set name that has cases."""
        names = list(dict.fromkeys(p.set_name for p in self.prepared.cases))
        return [ALL, *names] if len(names) > 1 else names

    def scores(self, result: VariantResult, set_name: str = ALL) -> dict[str, FieldScore]:
        """Per-field scores of ``result`` over one set (or all cases)."""
        return score_cases(self.scored(result, set_name), self.fields)

    def gates(self, result: VariantResult) -> list[Gate]:
        """Every set's thresholds checked against ``result`` over that set's cases."""
        gates: list[Gate] = []
        for eval_set in self.sets:
            if eval_set.header.eval_thresholds:
                gates += gate(
                    self.scores(result, eval_set.name),
                    eval_set.header.eval_thresholds,
                    eval_set.name,
                    judged=self.judged,
                )
        return gates


# --- preparing the cases ---------------------------------------------------------------


def _lead_rows(
    ctx: Any, recipe: Any, keys: list[str], as_of: datetime
) -> tuple[dict[str, dict[str, Any]], pl.DataFrame]:
    """Lead fields (when the recipe has a leads query) and messages of warehouse leads."""
    warehouse = ctx.backends.warehouse
    where = recipe.where(recipe.meta.conversations_sql)
    table = warehouse.query(
        recipe.conversations_sql,
        {"lead_keys": keys, "as_of": as_of, "recipe": recipe.name},
        where=where,
    )
    messages = pl.from_arrow(table)
    assert isinstance(messages, pl.DataFrame)
    missing = [c for c in MESSAGE_SCHEMA if c not in messages.columns]
    if missing:
        raise EvalSetError(f"conversations query lacks column(s) {', '.join(missing)}", where=where)
    messages = messages.select(list(MESSAGE_SCHEMA)).cast(MESSAGE_SCHEMA)  # type: ignore[arg-type]
    leads: dict[str, dict[str, Any]] = {}
    if recipe.leads_sql is not None:
        frame = pl.from_arrow(
            warehouse.query(
                recipe.leads_sql,
                {"as_of": as_of, "recipe": recipe.name},
                where=recipe.where(recipe.meta.leads_sql),
            )
        )
        assert isinstance(frame, pl.DataFrame)
        if LEAD_KEY in frame.columns:
            frame = frame.with_columns(pl.col(LEAD_KEY).cast(pl.String))
            for row in frame.filter(pl.col(LEAD_KEY).is_in(keys)).iter_rows(named=True):
                leads.setdefault(row[LEAD_KEY], row)
    return leads, messages


def prepare(
    ctx: Any, recipe: Any, sets: Sequence[EvalSet], *, limit: int | None = None
) -> Prepared:
    """Features and messages of every case (the first ``limit`` of each set).

    Raises:
        EvalSetError: a referenced lead has no messages, or lead fields do not fit together.
    """
    from common.llm.digest import build_digests
    from common.messages import RunOptions
    from common.processors.base import normalize_messages
    from common.steps.process import compute_features

    now = datetime.now(UTC)
    prepared: list[PreparedCase] = []
    by_as_of: dict[datetime, list[tuple[PreparedCase, EvalSet]]] = {}
    for eval_set in sets:
        for case in eval_set.cases[:limit] if limit else eval_set.cases:
            item = PreparedCase(
                key=f"{eval_set.name}/{case.id}",
                set_name=eval_set.name,
                case=case,
                judges=tuple(eval_set.judges_of(case)),
            )
            prepared.append(item)
            by_as_of.setdefault(case_as_of(eval_set, case) or now, []).append((item, eval_set))

    features: list[pl.DataFrame] = []
    all_messages: list[pl.DataFrame] = []
    lead_columns: dict[str, None] = {}
    for as_of, group in by_as_of.items():
        refs = sorted(
            {p.case.lead_key for p, _ in group if p.case.messages is None and p.case.lead_key}
        )
        warehouse_leads, warehouse_messages = (
            _lead_rows(ctx, recipe, refs, as_of) if refs else ({}, pl.DataFrame())
        )
        lead_rows: list[dict[str, Any]] = []
        message_frames: list[pl.DataFrame] = []
        for item, eval_set in group:
            case = item.case
            fields: dict[str, Any] = dict(eval_set.header.lead)
            if case.messages is None:
                fields.update(warehouse_leads.get(str(case.lead_key), {}))
                frame = warehouse_messages.filter(pl.col(LEAD_KEY) == case.lead_key)
                if frame.is_empty():
                    raise EvalSetError(
                        f"case `{case.id}`: lead `{case.lead_key}` has no messages in the "
                        f"warehouse up to {as_of.isoformat()}",
                        where=str(eval_set.path),
                        expected="a lead_key of the warehouse's conversations (or inline messages)",
                    )
                message_frames.append(frame.with_columns(pl.lit(item.key).alias(LEAD_KEY)))
            else:
                message_frames.append(
                    pl.DataFrame(
                        [
                            {
                                LEAD_KEY: item.key,
                                "message_id": m.message_id or f"{item.key}#{i:04d}",
                                "sent_at": m.sent_at.astimezone(UTC),
                                "sender": m.sender,
                                "text": m.text,
                            }
                            for i, m in enumerate(case.messages)
                        ],
                        schema=MESSAGE_SCHEMA,
                    )
                )
            fields.update(case.lead)
            lead_columns.update(dict.fromkeys(k for k in fields if k != LEAD_KEY))
            lead_rows.append({**fields, LEAD_KEY: item.key})
        try:
            leads = pl.DataFrame(lead_rows, infer_schema_length=None)
        except (pl.exceptions.PolarsError, TypeError, ValueError) as err:
            raise EvalSetError(
                f"lead fields of the cases do not share types: {err}",
                where=", ".join(sorted({str(s.path) for _, s in group})),
            ) from err
        messages = pl.concat(message_frames, how="vertical")
        all_messages.append(messages)
        features.append(compute_features(recipe, RunOptions(as_of=as_of), leads, messages))
    kept = pl.concat(features, how="diagonal_relaxed").drop(IGNORE)
    messages = normalize_messages(pl.concat(all_messages, how="vertical"))
    assert recipe.llm is not None
    digests = build_digests(
        messages, token_budget=recipe.llm.token_budget, timezone=recipe.meta.timezone
    )
    order = {p.key: i for i, p in enumerate(prepared)}
    kept = kept.sort(pl.col(LEAD_KEY).replace_strict(order, return_dtype=pl.Int64))
    return Prepared(
        cases=prepared,
        kept=kept,
        messages=messages,
        digests=dict(zip(digests[LEAD_KEY].to_list(), digests["digest"].to_list(), strict=True)),
        lead_columns=list(lead_columns),
    )


def check_variant_prompt(recipe: Any, prepared: Prepared, variant: Variant) -> None:
    """The prompt (the variant's, else the recipe's) may only use what the cases supply.

    That is a lead field of the cases (their ``lead``, the set's header ``lead``,
    the warehouse's lead row), a processor column, or ``{conversation}``.

    Raises:
        EvalSetError: a placeholder the cases do not supply, naming the prompt file.
    """
    from common.llm.config import prompt_placeholders
    from common.llm.prompts import CONVERSATION
    from common.text import did_you_mean

    template = variant.prompt if variant.prompt is not None else recipe.prompt
    where = variant.prompt_name if variant.prompt is not None else recipe.where(file="prompt.txt")
    if template is None:
        return
    try:
        names = prompt_placeholders(template)
    except ValueError as err:
        raise EvalSetError(f"prompt has a broken placeholder: {err}", where=where) from err
    available = set(prepared.kept.columns) | {CONVERSATION}
    for name in names:
        if name not in available:
            hint = did_you_mean(name, available)
            raise EvalSetError(
                f"placeholder `{{{name}}}`: the cases supply no lead field or processor "
                "column with this name" + (f"; did you mean `{{{hint}}}`?" if hint else ""),
                where=where,
                expected=f"`{name}` in each case's `lead` (or the set's header `lead`), "
                "or one of " + ", ".join(f"{{{c}}}" for c in sorted(available)),
            )


# --- running --------------------------------------------------------------------------


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
