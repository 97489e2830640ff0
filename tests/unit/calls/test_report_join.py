"""Call outcomes onto the report's frame, and settled leads left out."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from common.calls.report_join import (
    OUTCOME_COLUMNS,
    apply_call_outcomes,
    exclude,
    join_outcomes,
    with_outcome_columns,
)

OUTCOMES = {
    "+1": {
        "disposition": "recovered",
        "attempts": 2,
        "next_attempt_at": None,
        "last_call_at": "2026-11-20T16:06:38.517000+00:00",
    },
    "+2": {
        "disposition": "no_answer",
        "attempts": 1,
        "next_attempt_at": "2026-11-20T18:10:32+00:00",
        "last_call_at": "2026-11-20T16:10:32+00:00",
    },
    "+3": {"disposition": "not_interested", "attempts": 1, "last_call_at": None},
    "+9": {"disposition": "recovered", "attempts": 1},  # not in the frame
}


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "lead_key": ["+3", "+1", "+4", "+2", "+5"],
            "name": ["c", "a", "d", "b", "e"],
            "ignore_reason": [None, None, None, None, "no messages found for this lead"],
        }
    )


def test_join_adds_the_columns_and_keeps_rows_and_order() -> None:
    joined = join_outcomes(_frame(), OUTCOMES)
    assert joined.columns == ["lead_key", "name", "ignore_reason", *OUTCOME_COLUMNS]
    assert joined["lead_key"].to_list() == ["+3", "+1", "+4", "+2", "+5"]
    assert joined["call_disposition"].to_list() == [
        "not_interested",
        "recovered",
        None,
        "no_answer",
        None,
    ]
    assert joined["call_attempts"].to_list() == [1, 2, 0, 1, 0]
    assert joined.schema["call_next_attempt_at"] == pl.Datetime("us", "UTC")
    assert joined["call_next_attempt_at"][3] == datetime(2026, 11, 20, 18, 10, 32, tzinfo=UTC)
    assert joined["call_last_at"][1] == datetime(2026, 11, 20, 16, 6, 38, 517000, tzinfo=UTC)
    # Joining again replaces the columns instead of duplicating them.
    assert join_outcomes(joined, {}).columns == joined.columns
    assert join_outcomes(joined, {})["call_disposition"].null_count() == 5


def test_exclude_marks_settled_leads_as_ignored() -> None:
    marked = exclude(join_outcomes(_frame(), OUTCOMES), ["recovered", "not_interested"])
    assert marked["ignore_reason"].to_list() == [
        "already called: not_interested",
        "already called: recovered",
        None,
        None,
        "no messages found for this lead",  # an existing reason is kept
    ]
    assert exclude(marked, []).equals(marked)


def test_exclude_without_ignore_column_drops_rows() -> None:
    frame = join_outcomes(_frame().drop("ignore_reason"), OUTCOMES)
    assert exclude(frame, ["recovered"])["lead_key"].to_list() == ["+3", "+4", "+2", "+5"]


def test_exclude_refuses_unknown_dispositions() -> None:
    with pytest.raises(ValueError, match="recoverd"):
        exclude(join_outcomes(_frame(), OUTCOMES), ["recoverd"])


class FakeStore:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def lead_outcomes(self, lead_keys=None):  # type: ignore[no-untyped-def]
        self.asked.append(sorted(lead_keys))
        return {k: v for k, v in OUTCOMES.items() if k in lead_keys}


def test_apply_call_outcomes_asks_only_for_the_frames_leads() -> None:
    store = FakeStore()
    result = apply_call_outcomes(_frame(), store, ["recovered"])  # type: ignore[arg-type]
    assert store.asked == [["+1", "+2", "+3", "+4", "+5"]]
    assert result.filter(pl.col("ignore_reason").is_null())["lead_key"].to_list() == [
        "+3",
        "+4",
        "+2",
    ]
    empty = _frame().clear()
    assert apply_call_outcomes(empty, store).columns[-len(OUTCOME_COLUMNS) :] == list(
        OUTCOME_COLUMNS
    )
    assert len(store.asked) == 1  # an empty frame asks nothing


def test_with_outcome_columns() -> None:
    assert with_outcome_columns(["lead_key", "call_attempts"]) == [
        "lead_key",
        "call_attempts",
        "call_disposition",
        "call_next_attempt_at",
        "call_last_at",
        "call_callback_at",
    ]
