"""Report sinks: where a finished run's report goes besides the CSVs.

A sink is one small class behind the `ReportSink` protocol, registered by
name in `SINKS`. The report step calls `run_sinks` once, after it wrote the
CSVs: the HTML report first (its link goes into ``outputs`` and the webhook
payload), then the recipe's Google Sheet, then its webhooks. A sink the
recipe does not configure is a `SkippedSink`, not an ``if`` in the step.

Delivery failures never fail the report: a sink returns a record with
``status: failed`` and the reason, which lands on the run document under
``sinks``. Only failures of the project's own storage (writing the HTML
next to the CSVs) propagate, as for the CSVs themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from common import layout
from common.errors import ConfigError
from common.reporting._base import ReportContext, ReportSink, SkippedSink

if TYPE_CHECKING:
    import polars as pl

    from common.recipe import Recipe
    from common.steps.context import StepContext

__all__ = [
    "DELIVERIES",
    "LINKS",
    "SINKS",
    "ReportContext",
    "ReportSink",
    "SkippedSink",
    "build_sink",
    "run_sinks",
]

log = logging.getLogger(__name__)


def _html(recipe: Recipe) -> ReportSink:
    from common.reporting.html import HtmlReportSink

    return HtmlReportSink()


def _gsheets(recipe: Recipe) -> ReportSink:
    if recipe.meta.gsheets is None:
        return SkippedSink("gsheets", "the recipe has no `gsheets` section")
    from common.reporting.gsheets import GSheetsSink

    return GSheetsSink(recipe.meta.gsheets)


def _webhooks(recipe: Recipe) -> ReportSink:
    if not recipe.meta.webhooks:
        return SkippedSink("webhooks", "the recipe has no `webhooks`")
    from common.reporting.webhooks import WebhooksSink

    return WebhooksSink(recipe.meta.webhooks)


DELIVERIES = "sink_deliveries"
"""Run document field: each sink's record as soon as it ran, so a retried report skips
what was delivered (a sink whose record is ``ok``; the webhooks that answered 2xx)."""

LINKS = {"html": "html", "gsheets": "sheet"}
"""The ``outputs`` link each sink adds (restored from its record when it is skipped)."""

SINKS: dict[str, Callable[[Recipe], ReportSink]] = {
    "html": _html,
    "gsheets": _gsheets,
    "webhooks": _webhooks,
}
"""Sink factories by name, in the order they run (the HTML link feeds the later ones)."""


def build_sink(name: str, recipe: Recipe) -> ReportSink:
    """The sink registered as ``name`` for this recipe (a `SkippedSink` when unconfigured).

    Raises:
        ConfigError: no sink has this name.
    """
    try:
        factory = SINKS[name]
    except KeyError:
        raise ConfigError(
            f"no report sink named `{name}`", where="report sinks", expected=", ".join(SINKS)
        ) from None
    return factory(recipe)


def run_sinks(
    ctx: StepContext,
    recipe: Recipe,
    run_doc: Mapping[str, Any],
    analysis: pl.DataFrame,
    ignored: pl.DataFrame,
    outputs: dict[str, str],
    *,
    now: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Publish the report to every sink, in order; return each sink's record by name.

    Adds the links sinks produce to ``outputs`` in place (``html``, and ``sheet``
    when the Google Sheet was updated), so the caller's run summary lists them.

    Args:
        ctx: The step context (settings and backends).
        recipe: The run's recipe.
        run_doc: The run document merged with the report's summary (``status``,
            ``rows``, ``ignored``, ``seconds``, ``llm``…).
        analysis: The analysis CSV's frame (chosen columns, kept leads).
        ignored: The ignored leads' frame.
        outputs: The CSV links (``analysis``, ``ignored``); updated in place.
        now: The generation time (default: now).

    Returns:
        ``{"html": {...}, "gsheets": {...}, "webhooks": {...}}``, each with a ``status``
        of ``ok``, ``failed``, ``partial`` or ``skipped``.

    Raises:
        TransientError: the HTML report could not be stored (as for the CSVs).
    """
    run_id = str(run_doc.get("run_id", ""))
    started = run_doc.get("started_at")
    folder = layout.run_folder(datetime.fromisoformat(started), run_id) if started else "unstamped"
    context = ReportContext(
        run_id=run_id,
        recipe=recipe,
        run=run_doc,
        analysis=analysis,
        ignored=ignored,
        outputs=outputs,
        settings=ctx.settings,
        blobs=ctx.backends.blobs,
        stamp=folder,
        now=now or datetime.now(UTC),
    )
    state = ctx.backends.state
    delivered = dict((state.get_run(run_id) or {}).get(DELIVERIES) or {}) if run_id else {}
    context = replace(context, delivered=delivered)
    records = context.records
    for name in SINKS:
        earlier = delivered.get(name) or {}
        if earlier.get("status") == "ok":
            # Delivered by an earlier attempt of this report: never twice.
            record = {**earlier, "reused": True}
            if name in LINKS and earlier.get("url"):
                outputs[LINKS[name]] = earlier["url"]
        else:
            record = build_sink(name, recipe).publish(context)
        records[name] = record
        if run_id:
            delivered[name] = record
            state.update_run(run_id, {DELIVERIES: dict(delivered)})
        if record.get("status") in ("failed", "partial"):
            log.warning("report sink %s: %s", name, record.get("error") or record)
    return dict(records)
