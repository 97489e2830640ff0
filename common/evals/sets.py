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
with an `EvalSetError` naming the file, line or case, and field. This module
reads one file; `common.evals.fields.load_eval_sets` loads a recipe's sets and
checks them against its output fields.
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

RATE_METRICS = ("accuracy", "answered_rate", "judge_pass_rate")


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


# --- reading ------------------------------------------------------------------------


def location(path: Path, line: int | None = None) -> str:
    """``path`` as messages show it (relative to the working directory), with ``:line``."""
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
        raise EvalSetError(f"cannot read the eval set: {err}", where=location(path)) from err
    if path.suffix == ".jsonl":
        header = EvalSetHeader()
        cases: list[EvalCase] = []
        seen_case = False
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = location(path, number)
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
            raise EvalSetError("the eval set has no cases", where=location(path))
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise EvalSetError(f"not valid YAML: {err}", where=location(path)) from err
        if not isinstance(data, dict):
            raise EvalSetError(
                "expected a mapping with `cases:` (and header keys)", where=location(path)
            )
        try:
            parsed = _YamlSet.model_validate(data)
        except ValidationError as err:
            raise _explain(err, location(path)) from err
        header = EvalSetHeader.model_validate(parsed.model_dump(exclude={"cases"}))
        cases = parsed.cases
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise EvalSetError(f"case ids used twice: {', '.join(dupes)}", where=location(path))
    return EvalSet(name=path.stem, path=path, header=header, cases=cases)


def eval_files(recipe_path: Path) -> list[Path]:
    """The eval set files of a recipe folder, sorted by name."""
    folder = recipe_path / EVALS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)


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
