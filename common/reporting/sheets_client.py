"""The Sheets API v4 client: credentials, gspread's HTTP client, retries and request counts.

What is sent is decided in `common.reporting.sheet_requests` (and merged in
`common.reporting.sheet_merge`); this module only gets it there. Each HTTP
request is retried under the project's one policy (`common.retry.Backoff`)
on 429, 408 and 5xx and on connection errors and timeouts, with capped
exponential backoff and full jitter, honouring ``Retry-After``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from common.errors import ConfigError
from common.retry import Backoff, retry_after_from_headers
from common.settings import Settings

if TYPE_CHECKING:
    from gspread.http_client import HTTPClient

SHEETS_API = "https://sheets.googleapis.com/v4/spreadsheets"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
"""Sheets only: the pipeline never lists or creates Drive files."""
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 64.0
INSTALL_HINT = "pip install 'gspread>=6.1,<7' (a dependency of lead-recovery)"


@dataclass
class RequestStats:
    """What one run asked of the Sheets API."""

    requests: int = 0
    """HTTP requests sent, retries included."""
    retries: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    """Logical requests by kind (``metadata``, ``read``, ``structure``, ``values``)."""

    def count(self, kind: str) -> None:
        """Count one logical request."""
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1


def _transient(err: BaseException) -> bool:
    """Quota, timeouts and server errors are worth another try; the rest is final."""
    import requests
    from gspread.exceptions import APIError

    if isinstance(err, APIError):
        return err.code in RETRY_STATUSES
    return isinstance(err, requests.ConnectionError | requests.Timeout)


def _retry_after(err: BaseException) -> float | None:
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None)
    return retry_after_from_headers(headers)


def sheets_backoff(max_retries: int, backoff_s: float) -> Backoff:
    """The retry policy of one Sheets request: ``max_retries`` retries after the first try."""
    return Backoff(
        attempts=max_retries + 1,
        initial_s=backoff_s,
        max_s=MAX_BACKOFF_SECONDS,
        retry_on=_transient,
        retry_after=_retry_after,
    )


def retrying_client(
    credentials: Any,
    *,
    api_base: str | None,
    policy: Backoff,
    stats: RequestStats,
    sleep: Callable[[float], None] = time.sleep,
) -> HTTPClient:
    """gspread's HTTP client, pointed at ``api_base`` and retrying under ``policy``.

    Every attempt counts in ``stats.requests``, every retry in ``stats.retries``.
    """
    try:
        import requests
        from gspread.http_client import HTTPClient
    except ImportError as err:  # pragma: no cover - gspread is a dependency
        raise ConfigError(
            "gspread is not installed", where="gsheets", expected=INSTALL_HINT
        ) from err

    base = api_base.rstrip("/") if api_base else None

    def count_retry(_: object) -> None:
        stats.retries += 1

    class RetryingHTTPClient(HTTPClient):
        def request(
            self, method: str, endpoint: str, *args: Any, **kwargs: Any
        ) -> requests.Response:
            if base and endpoint.startswith(SHEETS_API):
                endpoint = base + endpoint[len(SHEETS_API) :]

            def send() -> requests.Response:
                stats.requests += 1
                return HTTPClient.request(self, method, endpoint, *args, **kwargs)

            return policy.call(send, sleep=sleep, before_sleep=count_retry)

    return RetryingHTTPClient(credentials)


def load_credentials(settings: Settings) -> tuple[Any, str | None]:
    """Credentials with the Sheets scope, and the service account's e-mail when known.

    Raises:
        ConfigError: naming every source tried when none gives usable credentials.
    """
    from google.oauth2 import service_account

    info: dict[str, Any]
    if settings.gsheets_credentials_json is not None:
        source = "LR_GSHEETS_CREDENTIALS_JSON"
        try:
            info = json.loads(settings.gsheets_credentials_json.get_secret_value())
        except ValueError as err:
            raise ConfigError(f"{source} is not JSON", where="gsheets") from err
    elif settings.gsheets_credentials_file is not None:
        source = str(settings.gsheets_credentials_file)
        try:
            info = json.loads(settings.gsheets_credentials_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"cannot read the service-account key: {err}",
                where="LR_GSHEETS_CREDENTIALS_FILE",
                found=source,
            ) from err
    else:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _ = google.auth.default(scopes=list(SCOPES))
        except DefaultCredentialsError as err:
            raise ConfigError(
                "no credentials for the Google Sheet",
                where="gsheets",
                expected="LR_GSHEETS_CREDENTIALS_JSON, LR_GSHEETS_CREDENTIALS_FILE or "
                "application default credentials",
            ) from err
        return credentials, getattr(credentials, "service_account_email", None)
    try:
        credentials = service_account.Credentials.from_service_account_info(
            info, scopes=list(SCOPES)
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"not a service-account key: {err}",
            where=source,
            expected="the JSON key file of a service account (type service_account)",
        ) from err
    return credentials, info.get("client_email")


def describe_failure(err: Exception, email: str | None) -> str:
    """One line for the run document: what failed and what to do."""
    code = getattr(err, "code", None)
    if code == 403:
        who = f"`{email}`" if email else "the function's service account"
        return f"Sheets API 403: no access; share the sheet with {who} as Editor ({err})"
    if code == 404:
        return f"Sheets API 404: no spreadsheet with this sheet_id ({err})"
    if code == 429:
        return f"Sheets API 429: quota exceeded, retries exhausted ({err})"
    if code is not None:
        return f"Sheets API {code}: {err}"
    return f"{type(err).__name__}: {err}"
