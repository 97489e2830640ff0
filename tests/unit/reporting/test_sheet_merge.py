"""The Sheet merge rules, as a pure function on lists of cells."""

from __future__ import annotations

import pytest

from common.reporting.sheet_merge import (
    ARCHIVED_AT,
    Cell,
    SheetLayoutError,
    column_letter,
    plan_merge,
)

COLUMNS = ["lead_key", "name", "state"]


def _run(
    rows: list[list[Cell]],
    main: list[list[Cell]],
    archive: list[list[Cell]] | None = None,
    columns: list[str] = COLUMNS,
    when: str = "2026-11-20T18:00:00+00:00",
):
    return plan_merge(
        columns=columns, rows=rows, main=main, archive=archive or [], archived_at=when
    )


def _by_key(grid: list[list[Cell]]) -> dict[str, dict[str, Cell]]:
    header = [str(c) for c in grid[0]]
    return {str(r[0]): dict(zip(header, r, strict=False)) for r in grid[1:] if r and r[0]}


def test_a_fresh_sheet_gets_the_header_and_every_row() -> None:
    plan = _run([["a", "Ann", "stalled"], ["b", "Bob", "active"]], main=[])
    assert plan.fresh and plan.inserted is None and not plan.deleted_rows
    assert plan.main_values == [COLUMNS, ["a", "Ann", "stalled"], ["b", "Bob", "active"]]
    assert (plan.added, plan.updated, plan.archived) == (2, 0, 0)
    assert plan.owned == {"lead_key": 0, "name": 1, "state": 2}
    assert plan.archive_values == []


def test_hand_columns_stay_on_their_lead_whatever_the_order() -> None:
    main: list[list[Cell]] = [
        ["lead_key", "name", "state", "notes", "owner"],
        ["b", "Bob", "old", "call after 5pm", "Ana"],
        ["a", "Ann", "old", "", "Luis"],
    ]
    plan = _run([["a", "Ann", "stalled"], ["b", "Bob", "active"]], main)
    # People sorted b before a: rows stay where they are, owned cells follow the key.
    assert plan.main_values == [
        ["lead_key", "name", "state", "notes", "owner"],
        ["b", "Bob", "active", "call after 5pm", "Ana"],
        ["a", "Ann", "stalled", "", "Luis"],
    ]
    assert plan.hand_columns == ["notes", "owner"]
    assert plan.updated == 2 and plan.added == 0 and not plan.deleted_rows


def test_vanished_leads_move_to_the_archive_with_their_notes() -> None:
    main: list[list[Cell]] = [
        ["lead_key", "name", "state", "notes"],
        ["a", "Ann", "x", "vip"],
        ["b", "Bob", "x", "no answer"],
        ["c", "Cy", "x"],
    ]
    plan = _run([["c", "Cy", "y"], ["d", "Dee", "new"]], main)
    assert plan.deleted_rows == [1, 2]
    assert plan.main_values == [
        ["lead_key", "name", "state", "notes"],
        ["c", "Cy", "y", ""],
        ["d", "Dee", "new", ""],
    ]
    assert plan.archive_values == [
        ["lead_key", "name", "state", "notes", ARCHIVED_AT],
        ["a", "Ann", "x", "vip", "2026-11-20T18:00:00+00:00"],
        ["b", "Bob", "x", "no answer", "2026-11-20T18:00:00+00:00"],
    ]
    assert [w.row for w in plan.archive_writes] == [1, 2]
    assert plan.archived == 2 and plan.added == 1


def test_a_lead_back_from_the_archive_gets_its_notes_back() -> None:
    main: list[list[Cell]] = [["lead_key", "name", "state", "notes"], ["c", "Cy", "x", ""]]
    archive: list[list[Cell]] = [
        ["lead_key", "name", "state", "notes", "priority", ARCHIVED_AT],
        ["a", "Ann", "x", "vip", "high", "t0"],
        ["z", "Zed", "x", "gone", "", "t0"],
    ]
    plan = _run([["a", "Ann", "back"], ["c", "Cy", "x"]], main, archive)
    # `priority` was a hand column that is not in the main tab any more: it comes back, last.
    assert plan.extra_columns == ["priority"]
    assert plan.main_values == [
        ["lead_key", "name", "state", "notes", "priority"],
        ["c", "Cy", "x", "", ""],
        ["a", "Ann", "back", "vip", "high"],
    ]
    assert plan.archive_deleted_rows == [1]
    assert plan.archive_values == [archive[0], ["z", "Zed", "x", "gone", "", "t0"]]
    (restored,) = plan.restored
    assert restored.row == 2 and restored.cells == {0: "a", 3: "vip", 4: "high"}


def test_a_re_archived_lead_replaces_its_old_archive_row() -> None:
    main: list[list[Cell]] = [["lead_key", "name", "state", "notes"], ["a", "Ann", "x", "2nd note"]]
    archive: list[list[Cell]] = [
        ["lead_key", "name", "state", "notes", ARCHIVED_AT],
        ["a", "Ann", "old", "1st note", "t0"],
    ]
    plan = _run([], main, archive, when="t1")
    assert plan.archive_values == [archive[0], ["a", "Ann", "x", "2nd note", "t1"]]
    assert [w.row for w in plan.archive_writes] == [1] and not plan.archive_header_changed


def test_a_new_run_column_is_inserted_after_the_owned_ones() -> None:
    main: list[list[Cell]] = [["lead_key", "name", "notes"], ["a", "Ann", "vip"]]
    plan = _run([["a", "Ann", "stalled"]], main)
    assert plan.inserted == (2, 1)
    assert plan.main_values == [
        ["lead_key", "name", "state", "notes"],
        ["a", "Ann", "stalled", "vip"],
    ]
    assert plan.owned == {"lead_key": 0, "name": 1, "state": 2}


def test_a_column_the_run_dropped_is_left_alone_like_a_hand_column() -> None:
    main: list[list[Cell]] = [["lead_key", "name", "state", "notes"], ["a", "Ann", "x", "vip"]]
    plan = _run([["a", "Ann2"]], main, columns=["lead_key", "name"])
    assert plan.main_values == [["lead_key", "name", "state", "notes"], ["a", "Ann2", "x", "vip"]]
    assert plan.owned == {"lead_key": 0, "name": 1}


def test_rows_without_a_key_are_never_touched() -> None:
    main: list[list[Cell]] = [
        ["lead_key", "name", "state", "notes"],
        ["a", "Ann", "x", ""],
        ["", "", "", "totals: 2 calls"],
        [],
        ["b", "Bob", "x", ""],
    ]
    plan = _run([["a", "Ann", "y"], ["b", "Bob", "y"]], main)
    assert plan.keyed == [True, False, False, True]
    assert plan.main_values[2] == ["", "", "", "totals: 2 calls"]
    assert plan.unkeyed == 2 and not plan.deleted_rows


def test_unnamed_and_duplicate_hand_columns_reach_the_archive_by_letter() -> None:
    main: list[list[Cell]] = [
        ["lead_key", "name", "state", "notes", "", "notes"],
        ["a", "Ann", "x", "one", "loose", "two"],
    ]
    plan = _run([], main)
    header = plan.archive_values[0]
    assert header == ["lead_key", "name", "state", "notes", "column E", "notes (F)", ARCHIVED_AT]
    assert plan.archive_values[1][:6] == ["a", "Ann", "x", "one", "loose", "two"]


def test_a_tab_with_content_but_no_key_is_refused() -> None:
    with pytest.raises(SheetLayoutError, match="no `lead_key` column"):
        _run([["a", "Ann", "x"]], [["Name", "Phone"], ["Ann", "555"]])
    with pytest.raises(SheetLayoutError, match="archive tab"):
        _run([["a", "Ann", "x"]], [], archive=[["something else"]])
    with pytest.raises(SheetLayoutError, match="output_columns"):
        _run([["Ann"]], [], columns=["name"])


def test_three_runs_keep_every_note_on_its_lead() -> None:
    """The acceptance scenario on lists: leads come and go, notes never move or vanish."""
    main: list[list[Cell]] = []
    archive: list[list[Cell]] = []
    runs = [
        [["a", "Ann", "s1"], ["b", "Bob", "s1"], ["c", "Cy", "s1"]],
        [["b", "Bob", "s2"], ["c", "Cy", "s2"], ["d", "Dee", "s2"]],
        [["a", "Ann", "s3"], ["c", "Cy", "s3"], ["e", "Eve", "s3"]],
    ]
    notes = {"a": "vip", "b": "call back", "c": "wrong number", "d": "emailed"}
    for i, rows in enumerate(runs):
        plan = _run(rows, main, archive, when=f"t{i}")
        main, archive = plan.main_values, plan.archive_values
        if i == 0:
            main[0].append("notes")  # the team adds a column...
        for row in main[1:]:  # ...and notes each lead once, the first time they see it
            key = str(row[0])
            if key in notes:
                row[3:] = [notes.pop(key)]
    final, archived = _by_key(main), _by_key(archive)
    assert set(final) == {"c", "a", "e"} and set(archived) == {"b", "d"}
    assert final["a"]["notes"] == "vip" and final["a"]["state"] == "s3"  # back from the archive
    assert final["c"]["notes"] == "wrong number"
    assert archived["b"]["notes"] == "call back" and archived["b"][ARCHIVED_AT] == "t2"
    assert archived["d"]["notes"] == "emailed"


@pytest.mark.parametrize(("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ")])
def test_column_letters(index: int, letters: str) -> None:
    assert column_letter(index) == letters
