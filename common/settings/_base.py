"""What every settings group shares: the ``LR_`` source and the parsing of secret settings."""

from __future__ import annotations

import json

from pydantic_settings import SettingsConfigDict

# hide_input_in_errors: pydantic would otherwise print the rejected value (a whole
# LR_WEBHOOK_SECRETS, an API key list) in the start-up traceback.
LR_CONFIG = SettingsConfigDict(
    env_prefix="LR_",
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    hide_input_in_errors=True,
)

SECRET_PLACEHOLDERS = frozenset({"", "unset", ","})
"""Values meaning "no secret": Secret Manager cannot hold an empty version, so the
Terraform placeholder versions are ``unset`` or ``,`` until a real one is added."""


def is_placeholder(value: str) -> bool:
    return value.strip() in SECRET_PLACEHOLDERS


def json_secret(value: str, expected: str) -> object:
    """Parse a JSON-form secret setting; the error never repeats the value."""
    try:
        return json.loads(value)
    except ValueError:
        raise ValueError(f"starts like JSON but is not valid JSON; expected {expected}") from None


def secret_list(value: object) -> object:
    """Comma-separated secrets, or a JSON array of strings (for secrets containing commas)."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        parsed = json_secret(value, 'a JSON array of strings like ["key1", "key2"]')
        if not isinstance(parsed, list) or not all(isinstance(k, str) for k in parsed):
            raise ValueError('expected a JSON array of strings like ["key1", "key2"]')
        return [k for k in parsed if not is_placeholder(k)]
    return [k.strip() for k in value.split(",") if not is_placeholder(k)]
