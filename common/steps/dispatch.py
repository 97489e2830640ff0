"""Route a delivered message to the step that consumes its topic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from common import chain
from common.errors import PayloadError, TerminalError
from common.messages import RunMessage, RunRequest, ShardMessage, decode
from common.steps.context import StepContext
from common.steps.fanin import shard_failed
from common.steps.fetch_conversations import fetch_conversations
from common.steps.fetch_leads import fetch_leads
from common.steps.process import process
from common.steps.report import report
from common.steps.runner import Delivery, delivering


def deliver(
    ctx: StepContext,
    step: str,
    data: bytes | str | dict,
    *,
    message_id: str,
    publish_time: datetime | None = None,
    attempt: int | None = None,
    max_attempts: int | None = None,
) -> None:
    """Decode ``data`` as the message ``step`` consumes and run the step.

    ``attempt`` is the message's delivery attempt (Pub/Sub's
    ``deliveryAttempt``; None when unknown). On attempt ``max_attempts``
    (default: the setting ``max_delivery_attempts``), a failing step is
    recorded as failed for good instead of left to the dead-letter topic.

    Raises:
        PayloadError: the body does not match the step's message schema.
        TerminalError / TransientError: from the step itself.
    """
    stage = chain.BY_NAME.get(step)
    if stage is None or not stage.available:
        raise PayloadError(f"no step `{step}` in this release", where="dispatch")
    where = f"topic {stage.topic}, message {message_id}"
    delivery = Delivery(attempt, max_attempts or ctx.settings.max_delivery_attempts)
    with delivering(delivery):
        _deliver(ctx, step, stage, data, where=where, message_id=message_id, published=publish_time)


def _deliver(
    ctx: StepContext,
    step: str,
    stage: chain.Stage,
    data: bytes | str | dict,
    *,
    where: str,
    message_id: str,
    published: datetime | None,
) -> None:
    if step == "fetch_leads":
        fetch_leads(
            ctx,
            decode(RunRequest, data, where=where),
            event_id=message_id,
            event_time=published or datetime.now(UTC),
        )
    elif stage.per_shard:
        message = decode(ShardMessage, data, where=where)
        try:
            _shard_step(step)(ctx, message)
        except TerminalError:
            # The shard is lost for this run; the others still reach the report.
            shard_failed(ctx, message)
            raise
    elif step == "cluster":
        from common.steps.cluster import cluster  # clustering code loads only where it runs

        cluster(ctx, decode(RunMessage, data, where=where))
    elif step == "report":
        report(ctx, decode(RunMessage, data, where=where))
    else:  # pragma: no cover - guarded by `available`
        raise PayloadError(f"step `{step}` has no handler", where="dispatch")


def _shard_step(step: str) -> Callable[[StepContext, ShardMessage], None]:
    if step == "fetch_conversations":
        return fetch_conversations
    if step == "process":
        return process
    from common.steps.summarize import summarize  # LLM code loads only where it runs

    return summarize


def step_for_topic(topic: str) -> str:
    """The step that consumes ``topic`` (topic names may carry a deployment prefix)."""
    for stage in chain.STAGES:
        if topic == stage.topic or topic.endswith("/" + stage.topic) or topic.endswith(stage.topic):
            return stage.name
    raise PayloadError("no step consumes this topic", where="dispatch", found=topic)
