"""One webhook delivery: which failures are retried, how long it waits, what it records."""

from __future__ import annotations

import email.message
import urllib.error
from typing import Any

import pytest

from common.reporting import webhooks
from common.reporting.webhooks import MAX_BACKOFF_SECONDS, deliver, webhook_backoff


class _Response:
    status = 204

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Opener:
    """Answers each POST with the next scripted outcome: a status code or an exception."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Any] = []

    def open(self, request: Any, timeout: float) -> _Response:
        self.sent.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome >= 300:
            raise _http_error(outcome)
        return _Response()


def _http_error(code: int, retry_after: str | None = None) -> urllib.error.HTTPError:
    headers = email.message.Message()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return urllib.error.HTTPError("http://x", code, "Nope", headers, None)


def _deliver(
    monkeypatch: pytest.MonkeyPatch, *outcomes: Any, attempts: int = 4
) -> tuple[dict[str, Any], list[float], _Opener]:
    opener = _Opener(*outcomes)
    monkeypatch.setattr(webhooks, "_OPENER", opener)
    sleeps: list[float] = []
    record = deliver(
        "http://receiver.test/hook",
        b"{}",
        secret="s",
        delivery_id="run.0",
        timeout_s=1,
        policy=webhook_backoff(attempts, 0.01),
        sleep=sleeps.append,
    )
    return record, sleeps, opener


def test_retry_after_is_honoured_and_nothing_really_sleeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record, sleeps, opener = _deliver(
        monkeypatch, _http_error(429, "7"), _http_error(503, "9999"), 204
    )
    assert record == {"attempts": 3, "status": "ok", "http_status": 204}
    assert sleeps == [7.0, MAX_BACKOFF_SECONDS]
    assert {r.get_header("X-leadrecovery-delivery") for r in opener.sent} == {"run.0"}


def test_a_client_error_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    record, sleeps, _ = _deliver(monkeypatch, 410, 204)
    assert record == {
        "attempts": 1,
        "http_status": 410,
        "error": "HTTP 410 Nope",
        "status": "failed",
    }
    assert sleeps == []


def test_connection_errors_use_every_attempt_then_fail_without_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused = urllib.error.URLError(ConnectionRefusedError(111, "refused"))
    record, sleeps, _ = _deliver(monkeypatch, 500, refused, refused, attempts=3)
    assert record["status"] == "failed" and record["attempts"] == 3
    assert "http_status" not in record and record["error"].startswith("ConnectionRefusedError")
    assert len(sleeps) == 2 and all(0 <= s <= 0.02 for s in sleeps)
