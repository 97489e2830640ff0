"""Exactly-once effects on at-least-once delivery: claim, work, mark done.

Every invocation is keyed ``(run_id, step, shard)``. A finished key is
acknowledged without work; a key held by a live claim elsewhere raises
`TransientError` (redeliver later); a terminal failure is recorded on the step's
mark and acknowledged so it does not loop. Any other failure is retried by
redelivery, except on the delivery's last attempt (`Delivery.last`): then it
is recorded as failed for good too, so the fan-in counts the shard and the run
ends `partial` instead of waiting forever for a dead-lettered message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.errors import (
    AttemptsExhausted,
    LeadRecoveryError,
    StepWaiting,
    TerminalError,
    TransientError,
)
from common.logging import log_context
from common.messages import ShardMessage
from common.observability.tracing import span
from common.ports import StepKey, StepStatus
from common.ports.statestore import RUN_LEVEL
from common.steps.context import StepContext
from common.steps.fanin import shard_failed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """Which delivery of its message this invocation is.

    Attributes:
        attempt: Pub/Sub's ``deliveryAttempt`` (1 for the first), or the local
            runner's count; None when unknown (a subscription without a
            dead-letter policy), and then no delivery is ever the last.
        max_attempts: The subscription's ``max_delivery_attempts``.
    """

    attempt: int | None
    max_attempts: int

    @property
    def last(self) -> bool:
        """After this one, the message goes to the dead-letter topic: nobody retries it."""
        return self.attempt is not None and self.attempt >= self.max_attempts


# Set by `dispatch.deliver` around one step invocation, read by `run_once`: the
# steps themselves need not pass it along (a context variable is per thread,
# so concurrent requests of one instance do not see each other's).
_delivery: ContextVar[Delivery | None] = ContextVar("delivery", default=None)


@contextmanager
def delivering(delivery: Delivery) -> Iterator[None]:
    """Run the enclosed step invocation as ``delivery``."""
    token = _delivery.set(delivery)
    try:
        yield
    finally:
        _delivery.reset(token)


def _error_record(err: Exception) -> dict[str, Any]:
    if isinstance(err, LeadRecoveryError):
        return err.to_record()
    return LeadRecoveryError(f"{type(err).__name__}: {err}").to_record()


def fail_run(ctx: StepContext, key: StepKey, record: dict[str, Any]) -> None:
    """A run-level step failed for good: the run stops there, so its document says so (once)."""
    failure = {**record, "terminal": True, "at": datetime.now(UTC).isoformat()}
    ctx.backends.state.update_run(
        key.run_id, {"status": "failed", "failures": {key.doc_id: failure}}
    )


def run_once(
    ctx: StepContext,
    key: StepKey,
    work: Callable[[], dict[str, Any]],
    *,
    recipe: str,
    on_failed: Callable[[], None] | None = None,
    delivery: Delivery | None = None,
) -> dict[str, Any] | None:
    """Run ``work`` once for ``key``; returns its result, or None when it was already done.

    ``on_failed`` runs when a redelivered message finds the step failed for
    good: the bookkeeping that follows a terminal failure (a shard's fan-in)
    may not have happened the first time. ``delivery`` defaults to the one
    `delivering` set (none: never the last attempt).

    Raises:
        TransientError: the work failed in a way worth retrying, or another
            worker is doing it right now.
        AttemptsExhausted: it failed so on the last delivery attempt, and is
            now recorded as failed for good (a `TerminalError`).
    """
    state = ctx.backends.state
    delivery = delivery or _delivery.get()
    shard = None if key.shard < 0 else key.shard
    with log_context(run_id=key.run_id, recipe=recipe, step=key.step, shard=shard):
        status = state.begin_step(key, ctx.lease_seconds)
        if status is StepStatus.DONE:
            log.info("already done; acknowledging a redelivered message")
            return None
        if status is StepStatus.FAILED:
            # The first delivery recorded the failure, then may have died (or hit
            # contention) before its bookkeeping: redo it (idempotent) so the run
            # still completes, instead of acknowledging a shard nobody counted.
            log.info("failed for good before; acknowledging a redelivered message")
            if on_failed is not None:
                on_failed()
            return None
        if status is StepStatus.BUSY:
            raise TransientError("another worker is running this step", where=key.doc_id)
        started = time.monotonic()
        try:
            with span(f"step.{key.step}", run_id=key.run_id, recipe=recipe, shard=shard):
                result = work()
        except StepWaiting as err:
            # Handed to something slow outside (a provider batch): not done, not failed.
            # The claim is released; whoever finishes that work re-delivers the message.
            log.info("waiting: %s", err)
            state.wait_step(key, err.record)
            return None
        except TerminalError as err:
            log.error("step failed for good: %s", err)
            state.fail_step(key, err.to_record(), terminal=True)
            if key.shard == RUN_LEVEL:
                fail_run(ctx, key, err.to_record())
            raise
        except Exception as err:
            # A TransientError, or an unexpected error (a bug or an outage we did
            # not classify): let delivery retry it, bounded by the dead-letter
            # policy. On the last attempt nobody will: record it for good.
            record = _error_record(err)
            if delivery is not None and delivery.last:
                log.exception("step failed on its last delivery attempt; failing it for good")
                record = {**record, "attempts": delivery.attempt}
                state.fail_step(key, record, terminal=True)
                if key.shard == RUN_LEVEL:
                    fail_run(ctx, key, record)
                raise AttemptsExhausted(
                    f"gave up after {delivery.attempt} deliveries: {record['message']}",
                    where=key.doc_id,
                ) from err
            if isinstance(err, TransientError):
                log.warning("step failed, will be retried: %s", err)
            else:
                log.exception("step crashed")
            state.fail_step(key, record, terminal=False)
            raise
        result = {**result, "seconds": round(time.monotonic() - started, 3)}
        state.finish_step(key, result)
        log.info("done", extra={"fields": {"result": result}})
        return result


def run_shard_once(
    ctx: StepContext, step: str, message: ShardMessage, work: Callable[[], dict[str, Any]]
) -> dict[str, Any] | None:
    """`run_once` for a per-shard step, whose terminal failure the fan-in must count.

    A redelivered shard that failed for good is counted again: the first
    delivery may have died (or met contention) before counting it.
    """
    return run_once(
        ctx,
        StepKey(message.run_id, step, message.shard_index),
        work,
        recipe=message.recipe,
        on_failed=lambda: shard_failed(ctx, message),
    )
