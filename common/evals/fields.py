"""The recipe's side of an eval: its output fields, and its eval sets checked against them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from common.evals.sets import (
    EVALS_DIR,
    METRICS,
    RATE_METRICS,
    EvalSet,
    EvalSetError,
    Expectation,
    Kind,
    eval_files,
    location,
    read_eval_set,
)
from common.llm.modes import get_mode
from common.text import did_you_mean


@dataclass(frozen=True)
class FieldSpec:
    """An output field as scoring sees it."""

    name: str
    kind: Kind
    values: tuple[Any, ...] | None = None
    """Allowed values of a categorical field."""
    minimum: float | None = None
    maximum: float | None = None


def load_eval_sets(recipe: Any, names: tuple[str, ...] = ()) -> list[EvalSet]:
    """Every eval set of ``recipe`` (or those named), validated against the recipe.

    Args:
        recipe: A loaded `Recipe`.
        names: Set names (file stems) to keep; empty: all.

    Raises:
        EvalSetError: no eval sets, an unknown name, or an invalid set.
    """
    files = eval_files(Path(recipe.path))
    if not files:
        raise EvalSetError(
            "the recipe has no eval sets",
            where=recipe.where(file=EVALS_DIR),
            expected=f"*.yaml or *.jsonl files in {recipe.where(file=EVALS_DIR)}/ (docs/evals.md)",
        )
    by_name = {p.stem: p for p in files}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise EvalSetError(
            f"no eval set `{unknown[0]}`",
            where=recipe.where(file=EVALS_DIR),
            expected="one of " + ", ".join(by_name),
        )
    sets = [read_eval_set(by_name[n]) for n in (names or tuple(by_name))]
    fields = output_fields(recipe)
    for eval_set in sets:
        check_against_recipe(eval_set, fields)
    return sets


def output_fields(recipe: Any) -> dict[str, FieldSpec]:
    """The LLM step's output fields with their kinds (``analyze``: from the output schema).

    Raises:
        EvalSetError: the recipe has no LLM step.
    """
    if recipe.llm is None:
        raise EvalSetError(
            "the recipe has no llm section: there is nothing to evaluate",
            where=recipe.where(field="llm"),
        )
    config = recipe.llm
    if config.mode == "analyze":
        fields: dict[str, FieldSpec] = {}
        for name, spec in config.output_schema.items():
            if spec.type == "category":
                fields[name] = FieldSpec(name, "categorical", tuple(spec.values or ()))
            elif spec.type == "boolean":
                fields[name] = FieldSpec(name, "categorical", (True, False))
            elif spec.type in ("integer", "number"):
                fields[name] = FieldSpec(name, "numeric", None, spec.minimum, spec.maximum)
            else:
                fields[name] = FieldSpec(name, "text")
        return fields
    out: dict[str, FieldSpec] = {}
    for name, dtype in get_mode(config.mode).columns(config).items():
        if dtype == pl.Boolean:
            out[name] = FieldSpec(name, "categorical", (True, False))
        elif dtype.is_numeric():
            out[name] = FieldSpec(name, "numeric")
        else:
            out[name] = FieldSpec(name, "text")
    return out


def _unknown_field(name: str, fields: dict[str, FieldSpec], where: str) -> EvalSetError:
    hint = did_you_mean(name, fields)
    return EvalSetError(
        f"`{name}` is not an output field of the recipe"
        + (f"; did you mean `{hint}`?" if hint else ""),
        where=where,
        expected="one of " + ", ".join(fields),
    )


def _check_expectation(spec: FieldSpec, exp: Expectation, where: str) -> None:
    allowed = {
        "categorical": {"equals", "any_of"},
        "numeric": {"equals", "any_of", "min", "max"},
        "text": {"equals", "any_of", "contains", "contains_any", "not_contains"},
    }[spec.kind]
    extra = [c for c in exp.checks() if c not in allowed]
    if extra:
        raise EvalSetError(
            f"`{extra[0]}` does not apply to a {spec.kind} field",
            where=where,
            expected="one of " + ", ".join(sorted(allowed)),
        )
    values = ([exp.equals] if exp.equals is not None else []) + list(exp.any_of or [])
    for value in values:
        if spec.kind == "categorical" and spec.values is not None and value not in spec.values:
            raise EvalSetError(
                f"{value!r} is not a value of this field",
                where=where,
                expected="one of " + ", ".join(map(str, spec.values)),
            )
        if spec.kind == "numeric" and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise EvalSetError(f"{value!r} is not a number", where=where)
        if spec.kind == "text" and not isinstance(value, str):
            raise EvalSetError(f"{value!r} is not a text", where=where)
    if spec.kind == "numeric":
        for value in values + [v for v in (exp.min, exp.max) if v is not None]:
            low, high = spec.minimum, spec.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                raise EvalSetError(
                    f"{value!r} is outside the field's range",
                    where=where,
                    expected=f"{low} to {high}",
                )


def check_against_recipe(eval_set: EvalSet, fields: dict[str, FieldSpec]) -> None:
    """Expected fields, values, judged fields and thresholds must fit the recipe's outputs.

    Raises:
        EvalSetError: naming the set file, case and field.
    """
    where_set = location(eval_set.path)
    expected_fields: dict[str, set[str]] = {}
    judged: set[str] = set()
    for spec in eval_set.header.judge:
        if spec.field not in fields:
            raise _unknown_field(spec.field, fields, f"{where_set}: judge.field")
    for case in eval_set.cases:
        for name, exp in case.expected.items():
            where = f"{where_set}: case `{case.id}` expected.{name}"
            if name not in fields:
                raise _unknown_field(name, fields, where)
            _check_expectation(fields[name], exp, where)
            expected_fields.setdefault(name, set()).update(exp.checks())
        for spec in eval_set.judges_of(case):
            if spec.field not in fields:
                raise _unknown_field(spec.field, fields, f"{where_set}: case `{case.id}` judge")
            judged.add(spec.field)
    for name, metrics in eval_set.header.eval_thresholds.items():
        if name not in fields:
            raise _unknown_field(name, fields, f"{where_set}: eval_thresholds")
        for metric, value in metrics.items():
            where = f"{where_set}: eval_thresholds.{name}.{metric}"
            if metric not in METRICS:
                raise EvalSetError(
                    f"unknown metric `{metric}`",
                    where=where,
                    expected="one of " + ", ".join(METRICS),
                )
            if metric in RATE_METRICS and not 0 <= value <= 1:
                raise EvalSetError(f"{value} is not a rate", where=where, expected="0 to 1")
            if metric == "judge_mean" and not 1 <= value <= 5:
                raise EvalSetError(f"{value} is not a judge score", where=where, expected="1 to 5")
            if metric == "mae" and value < 0:
                raise EvalSetError(f"{value} is negative", where=where, expected="0 or more")
            checks = expected_fields.get(name, set())
            if metric.startswith("judge_") and name not in judged:
                raise EvalSetError(
                    f"no case of the set has a judge rubric for `{name}`", where=where
                )
            if metric == "mae" and (fields[name].kind != "numeric" or "equals" not in checks):
                raise EvalSetError(
                    f"`mae` needs a numeric field and cases that expect an exact value "
                    f"(`equals`) of it; `{name}` is {fields[name].kind}",
                    where=where,
                )
            if metric in ("accuracy", "answered_rate") and not checks and name not in judged:
                raise EvalSetError(f"no case of the set expects anything of `{name}`", where=where)
