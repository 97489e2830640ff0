"""Run observability: metrics computed from run documents and step marks, optional tracing.

- `common.observability.metrics`: `run_metrics` (tokens, estimated cost, cache hit
  rate, LLM latency, retries, ignored by reason, per-stage timings) and
  `format_metrics` / `metrics_rows` to show them.
- `common.observability.prices`: the default price table behind ``LR_LLM_PRICES``.
- `common.observability.tracing`: `span(name, **attrs)`, OpenTelemetry spans that
  are a no-op unless ``LR_OTEL_EXPORTER`` turns them on.

Nothing here imports a heavy dependency at import time.
"""
