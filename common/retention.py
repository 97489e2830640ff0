"""How long each kind of data is kept, in one list that docs, settings and infra tests read.

`KINDS` is the retention table: the README/docs table (`markdown_table`), the
typed `RetentionSettings` (``LR_RETENTION_<KIND>_DAYS``) and the offline
Terraform test (tests/infra/test_infra_retention.py: a TTL policy or a
lifecycle rule for every kind) all derive from it, so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

Enforcement = Literal["firestore_ttl", "bucket_lifecycle", "bigquery_expiration"]


@dataclass(frozen=True)
class RetentionKind:
    """One kind of stored data and how its age limit is enforced.

    Attributes:
        name: Key of the kind (``LR_RETENTION_<NAME>_DAYS``).
        what: What the data is, for the table.
        default_days: Days kept by default (0 = kept forever).
        enforcement: How the cloud deletes it.
        target: The Firestore collection (without prefix), bucket prefix or dataset variable.
        terraform_variable: The ``infra/variables.tf`` variable holding its days.
        local: What ``lead-recovery prune`` deletes locally.
    """

    name: str
    what: str
    default_days: int
    enforcement: Enforcement
    target: str
    terraform_variable: str
    local: str

    @property
    def env(self) -> str:
        return f"LR_RETENTION_{self.name.upper()}_DAYS"


TTL_FIELD = "expires_at"
"""The timestamp field every Firestore TTL policy reads (as the summary cache's already did)."""

KINDS: tuple[RetentionKind, ...] = (
    RetentionKind(
        "calls",
        "call transcripts and phone numbers (`calls/{call_id}`)",
        90,
        "firestore_ttl",
        "calls",
        "call_retention_days",
        "calls rows of the call store (SQLite)",
    ),
    RetentionKind(
        "lead_outcomes",
        "leads' call outcomes: disposition, attempts, next attempt (`lead_outcomes/{lead_key}`)",
        365,
        "firestore_ttl",
        "lead_outcomes",
        "lead_outcome_retention_days",
        "lead_outcomes rows of the call store (SQLite)",
    ),
    RetentionKind(
        "runs",
        "run documents (`runs/{run_id}`: status, counts, failures)",
        180,
        "firestore_ttl",
        "runs",
        "run_retention_days",
        "runs (and their steps and fan-in rows) of the state store (SQLite)",
    ),
    RetentionKind(
        "intermediate",
        "a run's intermediate Parquet (`runs/<run_id>/...`)",
        14,
        "bucket_lifecycle",
        "runs/",
        "intermediate_retention_days",
        "`runs/<run_id>/` folders of the local blob store",
    ),
    RetentionKind(
        "outputs",
        "reports (`output_run/<recipe>/<stamp>/...`; `latest.*` is rewritten by every run)",
        365,
        "bucket_lifecycle",
        "output_run/",
        "output_retention_days",
        "`output_run/<recipe>/<stamp>/` folders of the local blob store",
    ),
    RetentionKind(
        "llm_rate_budget",
        "LLM rate-budget buckets per key fingerprint (`llm_rate_buckets`)",
        2,
        "firestore_ttl",
        "llm_rate_buckets",
        "rate_budget_retention_days",
        "rate buckets of the state DB (SQLite)",
    ),
    RetentionKind(
        "staging",
        "each run's staged leads and conversations scan (BigQuery staging dataset)",
        2,
        "bigquery_expiration",
        "google_bigquery_dataset.staging",
        "bigquery_staging_expiration_days",
        "`LR_STAGING_DIR/<run_id>/` folders",
    ),
)
"""The retention table. The LLM summary cache keeps its own `LR_LLM_CACHE_TTL_DAYS`."""


class _RetentionBase(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LR_RETENTION_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )


RetentionSettings = create_model(  # type: ignore[call-overload]
    "RetentionSettings",
    __base__=_RetentionBase,
    __doc__="Days each kind of data is kept (`KINDS`); 0 keeps it forever.",
    **{
        f"{kind.name}_days": (
            int,
            Field(kind.default_days, ge=0, description=f"Days to keep {kind.what}; 0 = forever."),
        )
        for kind in KINDS
    },
)


def retention_days(kind: str) -> int:
    """Days ``kind`` is kept: ``LR_RETENTION_<KIND>_DAYS``, else the table's default (0 = forever).

    Raises:
        KeyError: ``kind`` is not in `KINDS`.
    """
    if kind not in {k.name for k in KINDS}:
        raise KeyError(f"retention kind {kind!r}: expected one of {[k.name for k in KINDS]}")
    return int(getattr(RetentionSettings(), f"{kind}_days"))


def expires_at(days: int, now: datetime | None = None) -> datetime | None:
    """The `TTL_FIELD` value of a document written at ``now``: ``now + days`` (UTC).

    None when ``days`` is 0: the document is kept forever, so the field is not written.
    """
    if days <= 0:
        return None
    return (now or datetime.now(UTC)) + timedelta(days=days)


def markdown_table() -> str:
    """The retention table as Markdown (docs/privacy.md, section "Retention")."""
    cloud = {
        "firestore_ttl": "Firestore TTL policy on `{target}.expires_at`",
        "bucket_lifecycle": "bucket lifecycle rule on `{target}`",
        "bigquery_expiration": "default table expiration of `{target}`",
    }
    lines = [
        "| data | default days | setting (local) | Terraform variable | cloud | `lead-recovery prune` |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for k in KINDS:
        lines.append(
            f"| {k.what} | {k.default_days or 'forever'} | `{k.env}` | `{k.terraform_variable}` "
            f"| {cloud[k.enforcement].format(target=k.target)} | {k.local} |"
        )
    return "\n".join(lines) + "\n"
