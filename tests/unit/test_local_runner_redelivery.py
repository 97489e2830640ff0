"""The local bus redelivers a failing message with the one retry policy's waits."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from common import local_runner
from common.adapters.local.inprocess_bus import Delivery
from common.errors import TransientError


def test_redelivery_waits_grow_and_stay_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_runner, "BACKOFF_S", 0.5)
    policy = local_runner.redelivery()
    for retry in range(12):
        bound = min(0.5 * 2**retry, local_runner.MAX_BACKOFF_S)
        waits = [policy.delay(retry) for _ in range(200)]
        assert all(0 <= wait <= bound for wait in waits)
        assert max(waits) > bound / 2  # full jitter over the whole range, not a constant


def test_a_failing_delivery_is_redelivered_then_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    attempts: list[int] = []

    def deliver(ctx: Any, step: str, data: bytes, *, attempt: int, **_: Any) -> None:
        attempts.append(attempt)
        raise TransientError("warehouse busy", where="test")

    monkeypatch.setattr(local_runner, "deliver", deliver)
    monkeypatch.setattr(local_runner, "time", SimpleNamespace(sleep=slept.append))
    monkeypatch.setattr(local_runner, "BACKOFF_S", 0.1)
    redelivered: list[Delivery] = []
    bus = SimpleNamespace(redeliver=redelivered.append)
    dispatch = local_runner.dispatcher(None, bus, publish_time=None)  # type: ignore[arg-type]
    message = Delivery("leads-fetched", b"{}", "m1")
    for _ in range(local_runner.MAX_ATTEMPTS - 1):
        dispatch(message)
    with pytest.raises(TransientError):
        dispatch(message)  # the last delivery: recorded failed by the step, then raised
    assert attempts == list(range(1, local_runner.MAX_ATTEMPTS + 1))
    assert redelivered == [message] * (local_runner.MAX_ATTEMPTS - 1)
    assert len(slept) == local_runner.MAX_ATTEMPTS - 1
    assert all(0 <= wait <= min(0.1 * 2**n, 30.0) for n, wait in enumerate(slept))
