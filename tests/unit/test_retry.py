"""The one retry policy (common/retry.py)."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time

import pytest

from common.retry import (
    MAX_RETRY_AFTER_S,
    Backoff,
    retry_after_from_headers,
    retry_after_seconds,
)


class Flaky:
    """Fails with ``errors`` in order, then returns ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_retries_the_listed_errors_then_returns() -> None:
    slept: list[float] = []
    fn = Flaky(ConnectionError("a"), ConnectionError("b"))
    policy = Backoff(attempts=3, initial_s=1.0, retry_on=ConnectionError)
    assert policy.call(fn, sleep=slept.append) == "ok"
    assert fn.calls == 3
    assert len(slept) == 2


def test_other_errors_are_not_retried() -> None:
    fn = Flaky(KeyError("bug"))
    policy = Backoff(attempts=5, initial_s=0.0, retry_on=ConnectionError)
    with pytest.raises(KeyError):
        policy.call(fn, sleep=lambda s: None)
    assert fn.calls == 1


def test_the_last_error_itself_is_raised_when_attempts_run_out() -> None:
    fn = Flaky(*(TimeoutError(f"t{i}") for i in range(4)))
    policy = Backoff(attempts=3, initial_s=0.0, retry_on=(TimeoutError,))
    with pytest.raises(TimeoutError, match="t2"):
        policy.call(fn, sleep=lambda s: None)
    assert fn.calls == 3


def test_a_predicate_chooses_what_is_retried() -> None:
    class HTTPError(Exception):
        def __init__(self, code: int) -> None:
            self.code = code

    policy = Backoff(attempts=4, initial_s=0.0, retry_on=lambda e: getattr(e, "code", 0) >= 500)
    fn = Flaky(HTTPError(503), HTTPError(404))
    with pytest.raises(HTTPError) as raised:
        policy.call(fn, sleep=lambda s: None)
    assert raised.value.code == 404
    assert fn.calls == 2


def test_full_jitter_is_capped_and_doubles() -> None:
    policy = Backoff(attempts=10, initial_s=1.0, max_s=5.0, rng=random.Random(7))
    for retry, bound in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (8, 5.0)]:
        waits = [policy.delay(retry) for _ in range(200)]
        assert all(0 <= w <= bound for w in waits)
        assert max(waits) > bound * 0.8  # jitter spans the whole window


def test_a_longer_retry_after_wins_but_is_capped() -> None:
    class Throttled(Exception):
        def __init__(self, after: str) -> None:
            self.after = after

    policy = Backoff(
        attempts=3,
        initial_s=0.01,
        max_s=10.0,
        retry_on=Throttled,
        retry_after=lambda e: retry_after_seconds(getattr(e, "after", None)),
    )
    slept: list[float] = []
    policy.call(Flaky(Throttled("3"), Throttled("60")), sleep=slept.append)
    assert slept[0] == 3.0
    assert slept[1] == 10.0


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(" 2 ") == 2.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    soon = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 100 <= (retry_after_seconds(soon) or 0) <= 120
    assert retry_after_seconds("99999") == MAX_RETRY_AFTER_S
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
    assert retry_after_from_headers({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_from_headers({"retry-after": "3"}) == 3.0
    assert retry_after_from_headers({}) is None


def test_before_sleep_sees_every_retry() -> None:
    seen: list[int] = []
    policy = Backoff(attempts=3, initial_s=0.0, retry_on=ValueError)
    policy.call(
        Flaky(ValueError(), ValueError()),
        sleep=lambda s: None,
        before_sleep=lambda state: seen.append(state.attempt_number),
    )
    assert seen == [1, 2]


def test_async_retrying() -> None:
    fn = Flaky(ConnectionError(), ConnectionError())

    async def go() -> str:
        async for attempt in Backoff(
            attempts=3, initial_s=0.0, retry_on=ConnectionError
        ).async_retrying():
            with attempt:
                return fn()
        raise AssertionError("unreachable")

    assert asyncio.run(go()) == "ok"
    assert fn.calls == 3


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        Backoff(attempts=0, initial_s=1.0)


def test_no_retry_starts_after_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    fn = Flaky(*(ConnectionError() for _ in range(10)))
    policy = Backoff(
        attempts=10, initial_s=1.0, max_s=1.0, retry_on=ConnectionError, deadline_s=2.5
    )
    real = time.monotonic
    # tenacity measures the delay with time.monotonic: let the fake sleeps move it.
    monkeypatch.setattr(time, "monotonic", lambda: real() + clock[0])
    with pytest.raises(ConnectionError):
        policy.call(fn, sleep=sleep)
    assert 2 <= fn.calls < 10
    assert clock[0] < 2.5 + 1.0


def test_ceiling_is_the_jitters_upper_bound() -> None:
    policy = Backoff(attempts=5, initial_s=0.5, max_s=3.0)
    assert [policy.ceiling(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
