"""report: merge the run's shards, choose the columns, write the CSVs and `latest`."""

from __future__ import annotations

import difflib
import io
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import polars as pl

from common import layout
from common.calls.report_join import apply_call_outcomes, kept_contexts, with_outcome_columns
from common.counters import merge_counters
from common.errors import DataError, LeadRecoveryError, TerminalError, TransientError
from common.messages import RunMessage, RunOptions
from common.observability.metrics import resolve_model, run_metrics
from common.ports import StepKey
from common.processors.base import LEAD_KEY
from common.recipe import Recipe
from common.reporting import latest, run_sinks
from common.results import history
from common.results.load import load_run, recovery_trend, with_history
from common.results.tables import ResultsTables
from common.steps.context import StepContext
from common.steps.failures import failed_shards, failure_records
from common.steps.jobs import job_options
from common.steps.merge import IGNORE, join_clusters, merge_shards
from common.steps.runner import run_once

log = logging.getLogger(__name__)
STEP = "report"


def requested_columns(
    recipe: Recipe, options: RunOptions, available: list[str] | None = None
) -> list[str]:
    """The analysis CSV's columns, in order, before looking at data.

    ``output_columns`` (or every available column when empty), then
    ``--include-columns`` keeps only those named (in their order), then
    ``--exclude-columns`` drops.

    Raises:
        TerminalError: an include/exclude name is not an output column.
    """
    base = list(recipe.meta.output_columns) or [c for c in available or () if c != IGNORE]
    if not base:  # every column, not yet known: the flags are checked at report time
        return list(options.include_columns)
    for flag, names in (
        ("--include-columns", options.include_columns),
        ("--exclude-columns", options.exclude_columns),
    ):
        unknown = [n for n in names if n not in base]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], base, n=1)
            raise TerminalError(
                f"{flag}: `{unknown[0]}` is not an output column"
                + (f"; did you mean `{hint[0]}`?" if hint else ""),
                where=recipe.where(field="output_columns"),
                expected="one of " + ", ".join(base),
            )
    columns = list(options.include_columns) or base
    return [c for c in columns if c not in set(options.exclude_columns)]


def choose_columns(frame_columns: list[str], recipe: Recipe, options: RunOptions) -> list[str]:
    """`requested_columns`, checked against the merged frame's real columns."""
    columns = requested_columns(recipe, options, frame_columns)
    absent = [c for c in columns if c not in frame_columns]
    if absent:
        raise DataError(
            f"column `{absent[0]}` is listed but no lead column, processor or LLM field produced it",
            where=recipe.where(field="output_columns"),
            expected="one of " + ", ".join(c for c in frame_columns if c != IGNORE),
        )
    return columns


def to_csv(frame: pl.DataFrame) -> bytes:
    """CSV bytes with ISO 8601 timestamps; text a spreadsheet would run is neutralised."""
    from common.reporting.csv_safety import neutralize_formulas

    buffer = io.BytesIO()
    neutralize_formulas(frame).write_csv(buffer, datetime_format="%Y-%m-%dT%H:%M:%S%.f%:z")
    return buffer.getvalue()


def llm_totals(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the summarize steps' LLM counters (cache hits, calls, tokens, ignored by reason)."""
    return merge_counters(
        *(
            (step.get("result") or {}).get("llm") or {}
            for step in steps
            if step.get("step") == "summarize"
        )
    )


def report(ctx: StepContext, message: RunMessage) -> dict[str, Any] | None:
    """Write ``<recipe>_analysis.csv`` and ``ignored.csv`` into the run's folder, once per run.

    Then the report sinks, then the ``latest`` copies when no newer run has them
    (`common.reporting.latest.promote`).
    """
    state = ctx.backends.state

    def work() -> dict[str, Any]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report") as background:
            return report_run(background)

    def report_run(background: ThreadPoolExecutor) -> dict[str, Any]:
        handed_over: Future[None] | None = None
        recipe = ctx.recipe(message.recipe)
        run = state.get_run(message.run_id) or {}
        if "shard_count" not in run:
            raise TransientError("the run document has no shard count yet", where=message.run_id)
        # The failures live on the step marks (one query), not on the run document.
        failed_marks = state.list_steps(message.run_id, status="failed")
        failed = failed_shards(failed_marks)
        if failed and len(failed) >= int(run["shard_count"]):
            # Nothing to report, and an empty latest.csv would hide the last good one.
            raise DataError(
                f"every shard failed for good, e.g. shard {min(failed)}: {failed[min(failed)]}",
                where=message.run_id,
            )
        shards = [i for i in range(int(run["shard_count"])) if i not in failed]
        merged = merge_shards(ctx, message.run_id, shards, with_summaries=recipe.llm is not None)
        merged = join_clusters(merged, ctx.backends.blobs, message.run_id)
        if recipe.meta.calls is not None:
            merged = apply_call_outcomes(
                merged, ctx.backends.calls, recipe.meta.calls.exclude_dispositions
            )
            # The kept leads' call contexts are written while the report goes on (one
            # write per lead, 0.3-0.5 s at 100,000 leads); the run is marked finished
            # only once they are stored, so a failed write fails the step as before.
            contexts = kept_contexts(
                merged,
                recipe=recipe.name,
                # A zone the recipe does not set is not known: the webhook's default applies.
                recipe_timezone=(
                    recipe.meta.timezone if "timezone" in recipe.meta.model_fields_set else None
                ),
                run_id=message.run_id,
            )
            if contexts:
                handed_over = background.submit(ctx.backends.calls.set_lead_contexts, contexts)
        # The lead's history: its previous run's results rows (common/results/history.py).
        run_started = datetime.fromisoformat(run["started_at"])
        tables = ResultsTables.from_settings(ctx.settings)
        warehouse = ctx.backends.warehouse
        job = job_options(ctx.settings, recipe, run_id=message.run_id, step=STEP)
        merged = with_history(
            warehouse,
            tables,
            merged,
            recipe=recipe.name,
            run_id=message.run_id,
            started=run_started,
            job=job,
        )
        kept = merged.filter(pl.col(IGNORE).is_null())
        ignored = merged.filter(pl.col(IGNORE).is_not_null())
        computed = [c for c in history.HISTORY_COLUMNS if c not in history.ANALYSIS_COLUMNS]
        columns = choose_columns(merged.drop(computed).columns, recipe, message.options)
        if recipe.meta.calls and recipe.meta.calls.columns and not message.options.include_columns:
            columns = with_outcome_columns(columns)
        if not message.options.include_columns:
            columns += [c for c in history.ANALYSIS_COLUMNS if c not in columns]
        analysis_csv = to_csv(kept.select(columns))
        ignored_cols = [LEAD_KEY, IGNORE] + [c for c in columns if c != LEAD_KEY]
        ignored_frame = ignored.select([c for c in ignored_cols if c in ignored.columns])
        ignored_csv = to_csv(ignored_frame)

        folder = layout.run_folder(run_started, message.run_id)
        blobs = ctx.backends.blobs
        analysis_key = layout.output_key(recipe.name, folder, f"{recipe.name}_analysis.csv")
        ignored_key = layout.output_key(recipe.name, folder, "ignored.csv")
        blobs.put_bytes(analysis_key, analysis_csv, "text/csv")
        blobs.put_bytes(ignored_key, ignored_csv, "text/csv")
        outputs = {"analysis": blobs.url(analysis_key), "ignored": blobs.url(ignored_key)}
        finished = datetime.now(UTC)
        started = datetime.fromisoformat(run.get("created_at", run["started_at"]))
        summary: dict[str, Any] = {
            # Partial: some shards failed for good; their leads are not in the outputs.
            "status": "partial" if failed else "succeeded",
            "failed_shards": sorted(failed),
            "failures": failure_records(message.run_id, failed_marks),
            "finished_at": finished.isoformat(),
            "seconds": round((finished - started).total_seconds(), 3),
            "rows": kept.height,
            "ignored": ignored.height,
            "outputs": outputs,
        }
        steps = state.list_steps(message.run_id)
        llm = llm_totals(steps)
        if llm:
            summary["llm"] = llm
        model, provider = resolve_model(recipe, ctx.settings)
        summary["metrics"] = run_metrics(
            {**run, **summary}, steps, ctx.settings.llm_prices, model=model, provider=provider
        )
        # The results tables: this run's rows replace any an earlier delivery loaded.
        summary["results"] = load_run(
            warehouse,
            tables,
            recipe=recipe.name,
            run_id=message.run_id,
            started=run_started,
            as_of=message.options.as_of,
            kept=kept,
            ignored=ignored,
            summary=summary,
            job=job,
        )
        trend = recovery_trend(warehouse, tables, recipe=recipe.name, job=job)
        # HTML report, Google Sheet, webhooks: each records its own outcome and never
        # fails the report; they add outputs["html"] (and ["sheet"]) in place.
        summary["sinks"] = run_sinks(
            ctx,
            recipe,
            {**run, **summary, "recovery_trend": trend},
            kept.select(columns),
            ignored_frame,
            outputs,
        )
        # latest.*: only when no newer run of the recipe is there already (latest.json).
        copies = {latest.ANALYSIS: analysis_key, latest.IGNORED: ignored_key}
        if summary["sinks"]["html"].get("status") == "ok":
            copies[latest.HTML] = layout.output_key(recipe.name, folder, "report.html")
        summary["latest"] = latest.promote(
            blobs,
            recipe.name,
            latest.LatestRun(message.run_id, run_started, folder, copies),
            {latest.ANALYSIS: analysis_csv, latest.IGNORED: ignored_csv},
        )
        if handed_over is not None:
            handed_over.result()
        state.update_run(message.run_id, summary)
        # One structured line per finished run: the alert policies and the LLM
        # cost metric of infra/monitoring.tf read event, run_status, llm_cost_usd.
        log.info(
            "run finished %s; report written to %s",
            summary["status"],
            outputs["analysis"],
            extra={
                "fields": {
                    "event": "run_finished",
                    "run_status": summary["status"],
                    "llm_cost_usd": (summary["metrics"].get("cost") or {}).get("usd") or 0.0,
                }
            },
        )
        return {"rows": kept.height, "ignored": ignored.height, "outputs": outputs}

    result = run_once(ctx, StepKey(message.run_id, STEP), work, recipe=message.recipe)
    if result is not None:
        # The run's staged conversations scan has served every shard: drop it (the
        # shards' own copies stay under runs/<run_id>/). A crash before this line
        # leaves it to expire (BigQuery table expiration; locally `runs/` pruning).
        try:
            ctx.backends.warehouse.drop_staged(message.run_id)
        except LeadRecoveryError as err:
            log.warning("could not drop the staged conversations scan: %s", err)
    return result
