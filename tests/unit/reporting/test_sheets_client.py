"""Which Sheets API failures are retried, and how long a retry waits."""

from __future__ import annotations

import json

import pytest
import requests
from gspread.exceptions import APIError

from common.reporting.sheets_client import MAX_BACKOFF_SECONDS, sheets_backoff


def _api_error(status: int, retry_after: str | None = None) -> APIError:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({"error": {"code": status, "message": "m"}}).encode()
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return APIError(response)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_quota_and_server_errors_are_retried(status: int) -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _api_error(status)
        return "ok"

    assert sheets_backoff(5, 0.01).call(flaky, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2 and all(0 <= s <= 0.02 for s in sleeps)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_final(status: int) -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise _api_error(status)

    with pytest.raises(APIError):
        sheets_backoff(5, 0.01).call(refused, sleep=lambda s: None)
    assert len(calls) == 1


def test_connection_errors_and_timeouts_are_retried_up_to_max_retries() -> None:
    calls: list[int] = []
    errors = [requests.ConnectionError("reset"), requests.Timeout("slow")]

    def down() -> None:
        calls.append(1)
        raise errors[len(calls) % 2]

    with pytest.raises(requests.RequestException):
        sheets_backoff(3, 0.01).call(down, sleep=lambda s: None)
    assert len(calls) == 4  # the first try and 3 retries


def test_retry_after_wins_when_longer_capped() -> None:
    policy = sheets_backoff(3, 0.001)
    assert policy.delay(0, _api_error(429, "3")) == 3.0
    assert policy.delay(0, _api_error(429, "3600")) == MAX_BACKOFF_SECONDS
    assert policy.delay(0, _api_error(429, "soon")) <= 0.001
    assert policy.delay(0, requests.ConnectionError("reset")) <= 0.001
