"""Settings of report sinks: the Google Sheet and outbound webhooks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from common.settings._base import LR_CONFIG, is_placeholder, json_secret


class ReportSettings(BaseSettings):
    """Credentials, limits and retries of the Google Sheet and webhook report sinks (docs/reports.md)."""

    model_config = LR_CONFIG

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
            parsed = json_secret(value, 'a JSON object like {"name": "value"}')
            if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
                raise ValueError('expected a JSON object of strings like {"name": "value"}')
            return {k: v for k, v in parsed.items() if not is_placeholder(v)}
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
            if item and not is_placeholder(secret.strip()):
                pairs[name.strip()] = secret.strip()
        return pairs

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _placeholder_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and is_placeholder(value) else value
