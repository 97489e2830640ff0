"""Settings of the LLM providers: overrides, API keys, the answer cache, rate budgets, prices."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from common.observability.prices import DEFAULT_LLM_PRICES, LLMPrice
from common.settings._base import LR_CONFIG, secret_list


class LLMSettings(BaseSettings):
    """Which LLM provider and keys every recipe uses, and how answers are cached, paced and priced."""

    model_config = LR_CONFIG

    llm_provider: Literal["local", "openai", "gemini"] | None = Field(
        None, description="Use this provider for every recipe, whatever its `llm.provider` says."
    )
    llm_model: str | None = Field(None, description="Use this model for every recipe.")
    openai_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="OpenAI keys, comma-separated (or a JSON array); several form a pool that rotates away from a "
        "throttled key. In the cloud they come from Secret Manager as this variable.",
    )
    openai_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (overrides the recipe's `base_url`)."
    )
    gemini_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Gemini/Vertex AI express-mode keys, comma-separated (or a JSON array); empty means use the "
        "service account (application default credentials) with `project`/`gemini_location`.",
    )
    gemini_location: str = Field("us-central1", description="Vertex AI region for Gemini.")
    gemini_base_url: str | None = Field(None, description="Override the Gemini endpoint (tests).")
    analysis_api_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Bearer tokens accepted by the summarize function's HTTP analysis endpoint "
        "(comma-separated, or a JSON array; Secret Manager in the cloud). Empty: the endpoint "
        "refuses every call.",
    )
    llm_cache: bool = Field(
        True, description="Use the summary cache (the CLI's --no-cache sets false)."
    )
    llm_rate_budget: Literal["shared", "process"] = Field(
        "shared",
        description="Where each key's `rpm`/`tpm` budget lives: `shared` (Firestore on `gcp`, the "
        "state DB locally: one budget for every instance and shard) or `process` (a limiter per "
        "client, as before; N shards then send N times the rate).",
    )
    llm_rate_budget_fallback_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="Share of a key's rate one process uses on its own while the shared budget's "
        "store fails (1 / the most summarize instances keeps the total within the limit).",
    )
    llm_cache_ttl_days: int = Field(
        30, ge=1, description="Days a cached answer lives (Firestore TTL)."
    )
    llm_prices: dict[str, LLMPrice] = Field(
        default_factory=lambda: dict(DEFAULT_LLM_PRICES),
        description="USD per million tokens by model, for estimated costs in run documents, "
        'reports and evals: JSON like `{"gpt-4o-mini": {"input_per_mtok": 0.15, '
        '"output_per_mtok": 0.6}}`. Entries replace or add to the defaults '
        "(`common/observability/prices.py`); the `local` provider costs 0.",
    )
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none",
        description="OpenTelemetry spans around steps and LLM calls: `none` (off), `console` "
        "(printed to stderr) or `otlp` (OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT); needs the "
        "`otel` extra.",
    )

    @field_validator("llm_prices", mode="before")
    @classmethod
    def _prices_over_defaults(cls, value: object) -> object:
        if isinstance(value, dict):
            return {**DEFAULT_LLM_PRICES, **value}
        return value

    @field_validator("openai_api_keys", "gemini_api_keys", "analysis_api_tokens", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return secret_list(value)
