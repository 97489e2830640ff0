"""Shared-secret and HMAC verification: constant-time, rotation, replay window."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from werkzeug.datastructures import Headers

from common.calls.auth import (
    HmacVerifier,
    SharedSecretVerifier,
    build_verifier,
    parse_timestamp,
    sign,
)
from common.settings import Settings
from tests.unit.calls.conftest import golden_bytes

BODY = golden_bytes("end-of-call-report.recovered")
NOW = 1_795_190_800.0
SECRET = "s3cret-Δ-value"


# ---- shared secret ---------------------------------------------------------------------
def test_shared_secret_accepts_the_secret_in_any_header_case() -> None:
    verifier = SharedSecretVerifier(secrets=[SECRET.encode()])
    assert verifier.verify(Headers({"X-Vapi-Secret": SECRET}), BODY)
    assert verifier.verify({"x-vapi-secret": SECRET}, BODY)
    assert verifier.verify({"X-VAPI-SECRET": SECRET}, BODY)


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-vapi-secret": ""}, {"x-vapi-secret": SECRET + "x"}, {"x-vapi-secret": SECRET[:-1]}],
)
def test_shared_secret_refuses_missing_or_wrong(headers: dict[str, str]) -> None:
    assert not SharedSecretVerifier(secrets=[SECRET.encode()]).verify(headers, BODY)


def test_shared_secret_rotation_and_empty_configuration() -> None:
    rotating = SharedSecretVerifier(secrets=[b"old", b"new"])
    assert rotating.verify({"x-vapi-secret": "old"}, BODY)
    assert rotating.verify({"x-vapi-secret": "new"}, BODY)
    # No secret configured: nothing is accepted, not even an empty header.
    assert not SharedSecretVerifier(secrets=[]).verify({"x-vapi-secret": ""}, BODY)


# ---- HMAC -----------------------------------------------------------------------------
def _reference(body: bytes, stamp: str | None, algo: str, payload: str, enc: str) -> str:
    """Independent implementation of the provider's signing, for cross-checking `sign`."""
    message = body if payload == "body" else f"{stamp}.".encode() + body
    digest = hmac.new(SECRET.encode(), message, getattr(hashlib, algo)).digest()
    return digest.hex() if enc == "hex" else base64.b64encode(digest).decode()


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
@pytest.mark.parametrize("payload", ["timestamp.body", "body"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_hmac_modes_accept_the_providers_signature(
    algorithm: str, payload: str, encoding: str
) -> None:
    stamp = str(int(NOW))
    signature = _reference(BODY, stamp, algorithm, payload, encoding)
    assert signature == sign(
        BODY,
        SECRET,
        timestamp=stamp,
        algorithm=algorithm,  # type: ignore[arg-type]
        payload=payload,  # type: ignore[arg-type]
        encoding=encoding,  # type: ignore[arg-type]
    )
    verifier = HmacVerifier(
        secrets=[b"other", SECRET.encode()],
        algorithm=algorithm,  # type: ignore[arg-type]
        payload=payload,  # type: ignore[arg-type]
        encoding=encoding,  # type: ignore[arg-type]
        signature_header="x-sig",
        timestamp_header="x-ts",
    )
    headers = {"X-Sig": signature, "X-Ts": stamp}
    assert verifier.verify(headers, BODY, now=NOW)
    # Any change to the body breaks it.
    assert not verifier.verify(headers, BODY.replace(b"recovered", b"recoveres"), now=NOW)
    assert not verifier.verify({"x-ts": stamp}, BODY, now=NOW)  # no signature
    # The other algorithm's signature does not pass.
    other = "sha512" if algorithm == "sha256" else "sha256"
    assert not verifier.verify(
        {"x-sig": _reference(BODY, stamp, other, payload, encoding), "x-ts": stamp}, BODY, now=NOW
    )


def test_hmac_timestamp_is_signed() -> None:
    verifier = HmacVerifier(secrets=[SECRET.encode()])
    stamp = str(int(NOW))
    signature = sign(BODY, SECRET, timestamp=stamp)
    assert verifier.verify({"x-signature": signature, "x-timestamp": stamp}, BODY, now=NOW)
    # A fresh timestamp on an old signature: refused (the timestamp is part of the payload).
    newer = str(int(NOW) + 10)
    assert not verifier.verify({"x-signature": signature, "x-timestamp": newer}, BODY, now=NOW)
    assert not verifier.verify({"x-signature": signature}, BODY, now=NOW)


@pytest.mark.parametrize(
    ("age", "accepted"),
    [(0, True), (299, True), (-299, True), (301, False), (-301, False), (86_400, False)],
)
def test_hmac_replay_window(age: int, accepted: bool) -> None:
    verifier = HmacVerifier(secrets=[SECRET.encode()], tolerance_seconds=300)
    stamp = str(int(NOW) - age)
    headers = {"x-signature": sign(BODY, SECRET, timestamp=stamp), "x-timestamp": stamp}
    assert verifier.verify(headers, BODY, now=NOW) is accepted


def test_hmac_timestamp_in_milliseconds_and_prefix() -> None:
    verifier = HmacVerifier(secrets=[SECRET.encode()], prefix="sha256=")
    stamp = str(int(NOW * 1000))
    signature = sign(BODY, SECRET, timestamp=stamp, prefix="sha256=")
    assert signature.startswith("sha256=")
    assert verifier.verify({"x-signature": signature, "x-timestamp": stamp}, BODY, now=NOW)


@pytest.mark.parametrize("signature", ["zz-not-hex", "", "ab", "=="])
def test_hmac_garbage_signature_is_refused(signature: str) -> None:
    verifier = HmacVerifier(secrets=[SECRET.encode()])
    stamp = str(int(NOW))
    assert not verifier.verify({"x-signature": signature, "x-timestamp": stamp}, BODY, now=NOW)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1795190800", 1795190800.0),
        ("1795190800123", 1795190800.123),
        ("2026-11-20T16:06:40Z", 1795190800.0),
        ("2026-11-20T16:06:40", None),  # no zone: refused
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_timestamp(value: str, seconds: float | None) -> None:
    parsed = parse_timestamp(value)
    assert parsed == (pytest.approx(seconds) if seconds is not None else None)


def test_build_verifier_from_settings() -> None:
    plain = build_verifier(Settings(call_webhook_secret="a,b"))  # type: ignore[arg-type]
    assert isinstance(plain, SharedSecretVerifier) and list(plain.secrets) == [b"a", b"b"]
    signed = build_verifier(
        Settings(
            call_webhook_auth="hmac",
            call_webhook_secret="k1",  # type: ignore[arg-type]
            call_webhook_hmac_algorithm="sha512",
            call_webhook_signature_header="x-vapi-signature",
            call_webhook_signed_payload="body",
            call_webhook_signature_encoding="base64",
            call_webhook_tolerance_seconds=60,
        )
    )
    assert isinstance(signed, HmacVerifier)
    assert (signed.algorithm, signed.signature_header, signed.payload, signed.encoding) == (
        "sha512",
        "x-vapi-signature",
        "body",
        "base64",
    )
    assert signed.tolerance_seconds == 60 and list(signed.secrets) == [b"k1"]
