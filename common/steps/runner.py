"""Exactly-once effects on at-least-once delivery: claim, work, mark done.

Every invocation is keyed ``(run_id, step, shard)``. A finished key is
acknowledged without work; a key held by a live claim elsewhere raises
`TransientError` (redeliver later); a terminal failure is recorded on the run
document and acknowledged so it does not loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from common.errors import LeadRecoveryError, TerminalError, TransientError
from common.logging import log_context
from common.messages import ShardMessage
from common.observability.tracing import span
from common.ports import StepKey, StepStatus
from common.steps.context import StepContext
from common.steps.fanin import shard_failed

log = logging.getLogger(__name__)


def run_once(
    ctx: StepContext,
    key: StepKey,
    work: Callable[[], dict[str, Any]],
    *,
    recipe: str,
    on_failed: Callable[[], None] | None = None,
) -> dict[str, Any] | None:
    """Run ``work`` once for ``key``; returns its result, or None when it was already done.

    ``on_failed`` runs when a redelivered message finds the step failed for
    good: the bookkeeping that follows a terminal failure (a shard's fan-in)
    may not have happened the first time.

    Raises:
        TransientError: the work failed in a way worth retrying, or another
            worker is doing it right now.
    """
    state = ctx.backends.state
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
        except TerminalError as err:
            log.error("step failed for good: %s", err)
            state.fail_step(key, err.to_record(), terminal=True)
            raise
        except TransientError as err:
            log.warning("step failed, will be retried: %s", err)
            state.fail_step(key, err.to_record(), terminal=False)
            raise
        except Exception as err:
            # An unexpected error is a bug or an outage we did not classify:
            # let delivery retry it (bounded by the dead-letter policy).
            log.exception("step crashed")
            record = LeadRecoveryError(f"{type(err).__name__}: {err}").to_record()
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
