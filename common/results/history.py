"""A lead's history across runs: where it was in the previous run, and what changed.

The report step adds, before it splits analysed from ignored leads:

``first_seen_run``
    the first run of the recipe that had the lead (carried forward run to run);
``current_state`` / ``current_score`` / ``current_reason``
    the lead's state, score and stall reason in this run, taken from the first
    of `STATE_COLUMNS`, `SCORE_COLUMNS`, `REASON_COLUMNS` the recipe produces;
``previous_state`` / ``previous_score``
    the same in the recipe's previous run (its results rows);
``change``
    ``new`` (not in the previous run), ``recovered`` (its call now says
    recovered, and did not before), else ``better`` / ``worse`` by the first
    of these that moved: the score (higher is better), the call disposition
    (`DISPOSITION_RANK`), the conversation state (`STATE_RANK`); else
    ``unchanged``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from common.errors import DataError

if TYPE_CHECKING:
    from common.ports.warehouse import JobOptions, Warehouse
    from common.results.tables import ResultsTables

LEAD_KEY = "lead_key"
STATE_COLUMNS = ("conversation_state", "lead_state", "state", "stage")
SCORE_COLUMNS = ("recovery_score", "lead_score", "score")
REASON_COLUMNS = ("primary_stall_reason_code", "stall_reason", "reason")
HISTORY_COLUMNS = (
    "first_seen_run",
    "current_state",
    "current_score",
    "current_reason",
    "previous_state",
    "previous_score",
    "change",
)
PREVIOUS_SCHEMA: dict[str, pl.DataType] = {
    LEAD_KEY: pl.String(),
    "first_seen_run": pl.String(),
    "current_state": pl.String(),
    "current_score": pl.Float64(),
    "call_disposition": pl.String(),
}
"""What `add_history` reads of the previous run's rows."""
ANALYSIS_COLUMNS = ("first_seen_run", "previous_state", "previous_score", "change")
"""History columns the analysis CSV gains (the results tables hold all of `HISTORY_COLUMNS`)."""
CHANGES = ("new", "unchanged", "worse", "better", "recovered")
DISPOSITION_RANK = {
    "recovered": 3,
    "callback_requested": 1,
    "no_decision": 0,
    "no_answer": 0,
    "voicemail": 0,
    "busy": 0,
    "failed": 0,
    "not_interested": -2,
    "wrong_number": -2,
}
"""How close to recovery each call disposition is (a lead never called: 0)."""
STATE_RANK = {
    "no_bot_messages": 0,
    "no_user_reply": 0,
    "stalled_after_bot": 1,
    "handoff_declined": 1,
    "stalled_in_profiling": 2,
    "active": 2,
    "handoff_pending": 3,
    "handoff_completed": 4,
    "with_human_agent": 4,
}
"""How close to recovery each conversation state is (`ConversationStateProcessor`)."""


def _first(frame: pl.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def current_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """``current_state``, ``current_score``, ``current_reason`` from the recipe's own columns."""
    out = []
    for target, names, dtype in (
        ("current_state", STATE_COLUMNS, pl.String()),
        ("current_score", SCORE_COLUMNS, pl.Float64()),
        ("current_reason", REASON_COLUMNS, pl.String()),
    ):
        found = _first(frame, names)
        out.append(
            (pl.col(found).cast(dtype, strict=False) if found else pl.lit(None, dtype)).alias(
                target
            )
        )
    return frame.with_columns(out)


def previous_run(
    warehouse: Warehouse,
    tables: ResultsTables,
    *,
    recipe: str,
    run_id: str,
    started: datetime,
    job: JobOptions | None = None,
) -> str | None:
    """The recipe's latest run that started before this one and has results rows."""
    if not warehouse.has_table(tables.runs):
        return None
    found = warehouse.query(
        f"SELECT run_id FROM {tables.runs.sql_name} "  # noqa: S608 - identifiers from settings
        "WHERE recipe = @recipe AND run_id != @run_id AND run_started_at < @started "
        "ORDER BY run_started_at DESC, run_id DESC LIMIT 1",
        {"recipe": recipe, "run_id": run_id, "started": started},
        where=f"results {tables.runs.name}",
        job=job,
    )
    return str(found.column("run_id")[0].as_py()) if found.num_rows else None


def previous_rows(
    warehouse: Warehouse,
    tables: ResultsTables,
    *,
    recipe: str,
    run_id: str,
    job: JobOptions | None = None,
) -> pl.DataFrame:
    """Every lead of run ``run_id`` (analysed and ignored) with what `add_history` compares."""
    wanted = [c for c in PREVIOUS_SCHEMA if c != LEAD_KEY]
    frames = []
    for table in (tables.analysis, tables.ignored):
        if not warehouse.has_table(table):
            continue
        rows = warehouse.query(
            f"SELECT * FROM {table.sql_name} WHERE recipe = @recipe AND run_id = @run_id",  # noqa: S608
            {"recipe": recipe, "run_id": run_id},
            where=f"results {table.name}",
            job=job,
        )
        frame = pl.from_arrow(rows)
        assert isinstance(frame, pl.DataFrame)
        present = [c for c in wanted if c in frame.columns]
        frames.append(frame.select([LEAD_KEY, *present]))
    empty = empty_previous()
    if not frames:
        return empty
    merged = pl.concat([empty, *frames], how="diagonal_relaxed")
    return merged.unique(LEAD_KEY, keep="first").select(
        [pl.col(c).cast(t) for c, t in PREVIOUS_SCHEMA.items()]
    )


def empty_previous() -> pl.DataFrame:
    """No previous run: every lead is ``new``."""
    return pl.DataFrame(schema=PREVIOUS_SCHEMA)


def add_history(frame: pl.DataFrame, previous: pl.DataFrame, *, run_id: str) -> pl.DataFrame:
    """`HISTORY_COLUMNS` on ``frame`` (one row per lead), from the previous run's rows."""
    if LEAD_KEY not in frame.columns:
        raise DataError("the analysis has no lead_key column", where="results history")
    frame = current_columns(frame.drop([c for c in HISTORY_COLUMNS if c in frame.columns]))
    prev = previous.rename(
        {
            "first_seen_run": "_prev_first",
            "current_state": "previous_state",
            "current_score": "previous_score",
            "call_disposition": "_prev_disposition",
        }
    ).with_columns(pl.lit(True).alias("_prev_seen"))
    joined = frame.join(prev, on=LEAD_KEY, how="left")
    disposition = (
        pl.col("call_disposition")
        if "call_disposition" in frame.columns
        else pl.lit(None, pl.String)
    )

    def rank(expr: pl.Expr, table: dict[str, int]) -> pl.Expr:
        return expr.replace_strict(table, default=0, return_dtype=pl.Int64).fill_null(0)

    moves = [
        (pl.col("current_score") - pl.col("previous_score")).sign(),
        (rank(disposition, DISPOSITION_RANK) - rank(pl.col("_prev_disposition"), DISPOSITION_RANK)),
        (rank(pl.col("current_state"), STATE_RANK) - rank(pl.col("previous_state"), STATE_RANK)),
    ]
    moved = pl.coalesce([pl.when(m != 0).then(m) for m in moves])
    change = (
        pl.when(pl.col("_prev_seen").is_null())
        .then(pl.lit("new"))
        .when(
            (disposition == "recovered")
            & (pl.col("_prev_disposition").fill_null("") != "recovered")
        )
        .then(pl.lit("recovered"))
        .when(moved > 0)
        .then(pl.lit("better"))
        .when(moved < 0)
        .then(pl.lit("worse"))
        .otherwise(pl.lit("unchanged"))
    )
    return joined.with_columns(
        pl.coalesce(pl.col("_prev_first"), pl.lit(run_id)).alias("first_seen_run"),
        change.alias("change"),
    ).drop(["_prev_first", "_prev_disposition", "_prev_seen"])
