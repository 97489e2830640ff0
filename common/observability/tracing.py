"""Optional OpenTelemetry spans around steps and LLM calls; a no-op unless turned on.

``LR_OTEL_EXPORTER`` (`Settings.otel_exporter`) chooses:

- ``none`` (default): `span` yields None and costs a dictionary lookup;
- ``console``: finished spans are printed to stderr as JSON (for a local look);
- ``otlp``: spans go over OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the
  standard OpenTelemetry variables, including ``OTEL_EXPORTER_OTLP_HEADERS``,
  configure it), e.g. to an OpenTelemetry Collector, Jaeger, Langfuse or
  Cloud Trace through a collector.

The packages are an extra (``pip install 'lead-recovery[otel]'``); when an
exporter is chosen but they are missing, one warning with that hint is logged
and spans stay off: tracing never breaks a run.

The tracer provider is private to this module (the global one is left alone),
and spans nest through OpenTelemetry's context as usual::

    with span("step.summarize", run_id=run_id, shard=3):
        with span("llm.call", model=model) as s:
            ...
            if s is not None:
                s.set_attribute("llm.output_tokens", 120)
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'lead-recovery[otel]'"
SERVICE_NAME = "lead-recovery"

_lock = threading.Lock()
_tracer: Any = None
_provider: Any = None
_configured = False


def _exporter_name() -> str:
    from common.settings import get_settings

    try:
        return get_settings().otel_exporter
    except Exception:  # noqa: BLE001 - invalid settings are reported by the code that needs them
        return os.environ.get("LR_OTEL_EXPORTER", "none").strip().lower() or "none"


def configure(exporter: Any = None, *, name: str | None = None) -> Any:
    """Build the tracer now: from ``exporter`` (an OpenTelemetry `SpanExporter`, for tests)
    or from the settings; returns it (None when tracing is off or unavailable).

    Args:
        exporter: Use this exporter (spans are exported synchronously) instead of settings.
        name: Exporter name instead of ``LR_OTEL_EXPORTER`` (``none``/``console``/``otlp``).
    """
    global _tracer, _configured
    with _lock:
        _shutdown()
        _tracer, _configured = _build(exporter, name or ("custom" if exporter else None)), True
        return _tracer


def reset() -> None:
    """Forget the tracer (the next `span` reads the settings again); flushes pending spans."""
    global _tracer, _configured
    with _lock:
        _shutdown()
        _tracer, _configured = None, False


def _shutdown() -> None:
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def _build(exporter: Any, name: str | None) -> Any:
    global _provider
    name = name or _exporter_name()
    if name == "none":
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        log.warning(
            "LR_OTEL_EXPORTER=%s but OpenTelemetry is not installed: %s", name, INSTALL_HINT
        )
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif name == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("LR_OTEL_EXPORTER=otlp needs the OTLP exporter: %s", INSTALL_HINT)
            return None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _provider = provider  # so `reset` can flush and shut it down
    return provider.get_tracer("common.observability")


def _get_tracer() -> Any:
    global _tracer, _configured
    if not _configured:
        with _lock:
            if not _configured:
                _tracer, _configured = _build(None, None), True
    return _tracer


def _attribute(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(v, bool | int | float | str) for v in value
    ):
        return list(value)
    return str(value)


@contextlib.contextmanager
def span(name: str, **attrs: Any) -> Iterator[Any]:
    """A span named ``name`` with ``attrs`` (None values dropped) around the block.

    Yields the OpenTelemetry span (to add attributes or events), or None when
    tracing is off. An exception escaping the block is recorded on the span and
    sets its status to error, then propagates.
    """
    tracer = _get_tracer()
    if tracer is None:
        yield None
        return
    attributes = {k: _attribute(v) for k, v in attrs.items() if v is not None}
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def current_trace_id() -> str | None:
    """The active span's trace id (32 hex digits), or None (for log lines and run docs)."""
    if _get_tracer() is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
