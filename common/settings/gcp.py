"""Settings of the Google Cloud backend: project, bucket, BigQuery, Firestore, Pub/Sub."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from common.errors import ConfigError
from common.settings._base import LR_CONFIG


class GcpSettings(BaseSettings):
    """Which Google Cloud project, bucket, datasets, database and topics the `gcp` backend uses."""

    model_config = LR_CONFIG

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

    @property
    def gcp_project(self) -> str:
        """The project, which the `gcp` validator guarantees is set."""
        if not self.project:
            raise ConfigError("no Google Cloud project", where="settings", expected="LR_PROJECT")
        return self.project
