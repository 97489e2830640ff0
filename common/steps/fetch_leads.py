"""fetch-leads: start a run, read the target leads, split them into shards."""

from __future__ import annotations

import hashlib
import io
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from common import chain, layout
from common.errors import DataError
from common.llm.preview import LLMPreview
from common.messages import RunMessage, RunRequest, ShardMessage
from common.ports import StepKey
from common.ports.warehouse import ScanEstimate, StagedScan
from common.processors.base import LEAD_KEY, require_message_columns
from common.recipe import Recipe
from common.steps.context import StepContext
from common.steps.io import IO_THREADS, write_frame
from common.steps.jobs import job_options
from common.steps.runner import run_once

log = logging.getLogger(__name__)
STEP = "fetch_leads"


def derive_run_id(recipe: str, event_id: str, event_time: datetime) -> str:
    """A run id that is the same for every delivery of the same start message."""
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:8]
    return f"{recipe}-{event_time.astimezone(UTC):%Y%m%dT%H%M%S}-{digest}"


def _read_leads(
    ctx: StepContext, recipe: Recipe, request: RunRequest, as_of: datetime, run_id: str
) -> pl.DataFrame:
    options = request.options
    blobs = ctx.backends.blobs
    if options.skip_leads_query or recipe.leads_sql is None:
        uploaded = layout.uploaded_leads_key(recipe.name)
        if blobs.exists(uploaded):
            source, data = blobs.url(uploaded), blobs.get_bytes(uploaded)
        elif recipe.leads_csv is not None:
            source, data = str(recipe.leads_csv), recipe.leads_csv.read_bytes()
        else:
            raise DataError(
                "no uploaded leads to read",
                where=recipe.where(),
                expected=f"{blobs.url(uploaded)} or {recipe.meta.leads_csv} in the recipe folder",
            )
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False)
        log.info("read %d leads from %s", frame.height, source)
    else:
        table = ctx.backends.warehouse.query(
            recipe.leads_sql,
            {"as_of": as_of, "recipe": recipe.name},
            where=recipe.where(recipe.meta.leads_sql),
            job=job_options(ctx.settings, recipe, run_id=run_id, step=STEP),
        )
        frame = pl.from_arrow(table)  # type: ignore[assignment]
        log.info("leads query returned %d rows", frame.height)
    if LEAD_KEY not in frame.columns:
        raise DataError(
            f"leads have no `{LEAD_KEY}` column",
            where=recipe.where(recipe.meta.leads_sql),
            found=frame.columns,
        )
    frame = frame.with_columns(pl.col(LEAD_KEY).cast(pl.String)).filter(
        pl.col(LEAD_KEY).is_not_null()
    )
    duplicates = frame.height - frame[LEAD_KEY].n_unique()
    if duplicates:
        log.warning("dropping %d duplicate lead rows (same %s)", duplicates, LEAD_KEY)
        frame = frame.unique(subset=[LEAD_KEY], keep="first", maintain_order=True)
    if options.limit is not None:
        frame = frame.head(options.limit)
    return frame


def shard_assignment(leads: pl.DataFrame, shard_size: int) -> pl.DataFrame:
    """``lead_key`` and ``shard`` (row position // shard size): the table the scan joins."""
    return leads.select(
        pl.col(LEAD_KEY),
        (pl.int_range(pl.len(), dtype=pl.Int64) // shard_size).alias("shard"),
    )


def stage_conversations(
    ctx: StepContext, recipe: Recipe, run_id: str, as_of: datetime, assignment: pl.DataFrame
) -> StagedScan:
    """The run's one conversations scan, staged by shard for fetch-conversations to read.

    Raises:
        DataError: the scan fails, or lacks a column the processors need.
    """
    where = recipe.where(recipe.meta.conversations_sql)
    staged = ctx.backends.warehouse.stage_scan(
        recipe.conversations_sql,
        {"as_of": as_of, "recipe": recipe.name},
        leads=assignment.to_arrow(),
        run_id=run_id,
        where=where,
        job=job_options(ctx.settings, recipe, run_id=run_id, step="conversations_scan"),
    )
    require_message_columns(staged.columns, where=where)
    return staged


@dataclass(frozen=True)
class RunPlan:
    """What a run of a recipe would read and make, found without starting it.

    Attributes:
        leads: Target leads (after de-duplication and ``--limit``).
        shards: Shards the run would make.
        shard_size: The recipe's leads per shard.
        leads_read: What the leads query reads (BigQuery: bytes of a dry run).
        conversations_read: What the one conversations scan would read
            (BigQuery: bytes of a dry run; locally: the rows it returns).
        maximum_bytes_billed: The cap every job would carry (None: no cap).
        llm: The LLM step's cost preview (recipes with an ``llm`` section and leads).
    """

    leads: int
    shards: int
    shard_size: int
    leads_read: ScanEstimate | None
    conversations_read: ScanEstimate | None
    maximum_bytes_billed: int | None
    llm: LLMPreview | None = None


def plan_run(ctx: StepContext, request: RunRequest, *, now: datetime) -> RunPlan:
    """`--dry-run`: read the leads, estimate the conversations scan, start nothing.

    The leads query does run (its rows decide the shards); the conversations
    SQL is estimated: a BigQuery dry run (bytes, billed nothing), or a count on
    DuckDB (rows). For a recipe with an ``llm`` section the conversations are
    also read (one query, the bytes estimated) for the cost preview
    (`common.llm.preview`): processors, rules, prompts and cache keys, no call.
    """
    recipe = ctx.recipe(request.recipe)
    as_of = request.options.as_of or now
    run_id = request.run_id or "dry-run"
    job = job_options(ctx.settings, recipe, run_id=run_id, step="dry_run")
    warehouse = ctx.backends.warehouse
    params = {"as_of": as_of, "recipe": recipe.name}
    leads_read = None
    if recipe.leads_sql is not None and not request.options.skip_leads_query:
        leads_read = warehouse.estimate(
            recipe.leads_sql, params, where=recipe.where(recipe.meta.leads_sql), job=job
        )
    leads = _read_leads(ctx, recipe, request, as_of, run_id)
    size = recipe.meta.shard_size
    conversations_read = None
    if leads.height:
        conversations_read = warehouse.estimate(
            recipe.conversations_sql,
            {**params, "lead_keys": leads[LEAD_KEY].to_list()},
            where=recipe.where(recipe.meta.conversations_sql),
            job=job,
        )
    preview = None
    if recipe.llm is not None and recipe.llm.mode == "analyze" and leads.height:
        from common.llm.preview import preview_llm, read_conversations

        options = request.options.model_copy(update={"as_of": as_of})
        messages = read_conversations(ctx, recipe, leads, as_of, job)
        preview = preview_llm(ctx, recipe, options, leads, messages)
    return RunPlan(
        leads=leads.height,
        shards=math.ceil(leads.height / size),
        shard_size=size,
        leads_read=leads_read,
        conversations_read=conversations_read,
        maximum_bytes_billed=job.maximum_bytes_billed,
        llm=preview,
    )


def fetch_leads(
    ctx: StepContext, request: RunRequest, *, event_id: str, event_time: datetime
) -> str:
    """Start (or resume) the run for ``request`` and publish one message per shard.

    Args:
        ctx: Settings and backends.
        request: The start message.
        event_id: Id of the delivery (Pub/Sub message id): the same on redelivery.
        event_time: When the start message was published.

    Returns:
        The run id.
    """
    run_id = request.run_id or derive_run_id(request.recipe, event_id, event_time)
    state = ctx.backends.state
    # An unknown or invalid recipe is refused before any run document exists.
    ctx.recipe(request.recipe)
    as_of = request.options.as_of or event_time
    state.create_run(
        run_id,
        {
            "run_id": run_id,
            "recipe": request.recipe,
            "status": "running",
            "created_at": datetime.now(UTC).isoformat(),
            "started_at": event_time.astimezone(UTC).isoformat(),
            "as_of": as_of.astimezone(UTC).isoformat(),
            "options": request.options.model_dump(mode="json", exclude_none=True),
        },
    )
    # A redelivery resumes the run as first recorded (same as-of, same outputs folder).
    run = state.get_run(run_id) or {}
    as_of = datetime.fromisoformat(run.get("as_of", as_of.isoformat()))
    options = request.options.model_copy(update={"as_of": as_of})

    def work() -> dict[str, Any]:
        recipe = ctx.recipe(request.recipe)
        leads = _read_leads(ctx, recipe, request, as_of, run_id)
        size = recipe.meta.shard_size
        shard_count = math.ceil(leads.height / size)
        # The shards are written side by side (`IO_THREADS`), and while the conversations
        # scan runs (it waits on the warehouse, not on us).
        scan: dict[str, Any] = {}
        with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="leads") as pool:
            writes = [
                pool.submit(
                    write_frame,
                    ctx.backends.blobs,
                    layout.shard_key(run_id, "leads", index),
                    leads.slice(index * size, size),
                )
                for index in range(shard_count)
            ]
            if shard_count:
                assignment = shard_assignment(leads, size)
                staged = stage_conversations(ctx, recipe, run_id, as_of, assignment)
                scan = {
                    "messages": staged.rows,
                    "bytes_processed": staged.bytes_processed,
                    "bytes_billed": staged.bytes_billed,
                }
                log.info("conversations scan staged %d messages", staged.rows)
            for write in writes:
                write.result()  # a failed write fails the step (and the run retries it)
        state.update_run(run_id, {"shard_count": shard_count, "leads": leads.height, "scan": scan})
        nxt = chain.next_stage(recipe, STEP)
        if shard_count == 0:
            # Nothing to fetch: the (empty) report still runs so `latest` tells the truth.
            ctx.backends.bus.publish(
                chain.BY_NAME["report"].topic,
                RunMessage(run_id=run_id, recipe=recipe.name, options=options),
            )
        ctx.backends.bus.publish_many(
            nxt.topic,
            [
                ShardMessage(
                    run_id=run_id,
                    recipe=recipe.name,
                    shard_index=index,
                    shard_count=shard_count,
                    options=options,
                )
                for index in range(shard_count)
            ],
        )
        return {"leads": leads.height, "shards": shard_count, **scan}

    run_once(ctx, StepKey(run_id, STEP), work, recipe=request.recipe)
    return run_id
