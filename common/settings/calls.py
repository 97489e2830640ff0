"""Settings of voice calls: how call-webhook authenticates the provider, when calls are retried."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from common.errors import ConfigError
from common.settings._base import LR_CONFIG, secret_list


class CallSettings(BaseSettings):
    """call-webhook's authentication and the retry plan of unanswered calls (docs/calls.md)."""

    model_config = LR_CONFIG

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
        return secret_list(value)

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
    def _business_hours_order(self) -> CallSettings:
        if self.call_business_hours_start >= self.call_business_hours_end:
            raise ConfigError(
                "call business hours are empty",
                where="settings",
                expected="LR_CALL_BUSINESS_HOURS_START < LR_CALL_BUSINESS_HOURS_END",
                found=(self.call_business_hours_start, self.call_business_hours_end),
            )
        return self
