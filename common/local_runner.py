"""Run a recipe end to end in one process: the same steps, driven by the in-process bus."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tqdm import tqdm

from common import chain
from common.adapters.local.inprocess_bus import Delivery, InProcessBus
from common.errors import TerminalError
from common.messages import RunOptions, RunRequest
from common.retry import Backoff
from common.steps.context import StepContext
from common.steps.dispatch import deliver, step_for_topic
from common.steps.failures import failure_records, first_shard_failure

MAX_ATTEMPTS = 5
"""Deliveries of one message (Pub/Sub: the dead-letter limit). A step failing on the last
one is recorded as failed for good: a shard is counted and the run ends `partial`."""
BACKOFF_S = 0.5
"""Upper bound of the wait before the first redelivery; it doubles each time (`redelivery`)."""
MAX_BACKOFF_S = 30.0


@dataclass
class RunSummary:
    """What a finished run did."""

    run_id: str
    recipe: str
    leads: int = 0
    shards: int = 0
    messages: int = 0
    rows: int = 0
    ignored: int = 0
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    status: str = "unknown"
    failures: dict[str, Any] = field(default_factory=dict)
    llm: dict[str, Any] = field(default_factory=dict)
    first_failure: str | None = None
    """The first shard failure (`failures.first_shard_failure`), the run's real cause."""


def redelivery() -> Backoff:
    """The wait between deliveries of a failing message: the project's one retry policy.

    Built when used, so `BACKOFF_S` can be changed (tests set it to almost nothing).
    The attempt count lives across redeliveries, not in one loop, so the dispatcher
    asks it only for the wait (`Backoff.delay`).
    """
    return Backoff(attempts=MAX_ATTEMPTS, initial_s=BACKOFF_S, max_s=MAX_BACKOFF_S)


def new_run_id(recipe: str, now: datetime) -> str:
    """A fresh, sortable run id."""
    return f"{recipe}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def run_recipe(
    ctx: StepContext,
    recipe_name: str,
    options: RunOptions,
    *,
    run_id: str | None = None,
    progress: bool = True,
) -> RunSummary:
    """Validate the recipe, then run every step through an in-process bus.

    Raises:
        RecipeError: the recipe is invalid (before any work).
        TerminalError / TransientError: a step failed.
    """
    ctx.recipe(recipe_name)  # fail before any work
    bus = ctx.backends.bus
    if not isinstance(bus, InProcessBus):
        raise TypeError("run_recipe drives an InProcessBus; publish a RunRequest for other buses")
    now = datetime.now(UTC)
    run_id = run_id or new_run_id(recipe_name, now)
    request = RunRequest(recipe=recipe_name, run_id=run_id, options=options)
    started = time.monotonic()
    bars: dict[str, tqdm] = {}
    bars_lock = threading.Lock()

    def count(step: str) -> None:
        if not progress:
            return
        with bars_lock:  # deliveries run on several threads (settings.local_workers)
            if step not in bars:
                run = ctx.backends.state.get_run(run_id) or {}
                total = run.get("shard_count", 0) if chain.BY_NAME[step].per_shard else 1
                bars[step] = tqdm(
                    total=total, desc=f"{step:<20}", unit="shard", leave=True, disable=None
                )  # disable=None: bars only on a terminal, logs elsewhere
            bars[step].update(1)

    dispatch = dispatcher(ctx, bus, publish_time=now, on_delivered=count)

    bus.publish(chain.BY_NAME["fetch_leads"].topic, request)
    try:
        bus.drain(dispatch, workers=ctx.settings.local_workers)
        while _waiting_on_batches(ctx, run_id):
            # Shards wait for provider batches (llm.batch): poll until they end; each
            # collected shard is re-published on the bus and runs again.
            time.sleep(ctx.settings.batch_poll_seconds)
            from common.steps.batches import poll_batches

            poll_batches(ctx, run_id=run_id)
            bus.drain(dispatch, workers=ctx.settings.local_workers)
    except TerminalError as err:
        # A run-level step failing after shards failed is usually their consequence
        # (no rows, no columns): lead with the first shard failure, the real cause.
        first = first_shard_failure(ctx.backends.state.list_steps(run_id))
        if first is None or first.split(": ", 1)[-1] in str(err):
            raise  # no shard failed, or the error already names the first one
        raise TerminalError(
            f"{first} (then {err})", where=f"run {run_id}", first_failure=first
        ) from err
    finally:
        for bar in bars.values():
            bar.close()
    return summarize_run(ctx, run_id, seconds=time.monotonic() - started)


def _waiting_on_batches(ctx: StepContext, run_id: str) -> bool:
    return bool(ctx.backends.state.list_steps(run_id, status="waiting"))


def dispatcher(
    ctx: StepContext,
    bus: InProcessBus,
    *,
    publish_time: datetime,
    on_delivered: Callable[[str], None] | None = None,
) -> Callable[[Delivery], None]:
    """What the in-process bus calls for each message: deliver it as Pub/Sub would.

    A step failing with anything but a `TerminalError` is redelivered after a
    growing, jittered wait (`redelivery`); on the last of `MAX_ATTEMPTS` the
    step records itself failed for good (`runner.run_once`). A per-shard terminal failure is acknowledged (the
    shard is counted and the run reports the others); a run-level one raises.
    """
    attempts: dict[str, int] = {}
    lock = threading.Lock()

    def dispatch(delivery: Delivery) -> None:
        if delivery.topic.endswith(chain.DEAD_LETTER_SUFFIX):
            return  # the failure is on the step's mark; the summary reports it
        step = step_for_topic(delivery.topic)
        with lock:
            attempt = attempts.get(delivery.message_id, 0) + 1
        try:
            deliver(
                ctx,
                step,
                delivery.data,
                message_id=delivery.message_id,
                publish_time=publish_time,
                attempt=attempt,
                max_attempts=MAX_ATTEMPTS,
            )
        except TerminalError:
            if not chain.BY_NAME[step].per_shard:
                raise
        except Exception:
            with lock:
                attempts[delivery.message_id] = attempt
            if attempt >= MAX_ATTEMPTS:
                raise
            time.sleep(redelivery().delay(attempt - 1))
            bus.redeliver(delivery)
            return
        if on_delivered is not None:
            on_delivered(step)

    return dispatch


def drain(ctx: StepContext) -> None:
    """Run whatever waits on the in-process bus (e.g. what `runs sweep` published) to the end."""
    bus = ctx.backends.bus
    if not isinstance(bus, InProcessBus):
        raise TypeError("drain drives an InProcessBus")
    bus.drain(dispatcher(ctx, bus, publish_time=datetime.now(UTC)))


def summarize_run(ctx: StepContext, run_id: str, *, seconds: float | None = None) -> RunSummary:
    """Collect a run's figures from its document and step marks."""
    state = ctx.backends.state
    run = state.get_run(run_id) or {}
    steps = state.list_steps(run_id)
    messages = sum(
        int((s.get("result") or {}).get("messages", 0))
        for s in steps
        if s.get("step") == "fetch_conversations"
    )
    return RunSummary(
        run_id=run_id,
        recipe=run.get("recipe", ""),
        leads=int(run.get("leads", 0)),
        shards=int(run.get("shard_count", 0)),
        messages=messages,
        rows=int(run.get("rows", 0)),
        ignored=int(run.get("ignored", 0)),
        seconds=round(seconds if seconds is not None else float(run.get("seconds", 0.0)), 2),
        outputs=dict(run.get("outputs", {})),
        status=run.get("status", "unknown"),
        failures=failure_records(run_id, steps),
        llm=dict(run.get("llm", {})),
        first_failure=first_shard_failure(steps),
    )
