"""The recipe's `llm` section, and the answer model built from its output schema.

The output schema lists the fields the LLM must return (Python-computed
columns never go here). It becomes a pydantic model, whose JSON Schema is sent
for structured output and which validates every answer, whatever the provider.

``mode`` picks how the summarize step uses the LLM (see `common.llm.modes`):
``analyze`` needs ``output_schema``; ``score`` needs ``scoring``; ``extract``
needs ``extraction``. The answers of ``score`` and ``extract`` have fixed
shapes, so those modes take no ``output_schema``.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutputField(_Strict):
    """One field of the LLM's answer."""

    type: Literal["string", "integer", "number", "boolean", "category", "list"] = Field(
        description="`category` needs `values`; `list` is a list of strings."
    )
    description: str = Field("", description="What the field means; sent to the model.")
    values: list[str] | None = Field(None, description="Allowed values of a `category`.")
    minimum: float | None = Field(None, description="Lower bound of an integer/number.")
    maximum: float | None = Field(None, description="Upper bound of an integer/number.")
    max_length: int | None = Field(None, ge=1, description="Longest string (characters).")
    max_items: int | None = Field(None, ge=1, description="Longest list.")
    nullable: bool = Field(False, description="The model may answer null.")

    @model_validator(mode="after")
    def _consistent(self) -> OutputField:
        if self.type == "category" and not self.values:
            raise ValueError("a `category` field needs `values` (the allowed labels)")
        if self.type != "category" and self.values:
            raise ValueError("`values` only applies to `category` fields")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("`minimum` is greater than `maximum`")
        return self

    def annotation(self) -> Any:
        """The Python type (with constraints) pydantic validates against."""
        kind: Any
        if self.type == "category":
            kind = Literal[tuple(self.values or ())]
        elif self.type == "string":
            kind = Annotated[str, Field(max_length=self.max_length, description=self.description)]
        elif self.type == "integer":
            kind = Annotated[int, Field(ge=self.minimum, le=self.maximum)]
        elif self.type == "number":
            kind = Annotated[float, Field(ge=self.minimum, le=self.maximum)]
        elif self.type == "boolean":
            kind = bool
        else:
            kind = Annotated[
                list[Annotated[str, Field(max_length=self.max_length)]],
                Field(max_length=self.max_items),
            ]
        return kind | None if self.nullable else kind


class RateLimits(_Strict):
    """Throughput bounds for one recipe's calls."""

    concurrency: int = Field(8, ge=1, le=1024, description="Calls in flight at once.")
    rpm: int | None = Field(None, ge=1, description="Requests per minute (None: unbounded).")
    tpm: int | None = Field(
        None, ge=1, description="Tokens per minute, input + output (None: unbounded)."
    )
    retries: int = Field(5, ge=0, le=20, description="Retries of a throttled/failed call.")
    timeout_seconds: float = Field(60, gt=0, description="Per-call timeout.")
    backoff_initial_seconds: float = Field(
        1.0, gt=0, description="Upper bound of the first retry's random wait (full jitter)."
    )
    backoff_max_seconds: float = Field(
        30.0, gt=0, description="Largest upper bound of a retry's wait."
    )


DEFAULT_EVENT_TYPES = (
    "revenue_milestone",
    "user_growth",
    "funding",
    "hiring",
    "churn",
    "product_launch",
    "incident",
    "partnership",
    "enterprise_deal",
    "market_expansion",
    "compliance",
    "other",
)
"""Event types of `ExtractionConfig` when a recipe names none."""


class ScoringConfig(_Strict):
    """`llm.scoring:` (mode `score`): criteria, threshold and the outreach message prompt."""

    criteria_file: str = Field(
        "scoring_criteria.md",
        description="ICP / scoring criteria, read from the recipe folder (unless `criteria`).",
    )
    criteria: str | None = Field(
        None, min_length=1, description="Inline criteria instead of `criteria_file`."
    )
    threshold: int = Field(
        70, ge=0, le=100, description="Leads scoring at least this get an outreach message."
    )
    message_prompt_file: str = Field(
        "message_prompt.txt",
        description="Prompt of the outreach message (lead fields, {score}, {signals_positive}, "
        "{signals_negative}, {rationale}, {conversation}).",
    )
    max_signals: int = Field(
        5, ge=1, le=20, description="Most signals listed per direction (raised / lowered)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> ScoringConfig:
        if self.criteria is not None and "criteria_file" in self.model_fields_set:
            raise ValueError("give either `criteria` (inline) or `criteria_file`, not both")
        return self


class ExtractionConfig(_Strict):
    """`llm.extraction:` (mode `extract`): batching, event types and the follow-up prompt."""

    batch_size: int = Field(
        200, ge=1, le=10_000, description="Most messages per extraction call (one batch)."
    )
    group_by: str = Field(
        "lead_key",
        description="Lead column whose value groups messages (`lead_key`, or e.g. `company`).",
    )
    event_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EVENT_TYPES),
        min_length=1,
        description="Allowed event types (a category).",
    )
    max_events: int = Field(10, ge=1, le=50, description="Most events one batch may return.")
    constrain_source_ids: bool = Field(
        True,
        description="Send the batch's message ids as the allowed values of "
        "`source_message_ids` (structured output then cites only real ids); off when a "
        "provider refuses large enums. Cited ids are checked either way.",
    )
    followup_prompt_file: str = Field(
        "followup_prompt.txt",
        description="Prompt of the one follow-up per group ({events}, {group_key}, lead fields).",
    )

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not FIELD_NAME.match(t)]
        if bad:
            raise ValueError(f"event types must be identifiers: {', '.join(bad)}")
        dupes = sorted({t for t in value if value.count(t) > 1})
        if dupes:
            raise ValueError(f"event types listed twice: {', '.join(dupes)}")
        return value


CONDITION_OPERATORS = ("not", "not_in", "is_null")
"""Keys of a condition written as a mapping (`{not_in: [a, b]}`)."""


class AnswerRule(_Strict):
    """One of `llm.rules`: when processor/lead columns match, these answer fields are fixed.

    ``when`` maps a column to a condition, all of which must hold: a value
    (equals), a list (one of), ``null`` (is null), or a mapping with one of
    ``not: value``, ``not_in: [values]``, ``is_null: true|false``. The first
    rule that matches a conversation answers it.
    """

    name: str | None = Field(None, description="A label for the rule (shown in errors and docs).")
    when: dict[str, Any] = Field(
        min_length=1,
        description="Column → condition; all must hold: a value (equals), a list (one of), "
        "null (is null), or {not: v} / {not_in: [..]} / {is_null: bool}.",
    )
    answer: dict[str, Any] = Field(
        min_length=1, description="Answer field → the value this rule fixes (output_schema)."
    )
    rest: Literal["empty", "ask"] = Field(
        description="The answer's other fields: `empty` (no call at all) or `ask` (the model "
        "is asked only for them, told the fixed values)."
    )

    @field_validator("when")
    @classmethod
    def _conditions(cls, value: dict[str, Any]) -> dict[str, Any]:
        for column, condition in value.items():
            problem = condition_problem(condition)
            if problem:
                raise ValueError(f"`{column}`: {problem}")
        return value


def condition_problem(condition: Any) -> str | None:
    """Why ``condition`` is not a valid rule condition (None: it is)."""
    scalar = (str, int, float, bool)
    if condition is None or isinstance(condition, scalar):
        return None
    if isinstance(condition, list):
        if not condition or not all(isinstance(v, scalar) for v in condition):
            return "a list condition needs at least one value, each a string, number or boolean"
        return None
    if isinstance(condition, dict):
        if len(condition) != 1 or next(iter(condition)) not in CONDITION_OPERATORS:
            return "a mapping condition has exactly one of " + ", ".join(CONDITION_OPERATORS)
        op, operand = next(iter(condition.items()))
        if op == "is_null" and not isinstance(operand, bool):
            return "`is_null` takes true or false"
        if op == "not" and not isinstance(operand, scalar):
            return "`not` takes a string, number or boolean"
        if op == "not_in" and (
            not isinstance(operand, list)
            or not operand
            or not all(isinstance(v, scalar) for v in operand)
        ):
            return "`not_in` takes a list of strings, numbers or booleans"
        return None
    return f"expected a value, a list, null or a mapping, found {type(condition).__name__}"


class LLMConfig(_Strict):
    """`llm:` in meta.yml."""

    mode: Literal["analyze", "score", "extract"] = Field(
        "analyze",
        description="`analyze`: one structured answer per conversation (output_schema); "
        "`score`: a 0-100 score against criteria, then an outreach message above the "
        "threshold (scoring); `extract`: events from batches of messages per group, then "
        "one follow-up per group (extraction).",
    )
    provider: Literal["local", "openai", "gemini"] = Field(
        "local", description="`local` (offline, for trying the pipeline), `openai` or `gemini`."
    )
    model: str | None = Field(None, description="Model name; each provider has a default.")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint (openai provider).")
    temperature: float = Field(0.0, ge=0, le=2)
    max_output_tokens: int = Field(512, ge=16, le=32_768)
    token_budget: int = Field(
        3_000,
        ge=100,
        description="Most tokens of conversation digest sent; older turns are cut first.",
    )
    limits: RateLimits = Field(default_factory=lambda: RateLimits())
    output_schema: dict[str, OutputField] = Field(
        default_factory=dict,
        validate_default=True,
        description="The answer's fields (mode `analyze` only).",
    )
    scoring: ScoringConfig | None = Field(
        None, validate_default=True, description="Mode `score` settings."
    )
    extraction: ExtractionConfig | None = Field(
        None, validate_default=True, description="Mode `extract` settings."
    )
    rules: list[AnswerRule] = Field(
        default_factory=list,
        description="Answers decided by processor/lead columns before the model (mode "
        "`analyze`): the first matching rule fixes its fields; see docs/llm-rules.md.",
    )
    batch: Literal["never", "always", "auto"] = Field(
        "never",
        description="Send a shard's cache misses through the provider's batch interface "
        "(half price, answers within 24 h; mode `analyze`): `never` (one online call each), "
        "`always`, or `auto` (when a shard has at least `batch_min_requests` misses).",
    )
    batch_min_requests: int = Field(
        200, ge=1, description="With `batch: auto`: the fewest cache misses of a shard batched."
    )

    @field_validator("output_schema")
    @classmethod
    def _names(cls, value: dict[str, OutputField]) -> dict[str, OutputField]:
        bad = [n for n in value if not FIELD_NAME.match(n)]
        if bad:
            raise ValueError(f"field names must be identifiers: {', '.join(bad)}")
        return value

    @field_validator("output_schema", mode="after")
    @classmethod
    def _schema_for_mode(
        cls, value: dict[str, OutputField], info: ValidationInfo
    ) -> dict[str, OutputField]:
        if "mode" not in info.data:
            return value  # the mode itself is invalid: that is the error to report
        mode = info.data["mode"]
        if mode == "analyze" and not value:
            raise ValueError("mode `analyze` needs at least one output field")
        if mode != "analyze" and value:
            raise ValueError(
                f"only mode `analyze` takes an output schema; mode `{mode}` answers with "
                "fixed fields (remove `output_schema`)"
            )
        return value

    @field_validator("scoring", "extraction", mode="after")
    @classmethod
    def _section_for_mode(cls, value: BaseModel | None, info: ValidationInfo) -> BaseModel | None:
        if "mode" not in info.data:
            return value
        mode = info.data["mode"]
        owner = {"scoring": "score", "extraction": "extract"}[str(info.field_name)]
        if mode == owner and value is None:
            raise ValueError(f"mode `{owner}` needs this section")
        if mode != owner and value is not None:
            raise ValueError(f"only applies to mode `{owner}` (mode is `{mode}`)")
        return value

    @field_validator("rules", mode="after")
    @classmethod
    def _rules_for_mode(cls, value: list[AnswerRule], info: ValidationInfo) -> list[AnswerRule]:
        mode = info.data.get("mode")
        if value and mode is not None and mode != "analyze":
            raise ValueError(f"only mode `analyze` takes rules (mode is `{mode}`)")
        return value

    @field_validator("batch", mode="after")
    @classmethod
    def _batch_for_mode(cls, value: str, info: ValidationInfo) -> str:
        mode = info.data.get("mode")
        if value != "never" and mode is not None and mode != "analyze":
            # score / extract ask in stages: each stage would wait for a batch of its own.
            raise ValueError(f"only mode `analyze` batches (mode is `{mode}`); use `never`")
        return value

    def answer_model(self, name: str = "Answer") -> type[BaseModel]:
        """The pydantic model of one answer (extra keys forbidden)."""
        fields: dict[str, Any] = {
            key: (spec.annotation(), Field(description=spec.description or None))
            for key, spec in self.output_schema.items()
        }
        return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def prompt_placeholders(prompt: str) -> list[str]:
    """The ``{name}`` placeholders of a prompt (``{{`` escapes a brace)."""
    return [f for _, f, _, _ in string.Formatter().parse(prompt) if f]
