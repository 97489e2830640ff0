"""Eval sets: conversations with known answers, read from ``recipes/<name>/evals/``.

Two formats, any number of files per recipe (each file is one *set*, named by
its file stem, scored on its own and together with the others):

``*.yaml``: a header and ``cases``::

    description: Hand-written hard cases.
    as_of: 2026-11-20T18:00:00Z        # "now" for time features (default per case)
    lead: {country: MX, product: personal_loan}   # default lead fields
    judge:                             # LLM-as-judge rubrics for every case
      - field: suggested_message
        rubric: Friendly, in the customer's language, no invented promises.
    eval_thresholds:                   # the gate, over this set's cases
      primary_stall_reason_code: {accuracy: 0.6}
      recovery_score: {mae: 25}
    cases:
      - id: paid-already
        lead: {name: Ana}
        messages:
          - {sent_at: 2026-11-19T15:00:00Z, sender: bot, text: "Hola Ana, ..."}
          - {sent_at: 2026-11-19T15:05:00Z, sender: user, text: "ya lo pagué"}
        expected:
          primary_stall_reason_code: OTHER          # exact value
          next_action: [CLOSE, HUMAN_FOLLOW_UP]     # any of these
          recovery_score: {max: 30}                 # bounds (or {equals: 10, tolerance: 15})
          summary: {contains_any: [pag, paid]}      # substrings (accents and case ignored)

``*.jsonl``: one case per line; an optional first line ``{"header": {...}}``
holds the same header keys. A case gives either ``messages`` or a ``lead_key``
whose messages (and lead fields) are read from the warehouse with the
recipe's own SQL at ``as_of``.

Everything is validated when loaded (unknown keys, fields the recipe does not
output, values outside a category, thresholds a field cannot have) and fails
with an `EvalSetError` naming the file, line or case, and field.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from common.errors import RecipeError

EVALS_DIR = "evals"
SUFFIXES = (".yaml", ".yml", ".jsonl")

Kind = Literal["categorical", "numeric", "text"]

METRICS: dict[str, Literal["min", "max"]] = {
    "accuracy": "min",
    "mae": "max",
    "answered_rate": "min",
    "judge_mean": "min",
    "judge_pass_rate": "min",
}
"""Threshold metrics → whether the threshold is a minimum or a maximum (lower is better)."""

_RATE_METRICS = ("accuracy", "answered_rate", "judge_pass_rate")


class EvalSetError(RecipeError):
    """An eval set is invalid (the CLI exits 2)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvalMessage(_Strict):
    """One chat message of a case."""

    sent_at: AwareDatetime = Field(description="When it was sent, with a time zone.")
    sender: Literal["user", "bot", "agent"]
    text: str | None = Field(None, description="None: a media message (photo, audio).")
    message_id: str | None = None


class Expectation(_Strict):
    """What a field's answer must be; given in a case as a value, a list or a mapping.

    A scalar means ``equals``; a list means ``any_of``; a mapping names the checks.
    """

    equals: Any = Field(None, description="The exact value (texts: ignoring case and accents).")
    any_of: list[Any] | None = Field(None, min_length=1, description="Any of these values.")
    contains: list[str] | None = Field(
        None, min_length=1, description="Texts: every one of these substrings."
    )
    contains_any: list[str] | None = Field(
        None, min_length=1, description="Texts: at least one of these substrings."
    )
    not_contains: list[str] | None = Field(
        None, min_length=1, description="Texts: none of these substrings."
    )
    min: float | None = Field(None, description="Numbers: at least this.")
    max: float | None = Field(None, description="Numbers: at most this.")
    tolerance: float | None = Field(
        None, ge=0, description="Numbers: `equals` passes within this distance."
    )

    @field_validator("contains", "contains_any", "not_contains", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> Expectation:
        if self.tolerance is not None and self.equals is None:
            raise ValueError("`tolerance` applies to `equals`")
        if self.equals is None and not any(
            v is not None
            for v in (
                self.any_of,
                self.contains,
                self.contains_any,
                self.not_contains,
                self.min,
                self.max,
            )
        ):
            raise ValueError(
                "an expectation needs `equals`, `any_of`, `contains`, `contains_any`, "
                "`not_contains`, `min` or `max`"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("`min` is greater than `max`")
        return self

    @staticmethod
    def shorthand(value: Any) -> Any:
        """A case's ``expected`` value as a mapping: scalar → ``equals``, list → ``any_of``."""
        if isinstance(value, dict | Expectation):
            return value
        if isinstance(value, list):
            return {"any_of": value}
        return {"equals": value}

    @classmethod
    def parse(cls, value: Any) -> Expectation:
        """A case's ``expected`` value → an `Expectation`."""
        return value if isinstance(value, Expectation) else cls.model_validate(cls.shorthand(value))

    def checks(self) -> list[str]:
        """Names of the checks this expectation sets."""
        return [k for k, v in self.model_dump(exclude={"tolerance"}).items() if v is not None]


class JudgeSpec(_Strict):
    """An LLM-as-judge rubric for one free-text field."""

    field: str = Field(description="The output field to judge, e.g. `suggested_message`.")
    rubric: str = Field(min_length=10, description="What a 5 looks like; what costs points.")
    pass_score: int = Field(4, ge=1, le=5, description="Scores at or above this pass.")


def _judges(value: object) -> object:
    return [value] if isinstance(value, dict) else value


class EvalCase(_Strict):
    """One conversation with the expected values of some output fields."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
    lead_key: str | None = Field(
        None, min_length=1, description="Read this lead's messages and fields from the warehouse."
    )
    messages: list[EvalMessage] | None = Field(None, min_length=1)
    lead: dict[str, Any] = Field(default_factory=dict, description="Lead fields (name, ...).")
    as_of: AwareDatetime | None = Field(None, description="'Now' for time features.")
    expected: dict[str, Expectation] = Field(default_factory=dict)
    judge: list[JudgeSpec] | None = Field(
        None, description="Rubrics for this case (None: the set's; []: none)."
    )
    tags: list[str] = Field(default_factory=list)
    notes: str = ""

    _judge_one = field_validator("judge", mode="before")(classmethod(lambda cls, v: _judges(v)))

    @field_validator("expected", mode="before")
    @classmethod
    def _expectations(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: Expectation.shorthand(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _has_conversation(self) -> EvalCase:
        if self.messages is None and self.lead_key is None:
            raise ValueError("give `messages` or a `lead_key` to read them from the warehouse")
        return self


class EvalSetHeader(_Strict):
    """Keys of a set that apply to all of its cases."""

    description: str = ""
    as_of: AwareDatetime | None = Field(
        None, description="Default 'now' (inline cases: one hour after their last message)."
    )
    lead: dict[str, Any] = Field(default_factory=dict, description="Default lead fields.")
    judge: list[JudgeSpec] = Field(default_factory=list, description="Rubrics for every case.")
    eval_thresholds: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="field → metric → threshold, checked over this set's cases.",
    )

    _judge_one = field_validator("judge", mode="before")(classmethod(lambda cls, v: _judges(v)))


class _YamlSet(EvalSetHeader):
    cases: list[EvalCase] = Field(min_length=1)


@dataclass
class EvalSet:
    """One file of cases."""

    name: str
    path: Path
    header: EvalSetHeader
    cases: list[EvalCase]

    def judges_of(self, case: EvalCase) -> list[JudgeSpec]:
        """The rubrics that apply to ``case``."""
        return self.header.judge if case.judge is None else case.judge


@dataclass(frozen=True)
class FieldSpec:
    """An output field as scoring sees it."""

    name: str
    kind: Kind
    values: tuple[Any, ...] | None = None
    """Allowed values of a categorical field."""
    minimum: float | None = None
    maximum: float | None = None


# --- reading ------------------------------------------------------------------------


def _where(path: Path, line: int | None = None) -> str:
    try:
        shown = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(path)
    return f"{shown}:{line}" if line else shown


def _explain(err: ValidationError, where: str, prefix: str = "") -> EvalSetError:
    first = err.errors()[0]
    loc = prefix + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]
    ).lstrip(".")
    return EvalSetError(
        f"`{loc or '(top level)'}`: {first['msg']}"
        + (f" ({len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""),
        where=where,
    )


def read_eval_set(path: Path) -> EvalSet:
    """Parse and validate one eval set file (not yet against a recipe).

    Raises:
        EvalSetError: unreadable, not YAML/JSON, unknown keys, bad values, duplicate ids.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise EvalSetError(f"cannot read the eval set: {err}", where=_where(path)) from err
    if path.suffix == ".jsonl":
        header = EvalSetHeader()
        cases: list[EvalCase] = []
        seen_case = False
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = _where(path, number)
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                raise EvalSetError(f"not JSON: {err.msg}", where=where) from err
            if not isinstance(data, dict):
                raise EvalSetError("each line must be a JSON object", where=where)
            if set(data) == {"header"}:
                if seen_case:
                    raise EvalSetError("the header must be the first line", where=where)
                try:
                    header = EvalSetHeader.model_validate(data["header"])
                except ValidationError as err:
                    raise _explain(err, where, "header.") from err
                continue
            seen_case = True
            try:
                cases.append(EvalCase.model_validate(data))
            except ValidationError as err:
                raise _explain(err, where) from err
        if not cases:
            raise EvalSetError("the eval set has no cases", where=_where(path))
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise EvalSetError(f"not valid YAML: {err}", where=_where(path)) from err
        if not isinstance(data, dict):
            raise EvalSetError(
                "expected a mapping with `cases:` (and header keys)", where=_where(path)
            )
        try:
            parsed = _YamlSet.model_validate(data)
        except ValidationError as err:
            raise _explain(err, _where(path)) from err
        header = EvalSetHeader.model_validate(parsed.model_dump(exclude={"cases"}))
        cases = parsed.cases
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise EvalSetError(f"case ids used twice: {', '.join(dupes)}", where=_where(path))
    return EvalSet(name=path.stem, path=path, header=header, cases=cases)


def eval_files(recipe_path: Path) -> list[Path]:
    """The eval set files of a recipe folder, sorted by name."""
    folder = recipe_path / EVALS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)


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


# --- the recipe's side --------------------------------------------------------------


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
    import polars as pl

    from common.llm.modes import get_mode

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
    from common.text import did_you_mean

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
    where_set = _where(eval_set.path)
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
            if metric in _RATE_METRICS and not 0 <= value <= 1:
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


def normalize_text(value: Any) -> str:
    """Casefolded, accents removed, whitespace collapsed (for text checks)."""
    decomposed = unicodedata.normalize("NFKD", str(value))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


def case_as_of(eval_set: EvalSet, case: EvalCase) -> datetime | None:
    """The case's 'now': its own, the set's, or one hour after its last message (inline)."""
    if case.as_of is not None:
        return case.as_of
    if eval_set.header.as_of is not None:
        return eval_set.header.as_of
    if case.messages:
        from datetime import timedelta

        return max(m.sent_at for m in case.messages) + timedelta(hours=1)
    return None
