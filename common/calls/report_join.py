"""Closing the loop: call outcomes onto the report's frame, and leads already settled left out.

The report step calls, on its merged frame (one row per lead)::

    merged = apply_call_outcomes(
        merged, ctx.backends.calls, exclude_dispositions=recipe.meta.calls.exclude_dispositions
    )

which adds `OUTCOME_COLUMNS` (empty for leads never called) and marks the
leads whose last call ended in one of ``exclude_dispositions`` as ignored
(``ignore_reason`` = ``already called: recovered``), so they move from the
analysis CSV to ``ignored.csv`` with the reason instead of vanishing.

Given the recipe (``recipe=``, ``recipe_timezone=``, ``run_id=``), it also hands
the callers' webhook each kept lead's call context (`lead_contexts`): the
lead's zone from this run's ``timezone`` lead column, else the recipe's zone
(when the recipe sets one), stored with the lead's outcome
(`CallStore.set_lead_contexts`), so the webhook plans retries in the lead's
own time without querying the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from common.calls.disposition import Disposition

if TYPE_CHECKING:
    from common.ports.callstore import CallStore

LEAD_KEY = "lead_key"
IGNORE = "ignore_reason"  # the report step's column (common.steps.report.IGNORE)
OUTCOME_SCHEMA: dict[str, pl.DataType] = {
    "call_disposition": pl.String(),
    "call_attempts": pl.Int64(),
    "call_next_attempt_at": pl.Datetime("us", "UTC"),
    "call_last_at": pl.Datetime("us", "UTC"),
    "call_callback_at": pl.Datetime("us", "UTC"),
}
OUTCOME_COLUMNS = tuple(OUTCOME_SCHEMA)
"""Columns `join_outcomes` adds, in this order."""
EXCLUDED_PREFIX = "already called: "


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def outcomes_frame(outcomes: Mapping[str, Mapping[str, Any]]) -> pl.DataFrame:
    """Lead outcome documents as a frame: ``lead_key`` and `OUTCOME_COLUMNS`."""
    rows = [
        {
            LEAD_KEY: key,
            "call_disposition": doc.get("disposition"),
            "call_attempts": doc.get("attempts"),
            "call_next_attempt_at": _time(doc.get("next_attempt_at")),
            "call_last_at": _time(doc.get("last_call_at")),
            "call_callback_at": _time(doc.get("callback_at")),
        }
        for key, doc in outcomes.items()
    ]
    return pl.DataFrame(rows, schema={LEAD_KEY: pl.String(), **OUTCOME_SCHEMA})


def join_outcomes(frame: pl.DataFrame, outcomes: Mapping[str, Mapping[str, Any]]) -> pl.DataFrame:
    """``frame`` with `OUTCOME_COLUMNS` of each row's lead (null when never called).

    Rows and their order are kept; joining again replaces the columns.

    Args:
        frame: Has a ``lead_key`` column.
        outcomes: `CallStore.lead_outcomes` output.
    """
    base = frame.drop([c for c in OUTCOME_COLUMNS if c in frame.columns])
    joined = base.join(outcomes_frame(outcomes), on=LEAD_KEY, how="left", maintain_order="left")
    return joined.with_columns(pl.col("call_attempts").fill_null(0))


def exclude(frame: pl.DataFrame, dispositions: Iterable[str]) -> pl.DataFrame:
    """Leave out the leads whose last call ended in one of ``dispositions``.

    With an ``ignore_reason`` column (the report's merged frame) such rows are
    marked ``already called: <disposition>`` (a reason already there is kept);
    without one they are dropped.

    Raises:
        ValueError: a name is not a `Disposition`.
    """
    wanted = [Disposition(d).value for d in dispositions]
    if not wanted:
        return frame
    hit = pl.col("call_disposition").is_in(wanted).fill_null(False)
    if IGNORE not in frame.columns:
        return frame.filter(~hit)
    reason = pl.lit(EXCLUDED_PREFIX) + pl.col("call_disposition")
    return frame.with_columns(
        pl.when(pl.col(IGNORE).is_null() & hit).then(reason).otherwise(pl.col(IGNORE)).alias(IGNORE)
    )


def _zone(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return ZoneInfo(name.strip()).key
    except (ZoneInfoNotFoundError, ValueError):
        return None


def lead_contexts(
    frame: pl.DataFrame, *, recipe: str, recipe_timezone: str | None, run_id: str | None
) -> dict[str, dict[str, Any]]:
    """Each lead's call context: its zone (``timezone`` column, else the recipe's) and run.

    Args:
        frame: Has ``lead_key``; a ``timezone`` column when the recipe's leads carry one.
        recipe: The recipe's name.
        recipe_timezone: The recipe's zone, or None when the recipe does not set one.
        run_id: The run handing the leads over.

    Returns:
        Lead key → ``{timezone, timezone_source ("lead" | "recipe" | None), recipe,
        run_id, updated_at}``; an unknown zone name in the column counts as none.
        Leads of the same zone share one (read-only) dict.
    """
    now = datetime.now(UTC).isoformat()
    zones = frame.get_column("timezone").to_list() if "timezone" in frame.columns else None
    fallback = _zone(recipe_timezone)
    # One context per distinct zone name, shared by its leads (100,000 leads, a
    # handful of zones): checking the name is the costly part.
    by_name: dict[Any, dict[str, Any]] = {}
    contexts: dict[str, dict[str, Any]] = {}
    for i, key in enumerate(frame.get_column(LEAD_KEY).to_list()):
        if key is None:
            continue
        name = zones[i] if zones is not None else None
        context = by_name.get(name)
        if context is None:
            own = _zone(name)
            zone = own or fallback
            context = by_name[name] = {
                "timezone": zone,
                "timezone_source": "lead" if own else ("recipe" if zone else None),
                "recipe": recipe,
                "run_id": run_id,
                "updated_at": now,
            }
        contexts[str(key)] = context
    return contexts


def apply_call_outcomes(
    frame: pl.DataFrame,
    store: CallStore,
    exclude_dispositions: Sequence[str] = (),
    *,
    recipe: str | None = None,
    recipe_timezone: str | None = None,
    run_id: str | None = None,
) -> pl.DataFrame:
    """`join_outcomes` with the store's outcomes of the frame's leads, then `exclude`.

    With ``recipe``, the kept leads' call contexts (`lead_contexts`) are stored too.
    """
    keys = frame.get_column(LEAD_KEY).drop_nulls().unique().to_list() if frame.height else []
    outcomes = store.lead_outcomes(keys) if keys else {}
    joined = exclude(join_outcomes(frame, outcomes), exclude_dispositions)
    if recipe is not None:
        contexts = kept_contexts(
            joined, recipe=recipe, recipe_timezone=recipe_timezone, run_id=run_id
        )
        if contexts:
            store.set_lead_contexts(contexts)
    return joined


def kept_contexts(
    joined: pl.DataFrame, *, recipe: str, recipe_timezone: str | None, run_id: str | None
) -> dict[str, dict[str, Any]]:
    """`lead_contexts` of the leads `apply_call_outcomes` keeps (no ``ignore_reason``)."""
    if not joined.height:
        return {}
    kept = joined.filter(pl.col(IGNORE).is_null()) if IGNORE in joined.columns else joined
    return lead_contexts(kept, recipe=recipe, recipe_timezone=recipe_timezone, run_id=run_id)


def with_outcome_columns(columns: Sequence[str]) -> list[str]:
    """The report's output columns followed by the `OUTCOME_COLUMNS` they lack."""
    return [*columns, *(c for c in OUTCOME_COLUMNS if c not in columns)]
