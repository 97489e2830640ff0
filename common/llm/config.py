"""The recipe's `llm` section, and the answer model built from its output schema.

The output schema lists the fields the LLM must return (Python-computed
columns never go here). It becomes a pydantic model, whose JSON Schema is sent
for structured output and which validates every answer, whatever the provider.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

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


class LLMConfig(_Strict):
    """`llm:` in meta.yml."""

    mode: Literal["analyze"] = Field(
        "analyze", description="`analyze`: one structured answer per conversation (output_schema)."
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
    output_schema: dict[str, OutputField] = Field(min_length=1, description="The answer's fields.")

    @field_validator("output_schema")
    @classmethod
    def _names(cls, value: dict[str, OutputField]) -> dict[str, OutputField]:
        bad = [n for n in value if not FIELD_NAME.match(n)]
        if bad:
            raise ValueError(f"field names must be identifiers: {', '.join(bad)}")
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
