"""Webhook signatures: signing, the receiver's check, the documented recipe, the settings."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from pydantic import ValidationError

from common.recipe.model import WebhookSpec
from common.reporting.webhooks import encode, sign, verify_signature
from common.settings import Settings
from tests.support.webhook_receiver import documented_verify

BODY = b'{"event":"run.report","run_id":"r1"}'
NOW = 1_795_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret", b"1795000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("s3cret", "1795000000", BODY) == f"sha256={expected}"


def test_verify_accepts_a_fresh_authentic_delivery() -> None:
    header = sign("s3cret", str(NOW), BODY)
    assert verify_signature("s3cret", str(NOW), BODY, header, now=NOW + 10)
    assert verify_signature("s3cret", str(NOW), BODY.decode(), f" {header} ", now=NOW)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "now"),
    [
        ("other", str(NOW), BODY, NOW),  # wrong secret
        ("s3cret", str(NOW), BODY + b" ", NOW),  # body changed
        ("s3cret", str(NOW + 1), BODY, NOW),  # timestamp changed
        ("s3cret", str(NOW), BODY, NOW + 301),  # too old: a replay
        ("s3cret", str(NOW), BODY, NOW - 301),  # from the future
        ("s3cret", "yesterday", BODY, NOW),  # not a number
    ],
)
def test_verify_refuses(secret: str, timestamp: str, body: bytes, now: int) -> None:
    header = sign("s3cret", str(NOW), BODY)
    assert not verify_signature(secret, timestamp, body, header, 300, now=now)


def test_tolerance_is_the_receivers_choice() -> None:
    header = sign("k", str(NOW), BODY)
    assert not verify_signature("k", str(NOW), BODY, header, 60, now=NOW + 61)
    assert verify_signature("k", str(NOW), BODY, header, 3600, now=NOW + 61)


def test_the_documented_recipe_verifies_our_signatures() -> None:
    verify = documented_verify()
    timestamp = str(int(time.time()))
    header = sign("s3cret", timestamp, BODY)
    assert verify("s3cret", timestamp, BODY, header)
    assert not verify("wrong", timestamp, BODY, header)
    old = str(int(timestamp) - 3600)
    assert not verify("s3cret", old, BODY, sign("s3cret", old, BODY))


def test_body_encoding_is_compact_key_sorted_ascii() -> None:
    assert encode({"b": 1, "a": {"d": None, "c": "é"}}) == b'{"a":{"c":"\\u00e9","d":null},"b":1}'


def test_webhook_urls_must_be_http() -> None:
    assert WebhookSpec(url="https://hooks.example.com/x").events == ["succeeded", "partial"]
    for bad in ("ftp://example.com/x", "hooks.example.com/x", "https://"):
        with pytest.raises(ValidationError, match="http"):
            WebhookSpec(url=bad)
    with pytest.raises(ValidationError):
        WebhookSpec(url="https://h.example.com", secret="has space")


def test_webhook_secrets_are_name_value_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LR_WEBHOOK_SECRETS", "sales=abc, ops = x=y=z ,")
    secrets = Settings().webhook_secrets
    assert {k: v.get_secret_value() for k, v in secrets.items()} == {"sales": "abc", "ops": "x=y=z"}
    assert "abc" not in repr(Settings())
    monkeypatch.setenv("LR_WEBHOOK_SECRETS", "sales")
    with pytest.raises(ValidationError, match="name=value"):
        Settings()
