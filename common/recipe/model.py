"""The pydantic model of `meta.yml` (recipe schema version 2).

Unknown keys are errors everywhere, so a typo never passes silently.
`lead-recovery recipes schema` prints this model as JSON Schema for editors.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.privacy.config import PrivacySection
from common.schedule import check_cron


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. America/Mexico_City)") from err
    return value


class ProcessorSpec(_Strict):
    """One entry of `python_processors`."""

    module: str = Field(
        description="Processor name (`TemporalProcessor`) or module path "
        "(`common.processors.temporal.TemporalProcessor`)."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The processor's params.")


class BehaviorFlags(_Strict):
    """Switches that change how the pipeline treats a recipe."""

    skip_detailed_temporal_processing: bool = Field(
        False, description="Compute only the essential timestamps in TemporalProcessor."
    )


class Schedule(_Strict):
    """When Cloud Scheduler starts this recipe."""

    cron: str = Field(description="Unix cron, five fields, e.g. `0 10-18 * * 1-5`.")
    timezone: str = Field("UTC", description="IANA time zone the cron is read in.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _check_zone(v)))


class GSheets(_Strict):
    """The Google Sheet the report keeps up to date."""

    sheet_id: str = Field(min_length=10, description="The id in the sheet's URL (`/d/<id>/edit`).")
    worksheet: str | None = Field(None, description="Tab name; the first tab when omitted.")


class WebhookSpec(_Strict):
    """One entry of `webhooks`: where the report POSTs its signed run summary."""

    url: str = Field(description="http(s) URL receiving the JSON summary (https outside tests).")
    secret: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Name of the signing secret in LR_WEBHOOK_SECRETS; omitted: "
        "LR_WEBHOOK_SECRET. Nothing is sent unsigned.",
    )
    events: list[Literal["succeeded", "partial"]] = Field(
        default_factory=lambda: ["succeeded", "partial"],  # type: ignore[arg-type]
        min_length=1,
        description="Run statuses that trigger this webhook.",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=60, description="Per-attempt timeout.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"expected an http(s) URL like https://hooks.example.com/x, got {value!r}"
            )
        return value


class CallsSection(_Strict):
    """How the report uses the outcomes of follow-up calls (see docs/calls.md)."""

    exclude_dispositions: list[
        Literal[
            "recovered",
            "callback_requested",
            "not_interested",
            "wrong_number",
            "no_decision",
            "no_answer",
            "voicemail",
            "busy",
            "failed",
        ]
    ] = Field(default_factory=list, description="Leads whose last call ended so go to ignored.csv.")
    columns: bool = Field(
        True,
        description="Append call_disposition, call_attempts, call_next_attempt_at, call_last_at.",
    )


class ReportSection(_Strict):
    """How the report presents a run (docs/reports.md)."""

    html_max_rows: int = Field(
        3000,
        ge=0,
        le=50_000,
        description="Leads embedded in the HTML report's table, the most urgent first "
        "(docs/reports.md says which are); its summary and charts count every lead, and "
        "the analysis CSV it links to has them all. About 0.8 KB of page per lead.",
    )


class RecipeMeta(_Strict):
    """`recipes/<name>/meta.yml`."""

    recipe_schema_version: Literal[2] = Field(description="Always 2 for this format.")
    description: str = Field(min_length=1, description="What the recipe finds, for people.")
    leads_sql: str = Field("leads.sql", description="BigQuery SQL returning the target leads.")
    conversations_sql: str = Field(
        "conversations.sql", description="BigQuery SQL returning messages for `@lead_keys`."
    )
    prompt_file: str = Field("prompt.txt", description="LLM instructions (when `llm` is set).")
    leads_csv: str = Field(
        "leads.csv",
        description="Uploaded leads, used with --skip-leads-query or without leads SQL.",
    )
    timezone: str = Field("UTC", description="IANA zone for time features and business hours.")
    sender_map: dict[str, Literal["user", "bot", "agent"]] = Field(
        default_factory=dict,
        description="Warehouse `sender` values to read as `user`, `bot` or `agent` (compared "
        "lowercased and trimmed), e.g. `{customer: user, cliente: user}`; any other value "
        "fails the shard (README: the conversations contract).",
    )
    sent_at_timezone: str | None = Field(
        None,
        description="IANA zone in which zone-less `sent_at` values (a BigQuery DATETIME) are "
        "wall-clock times; unset: zone-less values fail the shard.",
    )
    shard_size: int = Field(500, ge=1, le=100_000, description="Leads per shard (per message).")
    maximum_bytes_billed: int | None = Field(
        None,
        ge=1,
        description="BigQuery: fail any job of this recipe that would bill more bytes than this "
        "(overrides LR_BIGQUERY_MAXIMUM_BYTES_BILLED).",
    )
    python_processors: list[ProcessorSpec] = Field(
        default_factory=list, description="Processors to run, in order, with their params."
    )
    output_columns: list[str] = Field(
        default_factory=list,
        description="Columns of the analysis CSV, in order; empty means every column.",
    )
    behavior_flags: BehaviorFlags = Field(default_factory=BehaviorFlags)
    schedule: Schedule | None = None
    gsheets: GSheets | None = None
    calls: CallsSection | None = Field(
        None, description="Join follow-up call outcomes onto the report and exclude finished leads."
    )
    report: ReportSection = Field(
        default_factory=ReportSection, description="How the HTML report presents the run."
    )
    webhooks: list[WebhookSpec] = Field(
        default_factory=list, description="Signed POSTs of the run summary after each report."
    )
    llm: dict[str, Any] | None = Field(
        None, description="LLM section (provider, model, output schema); validated by summarize."
    )
    clustering: dict[str, Any] | None = Field(
        None,
        description="Clustering section (text, embedding, reducer, clusterer, depth, naming); "
        "validated on load by `common.clustering.config.ClusteringConfig`.",
    )
    privacy: PrivacySection = Field(
        default_factory=PrivacySection,
        description="What is masked before text goes to an LLM or embedding provider "
        "(docs/privacy.md).",
    )

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _check_zone(v)))
    _sent_zone = field_validator("sent_at_timezone")(
        classmethod(lambda cls, v: v if v is None else _check_zone(v))
    )
    _senders = field_validator("sender_map")(
        classmethod(lambda cls, v: {str(k).strip().lower(): t for k, t in v.items()})
    )

    @field_validator("output_columns")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        dupes = [c for c in value if c in seen or seen.add(c)]  # type: ignore[func-returns-value]
        if dupes:
            raise ValueError(f"columns listed twice: {', '.join(dupes)}")
        return value
