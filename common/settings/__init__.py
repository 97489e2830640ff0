"""Typed settings, resolved from environment variables (prefix ``LR_``) and an optional ``.env``.

Backends are chosen here, never by code edits: ``LR_BACKEND=local`` runs every
port on an embedded stand-in (DuckDB, a folder, SQLite, an in-process queue);
``LR_BACKEND=gcp`` uses BigQuery, Cloud Storage, Firestore and Pub/Sub. The
Google clients themselves honour the standard emulator variables
(``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``).

Each concern has its own group, in its own module (`local`, `gcp`, `llm`, `calls`,
`reports`, `runs`); `Settings` is all of them in one flat object, so every variable
keeps its ``LR_<FIELD>`` name. A group can also be read on its own (``CallSettings()``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from common.errors import ConfigError
from common.settings._base import LR_CONFIG, SECRET_PLACEHOLDERS
from common.settings.calls import CallSettings
from common.settings.gcp import GcpSettings
from common.settings.llm import LLMSettings
from common.settings.local import LocalSettings
from common.settings.reports import ReportSettings
from common.settings.runs import RunSettings

Backend = Literal["local", "gcp"]


class BackendSettings(BaseSettings):
    """Which adapters run, and where the recipes are."""

    model_config = LR_CONFIG

    backend: Backend = Field("local", description="Which adapters to use: `local` or `gcp`.")
    recipes_dir: Path = Field(Path("recipes"), description="Folder holding one folder per recipe.")

    warehouse: Literal["auto", "duckdb", "bigquery"] = Field(
        "auto",
        description="Warehouse adapter; `auto` follows `backend`. `duckdb` with backend `gcp` "
        "runs recipe SQL locally while state, blobs and the bus are on Google Cloud (emulators).",
    )


# The groups are listed last-first: pydantic orders the fields from the last base
# to the first, so the fields keep the order of the README's table.
class Settings(
    RunSettings,
    ReportSettings,
    CallSettings,
    LLMSettings,
    GcpSettings,
    LocalSettings,
    BackendSettings,
):
    """Everything a step needs to know about where it runs."""

    model_config = LR_CONFIG

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache)."""
    return Settings()


__all__ = [
    "SECRET_PLACEHOLDERS",
    "Backend",
    "BackendSettings",
    "CallSettings",
    "GcpSettings",
    "LLMSettings",
    "LocalSettings",
    "ReportSettings",
    "RunSettings",
    "Settings",
    "get_settings",
]
