"""The project's one retry policy: capped exponential backoff with full jitter, on tenacity.

Every place that retries (the Sheets and webhook HTTP clients, the Firestore
adapters, the local runner, the LLM client, the budget store, the remote
embedders) builds its loop from a `Backoff`, configured per use: which errors
are worth another try, how many attempts, how long to wait. The wait before
retry ``n`` (0-based) is uniform in ``[0, min(max_s, initial_s * 2**n)]``
("full jitter": retries from many instances spread out instead of arriving in
lockstep), and a server's own hint (an HTTP ``Retry-After``) wins when it is
longer, capped at ``max_s``.

Use it as tenacity's iterator (``for attempt in policy.retrying(): with
attempt: ...``), or as ``policy.call(fn, ...)``. ``sleep`` is injectable so
tests run without waiting; ``before_sleep`` sees each retry (counters, logs).
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)
from tenacity.stop import stop_base

T = TypeVar("T")

RetryOn = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]
"""Which errors are retried: exception types, or a predicate on the error."""


class Headers(Protocol):
    """HTTP headers: a mapping, ``requests``' or ``httpx``' headers, ``email.message.Message``."""

    def get(self, name: str, /) -> Any:
        """The header's value, or None."""


MAX_RETRY_AFTER_S = 600.0
"""Longest Retry-After honoured; a larger (or nonsensical) value is clamped to this."""


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` value (seconds, or an HTTP date) as seconds from now.

    None when absent or unreadable; clamped to [0, `MAX_RETRY_AFTER_S`].
    """
    if value is None:
        return None
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _http_date_delay(value)
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def retry_after_from_headers(headers: Headers | None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date).

    Returns None when neither header is present or readable; clamps to
    [0, `MAX_RETRY_AFTER_S`]. ``headers`` must look up names case-insensitively
    (httpx, requests and urllib headers do) or use lower-case names.
    """
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            value = float(milliseconds) / 1000.0
        except ValueError:
            value = math.nan
        if not math.isnan(value):
            return min(max(value, 0.0), MAX_RETRY_AFTER_S)
    return retry_after_seconds(headers.get("retry-after"))


def _http_date_delay(raw: str) -> float | None:
    try:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        return float(email.utils.mktime_tz(parsed) - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class Backoff:
    """How one kind of call is retried.

    Attributes:
        attempts: Tries in all, the first included (1: never retry).
        initial_s: Upper bound of the first wait; it doubles each retry.
        max_s: Cap on any single wait (a ``Retry-After`` hint included).
        retry_on: The errors worth another attempt (types or a predicate).
        retry_after: Reads a server's wait hint (seconds) from an error.
        deadline_s: No retry starts this long after the first attempt (None: no limit).
        rng: Source of the jitter (seed it in tests).
    """

    attempts: int
    initial_s: float
    max_s: float = 30.0
    retry_on: RetryOn = Exception
    retry_after: Callable[[BaseException], float | None] | None = None
    deadline_s: float | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Backoff.attempts must be at least 1, got {self.attempts}")
        if self.initial_s < 0 or self.max_s < 0:
            raise ValueError("Backoff waits must not be negative")

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (0-based): the jitter's upper bound.

        Also how long a throttled API key rests when the provider names no time.
        """
        return float(min(self.max_s, self.initial_s * 2**retry))

    def delay(self, retry: int, error: BaseException | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based) after ``error``."""
        wait = self.rng.uniform(0, self.ceiling(retry))
        if error is not None and self.retry_after is not None:
            hint = self.retry_after(error)
            if hint is not None:
                wait = max(wait, min(hint, self.max_s))
        return wait

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return self.delay(state.attempt_number - 1, error)

    def _predicate(self) -> Callable[[BaseException], bool]:
        retry_on = self.retry_on
        if isinstance(retry_on, type | tuple):
            kinds = retry_on
            return lambda err: isinstance(err, kinds)
        return retry_on

    def _options(self, before_sleep: Callable[[RetryCallState], Any] | None) -> dict[str, Any]:
        stop: stop_base = stop_after_attempt(self.attempts)
        if self.deadline_s is not None:
            stop = stop | stop_after_delay(self.deadline_s)
        return {
            "stop": stop,
            "wait": self._wait,
            "retry": retry_if_exception(self._predicate()),
            "before_sleep": before_sleep,
            "reraise": True,  # the caller sees the last real error, not a RetryError
        }

    def retrying(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        before_sleep: Callable[[RetryCallState], Any] | None = None,
    ) -> Retrying:
        """A tenacity ``Retrying`` for a blocking call."""
        return Retrying(sleep=sleep, **self._options(before_sleep))

    def async_retrying(
        self,
        *,
        sleep: Callable[[float], Any] | None = None,
        before_sleep: Callable[[RetryCallState], Any] | None = None,
    ) -> AsyncRetrying:
        """A tenacity ``AsyncRetrying`` for a coroutine."""
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        return AsyncRetrying(**extra, **self._options(before_sleep))

    def call(
        self,
        fn: Callable[..., T],
        *args: Any,
        sleep: Callable[[float], None] = time.sleep,
        before_sleep: Callable[[RetryCallState], Any] | None = None,
        **kwargs: Any,
    ) -> T:
        """``fn(*args, **kwargs)``, retried under this policy; the last error is re-raised."""
        return self.retrying(sleep=sleep, before_sleep=before_sleep)(fn, *args, **kwargs)
