"""Who may post to call-webhook: a shared-secret header, or an HMAC signature of the body.

Both verifiers compare in constant time, try every configured secret (so a
secret can be rotated by listing the new one beside the old) and answer only
yes or no: the webhook says 401 without saying why.

HMAC signing, as the provider does it (docs/calls.md shows it with openssl)::

    timestamp = str(int(time.time()))                     # the timestamp header
    payload   = f"{timestamp}.{body}"  or  body            # call_webhook_signed_payload
    signature = hmac(secret, payload, sha256|sha512)       # call_webhook_hmac_algorithm
    header    = prefix + hex(signature) | base64(signature) # call_webhook_signature_encoding

With ``timestamp.body`` a signed timestamp further than ``tolerance_seconds``
from now is refused, so a captured request cannot be replayed later. With
``body`` alone there is no replay window (the timestamp is not signed); a
replay of a stored message is still a harmless duplicate for the CallStore.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from common.settings import Settings

SECRET_HEADER = "x-vapi-secret"
Algorithm = Literal["sha256", "sha512"]
SignedPayload = Literal["timestamp.body", "body"]
Encoding = Literal["hex", "base64"]


class Verifier(Protocol):
    """Decides whether a request comes from the provider."""

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> bool:
        """True when the request is authentic (and, for HMAC, recent).

        Args:
            headers: Request headers (case-insensitive lookup, as Flask's).
            body: The raw request body, exactly as received.
            now: Current Unix time (tests); the clock by default.
        """
        ...


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not hasattr(headers, "getlist"):  # a plain dict: case-insensitive
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


@dataclass(frozen=True)
class SharedSecretVerifier:
    """The ``x-vapi-secret`` header must equal one of the secrets."""

    secrets: Sequence[bytes]
    header: str = SECRET_HEADER

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> bool:
        """Constant-time comparison against every secret (no early exit)."""
        given = _header(headers, self.header)
        if not given or not self.secrets:
            return False
        candidate = given.encode()
        ok = False
        for secret in self.secrets:
            ok |= hmac.compare_digest(candidate, secret)
        return ok


def parse_timestamp(value: str) -> float | None:
    """Unix seconds from a timestamp header: seconds, milliseconds or ISO 8601."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.timestamp() if moment.tzinfo else None
    if number != number or number in (float("inf"), float("-inf")):  # NaN, inf
        return None
    return number / 1000 if number > 1e11 else number


def signed_payload(body: bytes, timestamp: str | None, payload: SignedPayload) -> bytes:
    """The bytes the provider signs."""
    if payload == "body":
        return body
    return (timestamp or "").encode() + b"." + body


def sign(
    body: bytes,
    secret: str | bytes,
    *,
    timestamp: str | None = None,
    algorithm: Algorithm = "sha256",
    payload: SignedPayload = "timestamp.body",
    encoding: Encoding = "hex",
    prefix: str = "",
) -> str:
    """The signature header value for ``body`` (what the provider computes; tests, simulators)."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, signed_payload(body, timestamp, payload), algorithm).digest()
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return prefix + text


@dataclass(frozen=True)
class HmacVerifier:
    """An HMAC of the body (and timestamp) in a header, within a replay window."""

    secrets: Sequence[bytes]
    algorithm: Algorithm = "sha256"
    signature_header: str = "x-signature"
    timestamp_header: str = "x-timestamp"
    payload: SignedPayload = "timestamp.body"
    encoding: Encoding = "hex"
    tolerance_seconds: int = 300
    prefix: str = ""

    def _decode(self, text: str) -> bytes | None:
        text = text.strip()
        if self.prefix and text.startswith(self.prefix):
            text = text[len(self.prefix) :]
        try:
            if self.encoding == "hex":
                return bytes.fromhex(text)
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            return None

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> bool:
        """Signature matches one secret; a signed timestamp is within the window."""
        signature = _header(headers, self.signature_header)
        if not signature or not self.secrets:
            return False
        timestamp = _header(headers, self.timestamp_header)
        if self.payload == "timestamp.body":
            if not timestamp:
                return False
            sent = parse_timestamp(timestamp)
            clock = time.time() if now is None else now
            if sent is None or abs(clock - sent) > self.tolerance_seconds:
                return False
        given = self._decode(signature)
        if given is None:
            return False
        message = signed_payload(body, timestamp, self.payload)
        digestmod = getattr(hashlib, self.algorithm)
        ok = False
        for secret in self.secrets:
            expected = hmac.new(secret, message, digestmod).digest()
            ok |= hmac.compare_digest(given, expected)
        return ok


def build_verifier(settings: Settings) -> Verifier:
    """The verifier ``LR_CALL_WEBHOOK_AUTH`` selects, with its secrets and options."""
    secrets = [s.get_secret_value().encode() for s in settings.call_webhook_secret]
    if settings.call_webhook_auth == "hmac":
        return HmacVerifier(
            secrets=secrets,
            algorithm=settings.call_webhook_hmac_algorithm,
            signature_header=settings.call_webhook_signature_header,
            timestamp_header=settings.call_webhook_timestamp_header,
            payload=settings.call_webhook_signed_payload,
            encoding=settings.call_webhook_signature_encoding,
            tolerance_seconds=settings.call_webhook_tolerance_seconds,
            prefix=settings.call_webhook_signature_prefix,
        )
    return SharedSecretVerifier(secrets=secrets)
