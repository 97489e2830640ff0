"""Which Google client errors are worth retrying (shared by the Google adapters)."""

from __future__ import annotations

import concurrent.futures

import requests
from google.api_core import exceptions as gexc

# Errors that say "the service is busy or unreachable", not "your request is wrong".
# `Aborted` is Firestore's transaction contention; `RetryError` is a client-side
# retry budget running out on one of the others.
TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    gexc.TooManyRequests,
    gexc.ServiceUnavailable,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.GatewayTimeout,
    gexc.DeadlineExceeded,
    gexc.Aborted,
    gexc.RetryError,
    ConnectionError,
    TimeoutError,
    concurrent.futures.TimeoutError,
    requests.ConnectionError,
    requests.Timeout,
)

# Reasons that Google APIs attach to a 403 (or 400/500) when the caller is being
# throttled or the backend hiccuped: BigQuery signals rate limits as *403
# rateLimitExceeded*, so the HTTP status alone would misfile them as terminal.
TRANSIENT_REASONS = frozenset(
    {
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "jobRateLimitExceeded",
        "backendError",
        "internalError",
        "badGateway",
    }
)


def error_reason(err: BaseException) -> str | None:
    """The first structured ``reason`` of a Google API error, if it carries one."""
    errors = getattr(err, "errors", None) or []
    first = errors[0] if errors else None
    return first.get("reason") if isinstance(first, dict) else None


def is_transient(err: BaseException) -> bool:
    """Whether retrying later may succeed."""
    return isinstance(err, TRANSIENT_TYPES) or error_reason(err) in TRANSIENT_REASONS
