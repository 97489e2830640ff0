"""Issue 18: secret-bearing settings never echo a secret, accept commas, ignore placeholders."""

from __future__ import annotations

import traceback

import pytest
from pydantic import SecretStr, ValidationError

from common.recipe.model import WebhookSpec
from common.reporting.webhooks import resolve_secret
from common.settings import Settings

SECRET = "s3cr3t-d0-n0t-pr1nt"


def _secret_fields() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        if "SecretStr" in str(field.annotation):
            names.append(name)
    return names


def test_every_secret_field_is_covered() -> None:
    assert set(_secret_fields()) >= {
        "openai_api_keys",
        "gemini_api_keys",
        "analysis_api_tokens",
        "call_webhook_secret",
        "webhook_secrets",
        "webhook_secret",
        "gsheets_credentials_json",
    }


@pytest.mark.parametrize("field", _secret_fields())
@pytest.mark.parametrize(
    "value",
    [f"good=abc,{SECRET}", f'["{SECRET}"', f'{{"a": "{SECRET}"', f'{{"a": ["{SECRET}"]}}'],
)
def test_a_malformed_secret_setting_never_echoes_it(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    monkeypatch.setenv(f"LR_{field.upper()}", value)
    try:
        Settings()
    except ValidationError as err:
        # What a failed start-up prints: the whole traceback, chained causes included.
        assert SECRET not in "".join(traceback.format_exception(err))
        assert f"{field}" in str(err)


def test_malformed_webhook_secrets_fail_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LR_WEBHOOK_SECRETS", f"good=abc,{SECRET}")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "webhook_secrets" in str(info.value) and "item 1" in str(info.value)
    assert SECRET not in str(info.value) and "abc" not in str(info.value)


def test_secrets_with_commas_in_their_json_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LR_WEBHOOK_SECRETS", '{"ops": "a,b=c", "crm": "plain"}')
    monkeypatch.setenv("LR_OPENAI_API_KEYS", '["sk-1,2", "sk-3"]')
    monkeypatch.setenv("LR_CALL_WEBHOOK_SECRET", '["x,y"]')
    settings = Settings()
    assert {k: v.get_secret_value() for k, v in settings.webhook_secrets.items()} == {
        "ops": "a,b=c",
        "crm": "plain",
    }
    assert [k.get_secret_value() for k in settings.openai_api_keys] == ["sk-1,2", "sk-3"]
    assert [k.get_secret_value() for k in settings.call_webhook_secret] == ["x,y"]


def test_the_terraform_placeholder_never_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LR_WEBHOOK_SECRET", "unset")
    monkeypatch.setenv("LR_WEBHOOK_SECRETS", "ops=unset")
    settings = Settings()
    assert resolve_secret(WebhookSpec(url="https://example.test/h"), settings) is None
    assert resolve_secret(WebhookSpec(url="https://example.test/h", secret="ops"), settings) is None
    assert settings.webhook_secret is None or isinstance(settings.webhook_secret, SecretStr)
