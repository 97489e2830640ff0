"""Trigger decoding shared by the Cloud Functions' thin `main.py` files.

A Pub/Sub-triggered function receives a CloudEvent whose data is
``{"message": {"data": <base64>, "messageId": ..., "publishTime": ...}}``.
`TerminalError` is logged, recorded and acknowledged (returning normally);
anything else propagates so Pub/Sub redelivers (up to the dead-letter limit).

Importing this module costs next to nothing on purpose: a function's
``main.py`` imports it at start-up, and the settings (pydantic-settings), the
steps (polars, pyarrow, sqlglot) and the Google clients load on the first
message instead (`context`, `handle_cloud_event`, `handle_start_http`), so the
instance is up and answering health checks sooner.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from common.errors import PayloadError, TerminalError, TransientError
from common.logging import configure_logging, log_context
from common.observability import trace_context

if TYPE_CHECKING:
    from common.steps.context import StepContext

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def context() -> StepContext:
    """Settings, logging and backends, built once per function instance."""
    from common.settings import get_settings
    from common.steps.context import StepContext

    settings = get_settings()
    configure_logging(settings.log_level, "json")
    return StepContext.from_settings(settings)


def _parse_time(
    value: Any, *, where: str = "Pub/Sub message", name: str = "publishTime"
) -> datetime | None:
    """An RFC 3339 time from an envelope; a malformed one is a `PayloadError` naming it."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as err:
        raise PayloadError(
            f"`{name}` is not an RFC 3339 time",
            where=where,
            expected="e.g. 2026-11-20T18:00:00Z",
            found=value,
        ) from err
    if parsed.tzinfo is None:
        raise PayloadError(
            f"`{name}` has no time zone",
            where=where,
            expected="e.g. 2026-11-20T18:00:00Z",
            found=value,
        )
    return parsed.astimezone(UTC)


def pubsub_envelope(payload: Any, *, where: str) -> tuple[bytes, str, datetime | None]:
    """Data, message id and publish time from a Pub/Sub push/CloudEvent envelope.

    Raises:
        PayloadError: anything about the envelope is malformed (never another error).
    """
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict) or "data" not in message:
        raise PayloadError(
            "not a Pub/Sub message envelope", where=where, expected='{"message": {"data": ...}}'
        )
    try:
        data = base64.b64decode(message["data"], validate=True)
    except (ValueError, TypeError) as err:
        raise PayloadError("message data is not base64", where=where) from err
    message_id = message.get("messageId") or message.get("message_id") or ""
    if not isinstance(message_id, str | int) or not str(message_id):
        raise PayloadError(
            "Pub/Sub message has no messageId", where=where, found=message_id or None
        )
    published = _parse_time(message.get("publishTime") or message.get("publish_time"), where=where)
    return data, str(message_id), published


def delivery_attempt(*payloads: Any) -> int | None:
    """Pub/Sub's ``deliveryAttempt`` (1 for the first delivery), from the first payload that has it.

    A push subscription with a dead-letter policy puts it at the top level of
    the envelope (``{"message": {...}, "subscription": ..., "deliveryAttempt":
    3}``); so does the data of a CloudEvent built from such an envelope.
    Absent without a dead-letter policy: None, and no delivery is the last.
    """
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        message = payload.get("message")
        for holder in (payload, message if isinstance(message, dict) else {}):
            value = holder.get("deliveryAttempt", holder.get("delivery_attempt"))
            if value is not None:
                try:
                    return int(value)
                except (TypeError, ValueError):
                    return None
    return None


def _raw_push_body() -> Any:
    """The HTTP body functions-framework turned into the CloudEvent, when there is one.

    Our push subscriptions post the wrapped push JSON, and functions-framework's
    conversion to a CloudEvent keeps only the message (not ``deliveryAttempt``);
    the handler still runs inside the Flask request, so the original is there.
    """
    try:
        import flask
    except ImportError:  # pragma: no cover - functions-framework depends on it
        return None
    if not flask.has_request_context():
        return None
    return flask.request.get_json(silent=True)


def dead_letter(ctx: StepContext, step: str, payload: Any, err: TerminalError) -> None:
    """Publish the refused message, with its reason, to the hop's dead-letter topic."""
    from common import chain
    from common.messages import DeadLetter

    message = payload.get("message") if isinstance(payload, dict) else None
    message = message if isinstance(message, dict) else {}
    body: Any = message.get("data", payload)
    try:
        body = json.loads(base64.b64decode(body, validate=True))
    except (ValueError, TypeError):
        # Not base64 JSON: keep the envelope itself (JSON when it was JSON) for triage.
        body = payload if isinstance(payload, dict) else str(body)
    topic = chain.BY_NAME[step].topic
    ctx.backends.bus.publish(
        chain.dead_letter_topic(topic),
        DeadLetter(
            topic=topic,
            step=step,
            message_id=str(message.get("messageId") or message.get("message_id") or ""),
            error=err.to_record(),
            body=body if isinstance(body, dict | str) else str(body),
        ),
    )


def _event_trace(cloud_event: Any) -> trace_context.TraceContext | None:
    """The run's trace from a Pub/Sub CloudEvent: the message's ``traceparent`` attribute
    (set by the step that published it), else the CloudEvent's own ``traceparent``."""
    data = getattr(cloud_event, "data", None)
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            data = None
    found = trace_context.from_envelope(data) or trace_context.from_envelope(_raw_push_body())
    if found is None and hasattr(cloud_event, "get"):
        found = trace_context.parse_traceparent(cloud_event.get(trace_context.TRACEPARENT))
    return found


def _request_trace(request: Any, body: Any = None) -> trace_context.TraceContext | None:
    """The trace of an HTTP call: a pushed message's ``traceparent`` attribute first (it
    belongs to the run), then the request's ``traceparent`` / ``X-Cloud-Trace-Context``."""
    return trace_context.from_envelope(body) or trace_context.from_headers(
        getattr(request, "headers", None)
    )


def _step_trace(found: trace_context.TraceContext | None) -> dict[str, str]:
    """`log_context` arguments: the incoming trace (or a new one) and a new span for this step."""
    trace_id = found.trace_id if found is not None else trace_context.new_trace_id()
    return {"trace": trace_id, "span": trace_context.new_span_id()}


def handle_cloud_event(step: str, cloud_event: Any, ctx: StepContext | None = None) -> None:
    """Run ``step`` for a Pub/Sub CloudEvent; terminal errors are acknowledged."""
    from common.steps.dispatch import deliver

    ctx = ctx or context()
    with log_context(**_step_trace(_event_trace(cloud_event)), step=step):
        payload: Any = None
        try:
            payload = cloud_event.data
            if isinstance(payload, bytes | str):
                try:
                    payload = json.loads(payload)
                except (ValueError, UnicodeDecodeError) as err:
                    raise PayloadError(
                        "not a Pub/Sub message envelope: the event data is not JSON",
                        where=f"{step} CloudEvent",
                    ) from err
            data, message_id, published = pubsub_envelope(payload, where=f"{step} CloudEvent")
            deliver(
                ctx,
                step,
                data,
                message_id=message_id,
                publish_time=published
                or _parse_time(cloud_event.get("time"), where=f"{step} CloudEvent", name="time"),
                attempt=delivery_attempt(payload, _raw_push_body()),
            )
        except TerminalError as err:
            # Acknowledge: redelivering cannot fix it. The run document says why, and
            # the message goes to the hop's dead-letter topic for inspection/replay.
            log.error("message rejected: %s", err, extra={"fields": {"error": err.to_record()}})
            dead_letter(ctx, step, payload, err)
        except TransientError as err:
            # One warning line instead of a traceback; the 503 makes Pub/Sub redeliver.
            from werkzeug.exceptions import ServiceUnavailable

            log.warning("will be redelivered: %s", err)
            raise ServiceUnavailable(str(err)) from err


def handle_start_http(
    request: Any, ctx: StepContext | None = None
) -> tuple[str, int, dict[str, str]]:
    """Start a run from an HTTP request (``gcloud functions call``, curl, a Pub/Sub push).

    The body is either a run request (``{"recipe": "demo", "options": {...}}``)
    or a Pub/Sub push envelope wrapping one. Answers 200 with the run id; 400
    for a bad request or recipe (200 with the error for a push delivery, which
    acknowledges it); 405 for non-POST; 503 when worth retrying.
    """
    import uuid

    from common.messages import RunRequest, decode
    from common.steps.fetch_leads import fetch_leads

    headers = {"Content-Type": "application/json"}
    if request.method != "POST":
        return json.dumps({"error": "use POST"}), 405, headers
    ctx = ctx or context()
    body = request.get_json(silent=True)
    pushed = False
    with log_context(**_step_trace(_request_trace(request, body)), step="fetch_leads"):
        try:
            if not isinstance(body, dict):
                raise PayloadError(
                    "body is not a JSON object",
                    where="fetch-leads HTTP",
                    expected='{"recipe": "NAME"}',
                )
            pushed = "message" in body
            if pushed:
                data, message_id, published = pubsub_envelope(body, where="fetch-leads push")
            else:
                data, message_id, published = (
                    json.dumps(body).encode(),
                    f"http-{uuid.uuid4().hex}",
                    None,
                )
            run_request = decode(RunRequest, data, where="fetch-leads request")
            from common.steps.runner import Delivery, delivering

            attempt = delivery_attempt(body) if pushed else None
            with delivering(Delivery(attempt, ctx.settings.max_delivery_attempts)):
                run_id = fetch_leads(
                    ctx, run_request, event_id=message_id, event_time=published or datetime.now(UTC)
                )
        except TerminalError as err:
            log.error("run request rejected: %s", err)
            if pushed:
                # Acknowledged (2xx) so Pub/Sub does not retry what cannot work; kept for triage.
                dead_letter(ctx, "fetch_leads", body, err)
                return json.dumps({"error": str(err)}), 200, headers
            return json.dumps({"error": str(err)}), 400, headers
        except TransientError as err:
            return json.dumps({"error": str(err)}), 503, headers
    return json.dumps({"run_id": run_id}), 200, headers


def handle_analyze(request: Any) -> Any:
    """The summarize function's synchronous HTTP analysis (see `common.llm.http_api`)."""
    from common.llm.http_api import handle_analyze_http

    with log_context(**_step_trace(_request_trace(request)), step="summarize_http"):
        return handle_analyze_http(request, context())


def handle_sweep_http(
    request: Any, ctx: StepContext | None = None
) -> tuple[str, int, dict[str, str]]:
    """The sweeper behind Cloud Scheduler: fail and count the stuck shards of running runs.

    Answers 200 with ``{"actions": [...]}``; 405 for non-POST; 503 when the
    state store is unavailable (the next scheduled call tries again).
    """
    from datetime import timedelta

    from common.steps.sweep import sweep_runs

    headers = {"Content-Type": "application/json"}
    if request.method != "POST":
        return json.dumps({"error": "use POST"}), 405, headers
    ctx = ctx or context()
    with log_context(**_step_trace(_request_trace(request)), step="sweep"):
        try:
            actions = sweep_runs(
                ctx, older_than=timedelta(seconds=ctx.settings.sweep_grace_seconds)
            )
        except TransientError as err:
            return json.dumps({"error": str(err)}), 503, headers
    return json.dumps({"actions": [a.line() for a in actions]}), 200, headers


def handle_poll_batches_http(
    request: Any, ctx: StepContext | None = None
) -> tuple[str, int, dict[str, str]]:
    """The batch poller behind Cloud Scheduler: collect ended provider batches, re-deliver shards.

    Answers 200 with ``{"actions": [...]}`` (one line per waiting shard: still
    waiting, collected, re-delivered, or skipped with why); 405 for non-POST;
    503 when the state store is unavailable (the next scheduled call tries again).
    One shard's provider trouble is reported as ``skipped`` and never stops the others.
    """
    from common.steps.batches import poll_batches

    headers = {"Content-Type": "application/json"}
    if request.method != "POST":
        return json.dumps({"error": "use POST"}), 405, headers
    ctx = ctx or context()
    with log_context(**_step_trace(_request_trace(request)), step="poll_batches"):
        try:
            actions = poll_batches(ctx)
        except TransientError as err:
            return json.dumps({"error": str(err)}), 503, headers
    return json.dumps({"actions": [a.line() for a in actions]}), 200, headers
