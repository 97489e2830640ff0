"""Preparing an eval's cases as the pipeline would: lead fields, messages, processors, digests.

For every case: lead fields and messages (inline, or read from the warehouse
with the recipe's SQL), then the recipe's processors (`compute_features`) at
the case's as-of time, then the conversation digests the judge reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from common.evals.model import IGNORE, Prepared, PreparedCase, Variant
from common.evals.sets import EvalSet, EvalSetError, case_as_of
from common.llm.config import prompt_placeholders
from common.llm.prompts import CONVERSATION
from common.processors.base import LEAD_KEY, MESSAGE_SCHEMA
from common.text import did_you_mean


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
