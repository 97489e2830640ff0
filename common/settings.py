"""Typed settings, resolved from environment variables (prefix ``LR_``) and an optional ``.env``.

Backends are chosen here, never by code edits: ``LR_BACKEND=local`` runs every
port on an embedded stand-in (DuckDB, a folder, SQLite, an in-process queue);
``LR_BACKEND=gcp`` uses BigQuery, Cloud Storage, Firestore and Pub/Sub. The
Google clients themselves honour the standard emulator variables
(``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.errors import ConfigError

Backend = Literal["local", "gcp"]


class Settings(BaseSettings):
    """Everything a step needs to know about where it runs."""

    model_config = SettingsConfigDict(
        env_prefix="LR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
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
        description="OpenAI keys, comma-separated; several form a pool that rotates away from a "
        "throttled key. In the cloud they come from Secret Manager as this variable.",
    )
    openai_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (overrides the recipe's `base_url`)."
    )
    gemini_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Gemini/Vertex AI express-mode keys, comma-separated; empty means use the "
        "service account (application default credentials) with `project`/`gemini_location`.",
    )
    gemini_location: str = Field("us-central1", description="Vertex AI region for Gemini.")
    gemini_base_url: str | None = Field(None, description="Override the Gemini endpoint (tests).")
    analysis_api_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Bearer tokens accepted by the summarize function's HTTP analysis endpoint "
        "(comma-separated; Secret Manager in the cloud). Empty: the endpoint refuses every call.",
    )
    llm_cache: bool = Field(
        True, description="Use the summary cache (the CLI's --no-cache sets false)."
    )
    llm_cache_ttl_days: int = Field(
        30, ge=1, description="Days a cached answer lives (Firestore TTL)."
    )

    @field_validator("openai_api_keys", "gemini_api_keys", "analysis_api_tokens", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    # --- behaviour -----------------------------------------------------------------
    step_lease_seconds: int = Field(
        540, ge=1, description="How long a running step holds its (run, step, shard) claim."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="`json` for Cloud Logging, `text` for people; `auto` picks by TTY."
    )
    log_level: str = Field("INFO", description="Python logging level name.")

    @model_validator(mode="after")
    def _gcp_needs_project(self) -> Settings:
        if self.backend == "gcp":
            missing = [name for name in ("project", "bucket") if not getattr(self, name)]
            if missing:
                tried = ", ".join(f"LR_{m.upper()}" for m in missing)
                raise ConfigError(
                    f"backend `gcp` needs {', '.join(missing)}",
                    where="settings",
                    expected=f"environment variable(s) {tried} or the same keys in .env",
                )
        return self

    @property
    def gcp_project(self) -> str:
        """The project, which the `gcp` validator guarantees is set."""
        if not self.project:
            raise ConfigError("no Google Cloud project", where="settings", expected="LR_PROJECT")
        return self.project


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache)."""
    return Settings()
