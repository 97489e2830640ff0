"""Outbound webhooks: a signed JSON summary of each finished run, POSTed to the recipe's URLs.

Signature (the receiver's recipe is `verify_signature`)::

    X-LeadRecovery-Timestamp: 1795000000            # Unix seconds, at sending
    X-LeadRecovery-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

``body`` is the exact bytes received. A receiver recomputes the HMAC with the
shared secret, compares it in constant time, and refuses timestamps further
than a few minutes from its clock (replays). ``X-LeadRecovery-Delivery`` is
the same for every attempt of one delivery, so a receiver can drop duplicates.

Deliveries are retried under the project's retry policy (`common.retry.Backoff`:
exponential backoff, full jitter) on timeouts, connection errors, 408, 429
(``Retry-After`` honoured) and 5xx; each attempt is signed afresh. Redirects are not followed. Failures are recorded per
webhook on the run document; they never fail the report.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from common.recipe.model import WebhookSpec
from common.reporting._base import ReportContext
from common.retry import Backoff, retry_after_from_headers
from common.settings import Settings

log = logging.getLogger(__name__)

EVENT = "run.report"
TIMESTAMP_HEADER = "X-LeadRecovery-Timestamp"
SIGNATURE_HEADER = "X-LeadRecovery-Signature"
DELIVERY_HEADER = "X-LeadRecovery-Delivery"
EVENT_HEADER = "X-LeadRecovery-Event"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 60.0
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` + hex HMAC-SHA256 of ``{timestamp}.{body}``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes | str,
    header: str,
    tolerance_s: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> bool:
    """Whether a received webhook is authentic and fresh (the receiver's recipe).

    Args:
        secret: The shared secret (the value behind the recipe's secret name).
        timestamp: The ``X-LeadRecovery-Timestamp`` header.
        body: The raw request body, exactly as received (do not re-serialise the JSON).
        header: The ``X-LeadRecovery-Signature`` header.
        tolerance_s: Largest accepted distance between the timestamp and ``now``.
        now: The receiver's clock in Unix seconds (default: ``time.time()``).

    Returns:
        True when the signature matches and the timestamp is within the tolerance.
    """
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    clock = time.time() if now is None else now
    if abs(clock - sent) > tolerance_s:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, timestamp, raw), header.strip())


def payload(context: ReportContext) -> dict[str, Any]:
    """The JSON summary every webhook receives (with the earlier sinks' statuses)."""
    run = context.run
    body: dict[str, Any] = {
        "event": EVENT,
        "run_id": context.run_id,
        "recipe": context.recipe.name,
        "status": context.status,
        "finished_at": run.get("finished_at"),
        "seconds": run.get("seconds"),
        "counts": {
            "rows": context.analysis.height,
            "ignored": context.ignored.height,
            "failed_shards": len(run.get("failed_shards") or []),
        },
        "outputs": dict(context.outputs),
        "llm": run.get("llm") or {},
    }
    if context.records:
        body["sinks"] = {name: record.get("status") for name, record in context.records.items()}
    return body


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact, key-sorted JSON: the exact bytes that are signed and sent."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx comes back as an HTTPError and is recorded


_OPENER = urllib.request.build_opener(_NoRedirect)


class _Undelivered(Exception):
    """One attempt that got no 2xx; ``transient``: worth another attempt."""

    def __init__(self, transient: bool, retry_after: float | None = None) -> None:
        super().__init__()
        self.transient = transient
        self.retry_after = retry_after


def webhook_backoff(attempts: int, initial_s: float) -> Backoff:
    """The retry policy of one delivery: ``attempts`` tries in all, ``Retry-After`` honoured."""
    return Backoff(
        attempts=attempts,
        initial_s=initial_s,
        max_s=MAX_BACKOFF_SECONDS,
        retry_on=lambda err: isinstance(err, _Undelivered) and err.transient,
        retry_after=lambda err: err.retry_after if isinstance(err, _Undelivered) else None,
    )


def _target(url: str, index: int) -> str:
    """Where a webhook goes, for records and logs: scheme and host only (paths hold tokens)."""
    parts = urlsplit(url)
    return f"webhooks[{index}] {parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def deliver(
    url: str,
    body: bytes,
    *,
    secret: str,
    delivery_id: str,
    timeout_s: float,
    policy: Backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST ``body`` signed with ``secret``, retrying transient failures; never raises.

    Args:
        policy: How often and how long to retry (`webhook_backoff`).
        sleep: Waits between attempts (swappable for tests).

    Returns:
        ``{"status": "ok"|"failed", "attempts": n, "http_status": code, "error": ...}``.
    """
    record: dict[str, Any] = {"attempts": 0}

    def attempt() -> None:
        timestamp = str(int(time.time()))  # signed afresh at each attempt
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "lead-recovery-webhooks/1",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(secret, timestamp, body),
                DELIVERY_HEADER: delivery_id,
                EVENT_HEADER: EVENT,
            },
        )
        record["attempts"] += 1
        try:
            with _OPENER.open(request, timeout=timeout_s) as response:
                record.update(status="ok", http_status=response.status)
                record.pop("error", None)
        except urllib.error.HTTPError as err:
            record.update(http_status=err.code, error=f"HTTP {err.code} {err.reason}")
            hint = retry_after_from_headers(err.headers)
            raise _Undelivered(err.code in RETRY_STATUSES, hint) from err
        except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, resets
            reason = getattr(err, "reason", err)
            record.pop("http_status", None)
            record["error"] = f"{type(reason).__name__}: {reason}"
            raise _Undelivered(True) from err

    try:
        policy.call(attempt, sleep=sleep)
    except _Undelivered:
        record["status"] = "failed"
    return record


def resolve_secret(spec: WebhookSpec, settings: Settings) -> str | None:
    """The signing secret a webhook names (None: not configured)."""
    if spec.secret is None:
        return settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    secret = settings.webhook_secrets.get(spec.secret)
    return secret.get_secret_value() if secret else None


class WebhooksSink:
    """POSTs the signed run summary to each of the recipe's webhooks."""

    name = "webhooks"

    def __init__(
        self,
        specs: Sequence[WebhookSpec],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.specs = list(specs)
        self.sleep = sleep

    def publish(self, context: ReportContext) -> dict[str, Any]:
        """Deliver to every webhook whose ``events`` include the run's status; never raises."""
        settings = context.settings
        body = encode(payload(context))
        policy = webhook_backoff(settings.webhook_max_attempts, settings.webhook_backoff_seconds)
        deliveries: list[dict[str, Any]] = []
        earlier = {
            d.get("target"): d
            for d in (context.delivered.get(self.name) or {}).get("deliveries") or ()
            if d.get("status") == "ok"
        }
        for index, spec in enumerate(self.specs):
            target = _target(spec.url, index)
            if target in earlier:  # answered 2xx on an earlier attempt of this report
                deliveries.append({**earlier[target], "reused": True})
                continue
            if context.status not in spec.events:
                deliveries.append(
                    {"target": target, "status": "skipped", "reason": f"status {context.status}"}
                )
                continue
            secret = resolve_secret(spec, settings)
            if not secret:
                where = f"LR_WEBHOOK_SECRETS[{spec.secret}]" if spec.secret else "LR_WEBHOOK_SECRET"
                deliveries.append(
                    {
                        "target": target,
                        "status": "failed",
                        "attempts": 0,
                        "error": f"no signing secret configured ({where}); nothing sent unsigned",
                    }
                )
                continue
            started = time.monotonic()
            record = deliver(
                spec.url,
                body,
                secret=secret,
                delivery_id=f"{context.run_id}.{index}",
                timeout_s=spec.timeout_seconds,
                policy=policy,
                sleep=self.sleep,
            )
            record = {"target": target, **record, "seconds": round(time.monotonic() - started, 3)}
            if record["status"] != "ok":
                log.warning("webhook %s failed: %s", target, record.get("error"))
            deliveries.append(record)
        sent = [d for d in deliveries if d["status"] != "skipped"]
        failed = [d for d in sent if d["status"] == "failed"]
        status = "failed" if failed and len(failed) == len(sent) else "partial" if failed else "ok"
        if not sent:
            status = "skipped"
        return {"status": status, "deliveries": deliveries}
