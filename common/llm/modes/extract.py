"""``extract`` mode: typed events from batches of messages per group, then one follow-up per group.

1. **Group** the shard's messages by ``llm.extraction.group_by``: ``lead_key``
   (one group per lead) or any lead column (e.g. ``company``: the column is
   joined onto the messages, and every lead of a company shares its results).
2. **Batch**: each group's messages, in time order, are cut into batches of at
   most ``batch_size`` messages. A batch also closes before its digest would
   pass ``llm.token_budget`` tokens, so every message is read and no prompt
   outgrows the model's context (with a hosted model, raise the budget so
   batches hold ``batch_size`` messages). Each line shows the message id::

       [id=c0001-m0042 2026-11-20 14:03] user: MRR closed at $182k, +9% MoM

3. **Extract**: one call per batch (all batches of the shard concurrently,
   through the client) with the recipe's prompt (``prompt.txt``: the fields of
   the group's first lead, ``{conversation}`` = the batch). Answer: a list of
   events (type from ``event_types``, title, description, impact low/medium/
   high, metrics, severity 1-5, source_message_ids). The schema sent lists the
   batch's ids as the only values ``source_message_ids`` may take
   (``constrain_source_ids``); cited ids are checked against the batch anyway:
   unknown ids are dropped, and so is an event left without any known source
   (counted in the stats).
4. **Follow up**: one call per group that has events, from all of them (the
   ``followup_prompt_file``: ``{events}``, ``{event_count}``, ``{group_key}``,
   ``{period_start}``, ``{period_end}`` and the first lead's fields). Answer:
   ``subject`` and ``body``.

Every call goes through `Analyzer`, so each batch and each follow-up is
cached under the hash of its content: a re-run makes no calls, and new
messages only re-ask the batches they changed (and the follow-up).

Failures: when any batch of a group fails (after retries and one repair), its
leads get ``ignore_reason`` ``event extraction failed …`` and no follow-up is
asked (a partial event list would make a misleading update); the batches that
succeeded are cached. A failed follow-up keeps the event columns and sets
``ignore_reason`` ``follow-up failed: …``. Groups are formed within a shard:
with ``group_by`` other than ``lead_key``, a group split over two shards is two
groups (keep ``shard_size`` above the leads of the largest run).

The batching is in `common.llm.modes.extract_batches`; the events' answer models,
their source check and the list a follow-up shows in `common.llm.modes.extract_events`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from common.counters import merge_counters
from common.errors import DataError, RecipeError
from common.llm.config import ExtractionConfig, LLMConfig, prompt_placeholders
from common.llm.items import AnalysisStats, Item, Outcome
from common.llm.modes.base import (
    ModeResult,
    call_counters,
    check_extra_prompt,
    read_recipe_file,
    reason_counts,
)
from common.llm.modes.extract_batches import GROUP, Batch, make_batches
from common.llm.modes.extract_events import (
    FollowupAnswer,
    SourceCheck,
    batch_model,
    check_sources,
    constrain_sources,
    render_events,
)
from common.ports.summarycache import SummaryCache
from common.processors.base import LEAD_KEY
from common.settings import Settings
from common.text import did_you_mean

IGNORE = "ignore_reason"
EXTRACT_SYSTEM = (
    "You read a company's messages (chat and email) and extract the significant business "
    "events they report: revenue and growth figures, funding, hires, churn, launches, "
    "incidents and the like. Use only what the messages say; keep numbers exact; cite the "
    "ids of the messages each event comes from (the `id=` of each line). Routine chatter "
    "is not an event; a batch may have none. Allowed event types: "
)
"""System message of a batch call; the allowed types follow it."""

FOLLOWUP_SYSTEM = (
    "You write one concise follow-up (such as an investor update email) from a list of "
    "business events extracted from a company's messages. Use only those events; keep their "
    "numbers exact; lead with the most important. Answer with one JSON object that matches "
    "the given JSON Schema exactly, and nothing else."
)

FOLLOWUP_FIELDS = ("events", "event_count", "group_key", "period_start", "period_end")
"""Placeholders of the follow-up prompt besides lead/processor columns."""

COLUMNS: dict[str, pl.DataType] = {
    "event_count": pl.Int64(),
    "events_json": pl.String(),
    "followup_subject": pl.String(),
    "followup_body": pl.String(),
}
"""Columns this mode adds."""


def render_followup(template: str, item: Item) -> str:
    """Fill the follow-up prompt; the event list goes where ``{events}`` is, or last."""
    values = {k: ("" if v is None else v) for k, v in item.fields.items()}
    values["events"] = item.digest
    text = template.format_map(values)
    if "events" not in prompt_placeholders(template):
        text = f"{text.rstrip()}\n\nEvents:\n{item.digest}"
    return text


# --- the mode ---------------------------------------------------------------------------


def followup_prompt(recipe: Any) -> str:
    """The follow-up prompt.

    Raises:
        RecipeError: the file is missing or empty.
    """
    return read_recipe_file(
        recipe,
        recipe.llm.extraction.followup_prompt_file,
        field_name="llm.extraction.followup_prompt_file",
        purpose="the follow-up prompt (e.g. an investor update email)",
    )


def group_leads(kept: pl.DataFrame, group_by: str) -> pl.DataFrame:
    """``lead_key`` → ``_group`` (the ``group_by`` value as text; null when missing).

    Raises:
        DataError: the leads have no ``group_by`` column (possible with ``SELECT *``).
    """
    if group_by not in kept.columns:
        raise DataError(
            f"the leads have no `{group_by}` column to group messages by",
            where="llm.extraction.group_by",
            expected="`lead_key` or one of " + ", ".join(kept.columns),
        )
    return kept.select(LEAD_KEY, pl.col(group_by).cast(pl.String).alias(GROUP))


@dataclass
class _GroupResult:
    events: list[dict[str, Any]]
    start: Any = None
    """Time of the group's first message."""
    end: Any = None
    """Time of its last message."""
    failed: str | None = None
    """Why extraction failed (no events are reported then)."""
    followup_failed: str | None = None
    subject: str | None = None
    body: str | None = None

    @property
    def reason(self) -> str | None:
        return self.failed or self.followup_failed


class ExtractMode:
    """Batched event extraction with one follow-up per group."""

    name = "extract"

    def columns(self, config: LLMConfig) -> dict[str, pl.DataType]:
        """The event and follow-up columns."""
        return dict(COLUMNS)

    def validate(self, recipe: Any) -> None:
        """Load-time checks: ``group_by`` is a lead column; the follow-up prompt exists and fits.

        Raises:
            RecipeError: naming the file or the meta.yml field.
        """
        extraction: ExtractionConfig = recipe.llm.extraction
        columns = recipe.lead_columns
        if extraction.group_by != LEAD_KEY and columns is not None:
            if extraction.group_by not in columns:
                hint = did_you_mean(extraction.group_by, columns)
                raise RecipeError(
                    f"`{extraction.group_by}`: the leads have no such column"
                    + (f"; did you mean `{hint}`?" if hint else ""),
                    where=recipe.where(field="llm.extraction.group_by"),
                    expected="`lead_key` or one of the leads' columns: " + ", ".join(columns),
                )
        check_extra_prompt(
            recipe,
            followup_prompt(recipe),
            extraction.followup_prompt_file,
            extra=set(FOLLOWUP_FIELDS),
            conversation=False,
        )

    def run(
        self,
        *,
        recipe: Any,
        settings: Settings,
        cache: SummaryCache | None,
        read_cache: bool,
        kept: pl.DataFrame,
        messages: pl.DataFrame,
    ) -> ModeResult:
        """Extract events per batch, then write one follow-up per group with events."""
        from common.llm.factory import build_analyzer

        llm: LLMConfig = recipe.llm
        extraction: ExtractionConfig = llm.extraction  # type: ignore[assignment]
        timezone = recipe.meta.timezone
        groups = group_leads(kept, extraction.group_by)
        grouped = messages.join(groups, on=LEAD_KEY, how="inner").filter(
            pl.col(GROUP).is_not_null()
        )
        batches = make_batches(
            grouped,
            batch_size=extraction.batch_size,
            token_budget=llm.token_budget,
            timezone=timezone,
        )
        # The prompts get the fields of each group's first lead (by lead key).
        first = {
            row[GROUP]: {k: v for k, v in row.items() if k != GROUP}
            for row in kept.join(groups, on=LEAD_KEY)
            .filter(pl.col(GROUP).is_not_null())
            .sort(LEAD_KEY)
            .unique(subset=[GROUP], keep="first", maintain_order=True)
            .iter_rows(named=True)
        }
        answer_model = batch_model(extraction.event_types, extraction.max_events)
        schemas = {
            b.label: constrain_sources(answer_model.model_json_schema(), b.message_ids)
            for b in batches
            if extraction.constrain_source_ids
        }
        extractor = build_analyzer(
            recipe,
            settings,
            cache,
            read_cache=read_cache,
            answer_model=answer_model,
            schema_for=(lambda item: schemas[item.lead_key]) if schemas else None,
            system=EXTRACT_SYSTEM
            + ", ".join(extraction.event_types)
            + ". Answer with one JSON object that matches the given JSON Schema exactly, "
            "and nothing else.",
            schema_name="events",
        )
        items = [Item(lead_key=b.label, fields=first[b.group], digest=b.digest) for b in batches]
        outcomes, batch_stats = extractor.run(items) if items else ([], AnalysisStats())

        results, sources = _collect(batches, outcomes, timezone)
        due = [
            Item(
                lead_key=group,
                fields={
                    **first[group],
                    "group_key": group,
                    "event_count": len(result.events),
                    "period_start": _day(result.start, timezone),
                    "period_end": _day(result.end, timezone),
                },
                digest=render_events(result.events, llm.token_budget),
            )
            for group, result in results.items()
            if result.failed is None and result.events
        ]
        writer = extractor.variant(
            prompt=followup_prompt(recipe),
            answer_model=FollowupAnswer,
            system=FOLLOWUP_SYSTEM,
            schema_name="followup",
            render=render_followup,
        )
        written, followup_stats = writer.run(due) if due else ([], AnalysisStats())
        for outcome in written:
            result = results[outcome.lead_key]
            if outcome.answer is not None:
                result.subject, result.body = outcome.answer["subject"], outcome.answer["body"]
            else:
                result.followup_failed = f"follow-up failed: {outcome.reason}"

        frame = _frame(groups, results, extraction.group_by)
        reasons = frame[IGNORE].to_list()
        stats = merge_counters(
            call_counters(batch_stats),
            call_counters(followup_stats),
            {
                "conversations": frame.height,
                "groups": len(results),
                "batches": len(batches),
                "events": sum(len(r.events) for r in results.values()),
                "unknown_source_ids": sources.unknown_ids,
                "events_unsourced": sources.unsourced_events,
                "followups": len(due),
                "ignored": sum(1 for r in reasons if r),
                "reasons": reason_counts(reasons),
            },
        )
        return ModeResult(frame, stats, extractor.client.stats.as_dict())


def _day(value: Any, timezone: str) -> str:
    """The date of a UTC timestamp in ``timezone`` (ISO)."""
    from zoneinfo import ZoneInfo

    return str(value.astimezone(ZoneInfo(timezone)).date()) if value is not None else "?"


def _collect(
    batches: Sequence[Batch], outcomes: Sequence[Outcome], timezone: str
) -> tuple[dict[str, _GroupResult], SourceCheck]:
    """Each group's checked events (oldest first), or why its extraction failed."""
    results: dict[str, _GroupResult] = {}
    total = SourceCheck()
    for batch, outcome in zip(batches, outcomes, strict=True):
        result = results.setdefault(batch.group, _GroupResult(events=[], start=batch.sent_at[0]))
        result.end = batch.sent_at[-1]
        if result.failed is not None:
            continue
        if outcome.answer is None:
            result.failed = f"event extraction failed for batch {batch.label}: {outcome.reason}"
            result.events = []
            continue
        when = dict(zip(batch.message_ids, batch.sent_at, strict=True))
        events, check = check_sources(outcome.answer["events"], when)
        total.unknown_ids += check.unknown_ids
        total.unsourced_events += check.unsourced_events
        for event in events:
            first_seen = min(when[s] for s in event["source_message_ids"])
            event["first_seen"] = _day(first_seen, timezone)
            result.events.append(event)
    for result in results.values():
        result.events.sort(key=lambda e: e["first_seen"])  # stable: batch order breaks ties
    return results, total


def _frame(groups: pl.DataFrame, results: dict[str, _GroupResult], group_by: str) -> pl.DataFrame:
    """One row per lead: its group's events and follow-up, or why there are none."""
    rows = []
    for lead_key, group in groups.iter_rows():
        row: dict[str, Any] = {LEAD_KEY: lead_key}
        result = results.get(group) if group is not None else None
        if group is None:
            row[IGNORE] = f"no `{group_by}` value to group this lead's messages by"
        elif result is None:
            continue  # no messages: the process step has already ignored the lead
        else:
            ok = result.failed is None
            row.update(
                {
                    IGNORE: result.reason,
                    "event_count": len(result.events) if ok else None,
                    "events_json": json.dumps(result.events, ensure_ascii=False) if ok else None,
                    "followup_subject": result.subject,
                    "followup_body": result.body,
                }
            )
        rows.append(row)
    schema: dict[str, Any] = {LEAD_KEY: pl.String(), IGNORE: pl.String(), **COLUMNS}
    return pl.DataFrame(
        [{name: row.get(name) for name in schema} for row in rows], schema=schema, orient="row"
    )
