"""Typed settings, resolved from environment variables (prefix ``LR_``) and an optional ``.env``.

Backends are chosen here, never by code edits: ``LR_BACKEND=local`` runs every
port on an embedded stand-in (DuckDB, a folder, SQLite, an in-process queue);
``LR_BACKEND=gcp`` uses BigQuery, Cloud Storage, Firestore and Pub/Sub. The
Google clients themselves honour the standard emulator variables
(``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.errors import ConfigError
from common.observability.prices import DEFAULT_LLM_PRICES, LLMPrice

Backend = Literal["local", "gcp"]


class Settings(BaseSettings):
    """Everything a step needs to know about where it runs."""

    # hide_input_in_errors: pydantic would otherwise print the rejected value (a whole
    # LR_WEBHOOK_SECRETS, an API key list) in the start-up traceback.
    model_config = SettingsConfigDict(
        env_prefix="LR_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
    )

    backend: Backend = Field("local", description="Which adapters to use: `local` or `gcp`.")
    recipes_dir: Path = Field(Path("recipes"), description="Folder holding one folder per recipe.")

    warehouse: Literal["auto", "duckdb", "bigquery"] = Field(
        "auto",
        description="Warehouse adapter; `auto` follows `backend`. `duckdb` with backend `gcp` "
        "runs recipe SQL locally while state, blobs and the bus are on Google Cloud (emulators).",
    )

    # --- local (embedded) backends --------------------------------------------------
    data_dir: Path = Field(
        Path("."),
        description="Root of the local BlobStore: `runs/` and `output_run/` are created here.",
    )
    state_db: Path = Field(
        Path(".lead-recovery/state.sqlite"),
        description="SQLite file of the local StateStore (runs, shard counters, step marks).",
    )
    local_workers: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 4),
        ge=1,
        description="Local runs: messages handled at once, as several function instances "
        "would (default: the CPU count, at most 4).",
    )
    staging_dir: Path | None = Field(
        None,
        description="Local warehouse: where a run's conversations scan is staged as per-shard "
        "Parquet (`<run_id>/_shard=N/`), removed when the run's report is written; default: "
        "`staging/` beside LR_STATE_DB.",
    )
    warehouse_dir: Path = Field(
        Path("data/sample"),
        description="Local warehouse: every `<dataset>/<table>.parquet` under it is a table "
        "`dataset.table` for the recipe SQL (run on DuckDB).",
    )

    # --- Google Cloud --------------------------------------------------------------
    project: str | None = Field(None, description="Google Cloud project id (required for gcp).")
    bucket: str | None = Field(None, description="Cloud Storage bucket for runs and outputs.")
    bigquery_location: str | None = Field(None, description="BigQuery job location, e.g. `US`.")
    bigquery_page_size: int = Field(50_000, ge=1, description="Rows per BigQuery result page.")
    bigquery_maximum_bytes_billed: int | None = Field(
        None,
        ge=1,
        description="Fail any BigQuery job that would bill more bytes than this (a recipe's "
        "`maximum_bytes_billed` overrides it); unset: no cap.",
    )
    bigquery_staging_dataset: str = Field(
        "lead_recovery_staging",
        pattern=r"^[A-Za-z0-9_]{1,1024}$",
        description="Dataset holding each run's staged leads and conversations scan (tables "
        "expire on their own; Terraform creates it with a default table expiration).",
    )
    results_dataset: str = Field(
        "lead_recovery_results",
        pattern=r"^[A-Za-z0-9_]{1,1024}$",
        description="Dataset of the results tables the report step loads every run into "
        "(BigQuery; locally the folder `<LR_WAREHOUSE_DIR>/<dataset>/`). Terraform creates it.",
    )
    results_analysis_table: str = Field(
        "analysis",
        pattern=r"^[A-Za-z0-9_]{1,1024}$",
        description="Results table of the analysis rows: one row per lead per run.",
    )
    results_ignored_table: str = Field(
        "ignored",
        pattern=r"^[A-Za-z0-9_]{1,1024}$",
        description="Results table of the ignored leads, with `ignore_reason`.",
    )
    results_runs_table: str = Field(
        "runs",
        pattern=r"^[A-Za-z0-9_]{1,1024}$",
        description="Results table of the runs: one row per run (counts, metrics).",
    )
    bigquery_api_endpoint: str | None = Field(
        None,
        description="Send BigQuery REST calls to this URL without credentials (tests and "
        "emulators, e.g. `http://127.0.0.1:9050`); unset: Google's endpoint with the "
        "default credentials.",
    )
    bigquery_storage_endpoint: str | None = Field(
        None,
        description="`host:port` of a BigQuery Storage Read API to reach over plain gRPC "
        "without credentials (tests and emulators); unset: Google's, with the default "
        "credentials.",
    )
    firestore_database: str = Field("(default)", description="Firestore database id.")
    firestore_collection_prefix: str = Field(
        "", description="Prefix for Firestore collection names (isolates tests and environments)."
    )
    topic_prefix: str = Field("", description="Prefix for Pub/Sub topic names.")

    # --- LLM ----------------------------------------------------------------------
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
        return _secret_list(value)

    # --- voice calls (call-webhook; docs/calls.md) -----------------------------------
    call_webhook_auth: Literal["secret", "hmac"] = Field(
        "secret",
        description="How call-webhook authenticates the voice-call provider: `secret` (the "
        "`x-vapi-secret` header equals a shared secret) or `hmac` (a signature of the body).",
    )
    call_webhook_secret: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Shared secret(s) or HMAC key(s) of call-webhook, comma-separated or a JSON array (several "
        "while rotating). In the cloud it comes from Secret Manager as this variable. Empty: "
        "every call is refused.",
    )
    call_webhook_hmac_algorithm: Literal["sha256", "sha512"] = Field(
        "sha256", description="HMAC digest of the `hmac` mode."
    )
    call_webhook_signature_header: str = Field(
        "x-signature", min_length=1, description="Header carrying the HMAC signature."
    )
    call_webhook_signature_prefix: str = Field(
        "", description="Prefix before the signature in its header, e.g. `sha256=`."
    )
    call_webhook_timestamp_header: str = Field(
        "x-timestamp",
        min_length=1,
        description="Header carrying the signing time (Unix seconds or milliseconds).",
    )
    call_webhook_signed_payload: Literal["timestamp.body", "body"] = Field(
        "timestamp.body",
        description="What the provider signs: `{timestamp}.{body}` (replays outside the window "
        "are refused) or the raw body alone.",
    )
    call_webhook_signature_encoding: Literal["hex", "base64"] = Field(
        "hex", description="Encoding of the HMAC signature."
    )
    call_webhook_tolerance_seconds: int = Field(
        300, ge=1, description="Largest accepted distance between the signed timestamp and now."
    )
    call_webhook_max_body_bytes: int = Field(
        2_097_152, ge=1024, description="Larger request bodies are refused with 413."
    )
    call_retry_intervals_hours: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [2.0, 24.0, 72.0],
        description="Hours from an unanswered call to the next attempt, per attempt "
        "(comma-separated; the last repeats).",
    )
    call_max_attempts: int = Field(
        3, ge=1, description="Calls to one lead before unanswered ones stop being retried."
    )
    call_business_hours_start: int = Field(
        9, ge=0, le=23, description="Local hour (lead's time zone) from which calls are placed."
    )
    call_business_hours_end: int = Field(
        19, ge=1, le=24, description="Local hour at which calls stop (exclusive)."
    )
    call_business_days: Annotated[
        list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]], NoDecode
    ] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"],  # type: ignore[arg-type]
        description="Days on which calls are placed, comma-separated (`mon`..`sun`).",
    )
    call_default_timezone: str = Field(
        "UTC", description="Time zone of leads whose call carries none (IANA name)."
    )

    @field_validator("call_webhook_secret", mode="before")
    @classmethod
    def _split_call_secrets(cls, value: object) -> object:
        return _secret_list(value)

    @field_validator("call_retry_intervals_hours", "call_business_days", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip().lower() for v in value.split(",") if v.strip()]
        return value

    @field_validator("call_retry_intervals_hours")
    @classmethod
    def _positive_intervals(cls, value: list[float]) -> list[float]:
        if not value or any(v <= 0 for v in value):
            raise ValueError("expected one or more positive numbers of hours, e.g. `2,24,72`")
        return value

    @field_validator("call_default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}; expected an IANA name") from err
        return value

    @model_validator(mode="after")
    def _business_hours_order(self) -> Settings:
        if self.call_business_hours_start >= self.call_business_hours_end:
            raise ConfigError(
                "call business hours are empty",
                where="settings",
                expected="LR_CALL_BUSINESS_HOURS_START < LR_CALL_BUSINESS_HOURS_END",
                found=(self.call_business_hours_start, self.call_business_hours_end),
            )
        return self

    # --- reports: Google Sheet and outbound webhooks (docs/reports.md) --------------
    gsheets_credentials_file: Path | None = Field(
        None,
        description="Service-account JSON key file for the recipe's Google Sheet. Neither this "
        "nor LR_GSHEETS_CREDENTIALS_JSON: application default credentials (the function's "
        "own service account, with the sheet shared to it).",
    )
    gsheets_credentials_json: SecretStr | None = Field(
        None,
        description="The service-account JSON key itself (Secret Manager mounts it as this "
        "variable); wins over LR_GSHEETS_CREDENTIALS_FILE.",
    )
    gsheets_api_base: str | None = Field(
        None,
        description="Sheets API base instead of `https://sheets.googleapis.com/v4/spreadsheets` "
        "(tests point it at a local fake).",
    )
    gsheets_max_retries: int = Field(
        6, ge=0, le=20, description="Retries of one Sheets request answered 429, 408 or 5xx."
    )
    gsheets_backoff_seconds: float = Field(
        1.0,
        gt=0,
        description="Upper bound of the first retry's random wait; it doubles per retry up to "
        "64 s, and a `Retry-After` header is honoured.",
    )
    gsheets_max_request_bytes: int = Field(
        2_000_000,
        ge=10_000,
        description="Values of one write request stay under this many bytes of JSON "
        "(Google recommends 2 MB); larger sheets are written in several requests.",
    )
    gsheets_timeout_seconds: float = Field(60, gt=0, description="Per-request timeout.")
    webhook_secrets: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict,
        description="Signing secrets of the recipes' webhooks by name, `name=value` pairs "
        "separated by commas, or a JSON object for values with commas (a recipe's "
        "`webhooks[].secret` names one). Secret Manager in "
        "the cloud.",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="The signing secret of webhooks whose recipe entry names none (`unset`, "
        "Terraform's placeholder, counts as none: nothing is signed with it).",
    )
    webhook_max_attempts: int = Field(
        4, ge=1, le=10, description="Deliveries of one webhook before it is recorded as failed."
    )
    webhook_backoff_seconds: float = Field(
        1.0, gt=0, description="Upper bound of the first retry's random wait (doubles per retry)."
    )

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _split_pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("{"):
            parsed = _json_secret(value, 'a JSON object like {"name": "value"}')
            if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
                raise ValueError('expected a JSON object of strings like {"name": "value"}')
            return {k: v for k, v in parsed.items() if not _is_placeholder(v)}
        pairs: dict[str, str] = {}
        for index, item in enumerate(i.strip() for i in value.split(",")):
            name, sep, secret = item.partition("=")
            if item and (not sep or not name.strip() or not secret.strip()):
                # Never the item itself: it may be a secret without its `name=`.
                raise ValueError(
                    f"item {index} is not a `name=value` pair (expected `name=value` pairs "
                    'separated by commas, or a JSON object {"name": "value"} for values '
                    "with commas)"
                )
            if item and not _is_placeholder(secret.strip()):
                pairs[name.strip()] = secret.strip()
        return pairs

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _placeholder_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and _is_placeholder(value) else value

    # --- behaviour -----------------------------------------------------------------
    batch_poll_seconds: float = Field(
        60.0,
        gt=0,
        description="How often the local runner asks the provider about the batches its run "
        "waits for (`llm.batch`); in the cloud the poll-batches Cloud Scheduler job does.",
    )
    step_lease_seconds: int = Field(
        540, ge=1, description="How long a running step holds its (run, step, shard) claim."
    )
    max_delivery_attempts: int = Field(
        10,
        ge=1,
        description="Pub/Sub's max_delivery_attempts (infra passes var.max_delivery_attempts): "
        "a step failing on that delivery is recorded as failed for good and its shard counted.",
    )
    sweep_grace_seconds: int = Field(
        1800,
        ge=0,
        description="`runs sweep`: how long a shard may show no progress (no live claim) "
        "before the sweeper records it as failed (stuck).",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="`json` for Cloud Logging, `text` for people; `auto` picks by TTY."
    )
    log_level: str = Field("INFO", description="Python logging level name.")

    @model_validator(mode="after")
    def _gcp_needs_project(self) -> Settings:
        # The bucket is checked where the chain's backends are built
        # (`common.backends.build_backends`): call-webhook needs none.
        if self.backend == "gcp" and not self.project:
            raise ConfigError(
                "backend `gcp` needs project",
                where="settings",
                expected="environment variable LR_PROJECT or the same key in .env",
            )
        return self

    @property
    def gcp_project(self) -> str:
        """The project, which the `gcp` validator guarantees is set."""
        if not self.project:
            raise ConfigError("no Google Cloud project", where="settings", expected="LR_PROJECT")
        return self.project


SECRET_PLACEHOLDERS = frozenset({"", "unset", ","})
"""Values meaning "no secret": Secret Manager cannot hold an empty version, so the
Terraform placeholder versions are ``unset`` or ``,`` until a real one is added."""


def _is_placeholder(value: str) -> bool:
    return value.strip() in SECRET_PLACEHOLDERS


def _json_secret(value: str, expected: str) -> object:
    """Parse a JSON-form secret setting; the error never repeats the value."""
    try:
        return json.loads(value)
    except ValueError:
        raise ValueError(f"starts like JSON but is not valid JSON; expected {expected}") from None


def _secret_list(value: object) -> object:
    """Comma-separated secrets, or a JSON array of strings (for secrets containing commas)."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        parsed = _json_secret(value, 'a JSON array of strings like ["key1", "key2"]')
        if not isinstance(parsed, list) or not all(isinstance(k, str) for k in parsed):
            raise ValueError('expected a JSON array of strings like ["key1", "key2"]')
        return [k for k in parsed if not _is_placeholder(k)]
    return [k.strip() for k in value.split(",") if not _is_placeholder(k)]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache)."""
    return Settings()
