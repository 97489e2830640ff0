"""`llm.rules`: answers the processors have already decided, given before any LLM call.

A rule names conditions on processor or lead columns (``when``), the answer
fields it fixes (``answer``) and what happens to the others (``rest``:
``empty`` leaves them null and makes no call; ``ask`` asks the model only for
them, telling it the fixed values). Rules are matched over the whole features
frame at once (one polars expression); the first matching rule wins.

Checked when the recipe loads (`check_rules`): every fixed value is valid for
its output field, every column is one the leads or processors produce, and
values fit the processors' column types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from pydantic import BaseModel, TypeAdapter, ValidationError

from common.errors import RecipeError, TerminalError
from common.llm.config import AnswerRule, LLMConfig
from common.llm.items import Item
from common.llm.prompts import Renderer, render_prompt
from common.processors.base import LEAD_KEY
from common.text import did_you_mean

RULE_INDEX = "_rule"
"""Column `match_rules` returns: the index of the first matching rule (null: none)."""


# --- matching ---------------------------------------------------------------------------


def _fits(value: Any, dtype: pl.DataType) -> bool:
    """Whether a rule's value can be compared with a column of ``dtype``."""
    if dtype == pl.Null:
        return True
    if dtype == pl.Boolean:
        return isinstance(value, bool)
    if dtype.is_numeric():
        return isinstance(value, int | float) and not isinstance(value, bool)
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return isinstance(value, str)
    return False


def _operands(condition: Any) -> list[Any]:
    """The values a condition compares with (none for null checks)."""
    if isinstance(condition, list):
        return condition
    if isinstance(condition, dict):
        op, operand = next(iter(condition.items()))
        return [] if op == "is_null" else (operand if isinstance(operand, list) else [operand])
    return [] if condition is None else [condition]


def type_problem(rule: AnswerRule, column: str, dtype: pl.DataType) -> str | None:
    """Why the rule's condition on ``column`` cannot compare with its type (None: it can)."""
    bad = [v for v in _operands(rule.when[column]) if not _fits(v, dtype)]
    if not bad:
        return None
    return f"`{column}` is {dtype}, the rule compares it with {bad[0]!r}"


def condition_expr(column: str, condition: Any) -> pl.Expr:
    """One condition as a boolean expression (null counts as false)."""
    col = pl.col(column)
    if condition is None:
        return col.is_null()
    if isinstance(condition, list):
        return col.is_in(condition).fill_null(False)
    if isinstance(condition, dict):
        op, operand = next(iter(condition.items()))
        if op == "is_null":
            return col.is_null() if operand else col.is_not_null()
        if op == "not":
            return col.is_null() | (col != operand).fill_null(True)
        return col.is_null() | ~col.is_in(operand).fill_null(False)
    return (col == condition).fill_null(False)


def rule_expr(rule: AnswerRule) -> pl.Expr:
    """All of the rule's conditions."""
    return pl.all_horizontal([condition_expr(c, cond) for c, cond in rule.when.items()])


def match_rules(
    rules: Sequence[AnswerRule], features: pl.DataFrame, *, where: str = "llm.rules"
) -> pl.Series:
    """Per row of ``features``: the index of the first rule that matches, or null.

    Raises:
        TerminalError: a rule names a column the frame lacks, or compares it with a
            value of another type (the recipe check prevents both for known columns).
    """
    if not rules or features.is_empty():
        return pl.Series(RULE_INDEX, [None] * features.height, dtype=pl.Int32)
    schema = features.schema
    for i, rule in enumerate(rules):
        for column in rule.when:
            if column not in schema:
                raise TerminalError(
                    f"rules[{i}]: no column `{column}` in the features",
                    where=where,
                    expected="one of " + ", ".join(sorted(schema)),
                )
            problem = type_problem(rule, column, schema[column])
            if problem:
                raise TerminalError(f"rules[{i}]: {problem}", where=where)
    index = pl.coalesce(
        [pl.when(rule_expr(rule)).then(pl.lit(i, dtype=pl.Int32)) for i, rule in enumerate(rules)]
    )
    return features.select(index.alias(RULE_INDEX)).to_series()


def covers_all(config: LLMConfig, rule: AnswerRule) -> bool:
    """Whether the rule answers without a call: ``rest: empty``, or every field fixed."""
    return rule.rest == "empty" or set(config.output_schema) <= set(rule.answer)


def rule_answer(config: LLMConfig, rule: AnswerRule) -> dict[str, Any]:
    """The whole answer of a rule that makes no call: fixed values, the rest null."""
    return {name: rule.answer.get(name) for name in config.output_schema}


# --- asking for the rest ----------------------------------------------------------------

DECIDED = (
    "\n\nAlready decided (do not answer these; keep the fields you answer consistent "
    "with them):\n{facts}"
)


def rest_model(config: LLMConfig, rule: AnswerRule) -> type[BaseModel]:
    """The answer model of the fields a ``rest: ask`` rule leaves to the model."""
    rest = {k: v for k, v in config.output_schema.items() if k not in rule.answer}
    return config.model_copy(update={"output_schema": rest}).answer_model("RestAnswer")


def rest_renderer(rule: AnswerRule, render: Renderer = render_prompt) -> Renderer:
    """The prompt of a ``rest: ask`` call: the recipe's, then the values the rule fixed."""
    facts = "\n".join(f"- {name}: {value}" for name, value in rule.answer.items())

    def rendered(template: str, item: Item) -> str:
        return render(template, item).rstrip() + DECIDED.format(facts=facts)

    return rendered


# --- load-time checks -------------------------------------------------------------------


def check_rules(recipe: Any) -> None:
    """Check `llm.rules` against the output schema and the columns the recipe produces.

    Raises:
        RecipeError: naming meta.yml and the rule's index: a fixed value the output
            field does not allow, an unknown answer field, an unknown column (with a
            did-you-mean) or a value of the wrong type for a processor's column.
    """
    config: LLMConfig = recipe.llm
    if not config.rules:
        return
    schema = config.output_schema
    produced = {
        c: who for c, who in recipe.produced_columns().items() if who not in ("llm", "pipeline")
    }
    produced[LEAD_KEY] = "leads"
    dtypes: dict[str, pl.DataType] = {}
    for cls in recipe.processor_classes():
        dtypes.update({c.name: c.dtype for c in cls.columns})
    for i, rule in enumerate(config.rules):
        named = f" (rule `{rule.name}`)" if rule.name else ""
        for name, value in rule.answer.items():
            if name not in schema:
                hint = did_you_mean(name, schema)
                raise RecipeError(
                    f"`{name}` is not an output field"
                    + (f"; did you mean `{hint}`?" if hint else "")
                    + named,
                    where=recipe.where(field=f"llm.rules[{i}].answer.{name}"),
                    expected="one of " + ", ".join(schema),
                )
            problem = _value_problem(schema[name], value)
            if problem:
                raise RecipeError(
                    f"{value!r} is not a valid `{name}`: {problem}{named}",
                    where=recipe.where(field=f"llm.rules[{i}].answer.{name}"),
                    expected=_expected(schema[name]),
                )
        for column in rule.when:
            if column not in produced and recipe.lead_columns is not None:
                hint = did_you_mean(column, produced)
                raise RecipeError(
                    f"no lead column or processor produces `{column}`"
                    + (f"; did you mean `{hint}`?" if hint else "")
                    + named,
                    where=recipe.where(field=f"llm.rules[{i}].when.{column}"),
                    expected="one of " + ", ".join(sorted(produced)),
                )
            if column in dtypes:
                problem = type_problem(rule, column, dtypes[column])
                if problem:
                    raise RecipeError(
                        f"{problem}{named}",
                        where=recipe.where(field=f"llm.rules[{i}].when.{column}"),
                        expected=f"values of type {dtypes[column]}",
                    )


def _value_problem(spec: Any, value: Any) -> str | None:
    try:
        TypeAdapter(spec.annotation()).validate_python(value, strict=spec.type != "number")
    except ValidationError as err:
        return str(err.errors()[0]["msg"])
    return None


def _expected(spec: Any) -> str:
    if spec.type == "category":
        return "one of " + ", ".join(spec.values or ())
    bounds = [
        f"{k} {v:g}" for k, v in (("min", spec.minimum), ("max", spec.maximum)) if v is not None
    ]
    return f"a {spec.type}" + (f" ({', '.join(bounds)})" if bounds else "")
