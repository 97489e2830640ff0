"""From a merge plan to Sheets requests: what is written, in which order, in how many requests."""

from __future__ import annotations

import json

from common.reporting.sheet_merge import ARCHIVED_AT, plan_merge
from common.reporting.sheet_requests import (
    Tab,
    a1,
    pack,
    quote_title,
    split_range,
    structure_requests,
    value_ranges,
)

MAIN = Tab(0, "Leads", 1000, 26)
ARCHIVE = Tab(7, "Leads archive", 1000, 26)


def _kinds(requests: list[dict]) -> list[str]:
    return [next(iter(r)) for r in requests]


def test_only_owned_cells_of_keyed_rows_are_written() -> None:
    main = [
        ["lead_key", "notes", "name", "state"],
        ["a", "vip", "Ann", "x"],
        ["", "totals", "", ""],
        ["b", "", "Bob", "x"],
    ]
    plan = plan_merge(
        columns=["lead_key", "name", "state"],
        rows=[["a", "Ann", "y"], ["b", "Bob", "y"]],
        main=main,
        archive=[],
        archived_at="t",
    )
    ranges = {r["range"]: r["values"] for r in value_ranges(plan, "Leads")}
    # Column B (notes) and row 3 (no key) are never written.
    assert ranges == {
        "'Leads'!A1:A2": [["lead_key"], ["a"]],
        "'Leads'!A4:A4": [["b"]],
        "'Leads'!C1:D2": [["name", "state"], ["Ann", "y"]],
        "'Leads'!C4:D4": [["Bob", "y"]],
    }


def test_structural_changes_come_in_a_data_safe_order() -> None:
    main = [["lead_key", "name", "notes"], ["a", "Ann", "vip"], ["b", "Bob", "call"]]
    archive = [["lead_key", "name", "notes", ARCHIVED_AT], ["c", "Cy", "back soon", "t0"]]
    plan = plan_merge(
        columns=["lead_key", "name", "state"],
        rows=[["b", "Bob", "s"], ["c", "Cy", "s"]],
        main=main,
        archive=archive,
        archived_at="t1",
    )
    requests = structure_requests(
        plan,
        main=MAIN,
        main_exists=True,
        archive=ARCHIVE,
        archive_exists=True,
        archive_rows_before=len(archive),
        main_rows_before=len(main),
    )
    kinds = _kinds(requests)
    assert kinds == [
        "updateCells",  # archive: a's row (same header, so no header write)
        "insertDimension",  # main: the new `state` column after `name`
        "deleteDimension",  # main: a's row, once archived
        "updateCells",  # c's key and notes on its new main row
        "deleteDimension",  # archive: c's row, once restored
    ]
    archived, inserted, deleted, restored, unarchived = requests
    assert archived["updateCells"]["start"] == {"sheetId": 7, "rowIndex": 2, "columnIndex": 0}
    assert inserted["insertDimension"]["range"]["startIndex"] == 2
    assert deleted["deleteDimension"]["range"] == {
        "sheetId": 0,
        "dimension": "ROWS",
        "startIndex": 1,
        "endIndex": 2,
    }
    values = restored["updateCells"]["rows"][0]["values"]
    assert restored["updateCells"]["start"]["rowIndex"] == 2
    assert values[0] == {"userEnteredValue": {"stringValue": "c"}}
    assert values[-1] == {"userEnteredValue": {"stringValue": "back soon"}}
    assert unarchived["deleteDimension"]["range"]["sheetId"] == 7


def test_a_missing_archive_is_created_with_room_for_its_rows() -> None:
    plan = plan_merge(
        columns=["lead_key"],
        rows=[],
        main=[["lead_key"], ["a"], ["b"]],
        archive=[],
        archived_at="t",
    )
    requests = structure_requests(
        plan,
        main=Tab(0, "Leads", 3, 1),
        main_exists=True,
        archive=ARCHIVE,
        archive_exists=False,
        archive_rows_before=0,
        main_rows_before=3,
    )
    assert _kinds(requests) == [
        "addSheet",  # the archive, frozen header
        "updateCells",  # its header
        "updateCells",  # a's and b's rows
        "appendDimension",  # main: deleting both data rows would leave no unfrozen row
        "deleteDimension",  # main: a and b, in one range
    ]
    grid = requests[0]["addSheet"]["properties"]["gridProperties"]
    assert grid["rowCount"] >= 3 and grid["columnCount"] == 2 and grid["frozenRowCount"] == 1
    assert requests[-1]["deleteDimension"]["range"]["endIndex"] == 3


def test_big_ranges_split_by_rows_and_pack_under_the_limit() -> None:
    rows = [[f"lead-{i}", "x" * 40, i] for i in range(2000)]
    big = {"range": a1("Leads", 0, 0, 1999, 2), "majorDimension": "ROWS", "values": rows}
    pieces = split_range(big, "Leads", 20_000)
    assert len(pieces) > 1
    assert [r for p in pieces for r in p["values"]] == rows
    assert pieces[1]["range"].startswith(f"{quote_title('Leads')}!A")
    batches = pack(pieces, 20_000)
    for batch in batches:
        body = {"valueInputOption": "RAW", "data": batch, "includeValuesInResponse": False}
        assert len(json.dumps(body).encode()) <= 20_000


def test_titles_are_quoted_for_ranges() -> None:
    assert quote_title("Bob's leads") == "'Bob''s leads'"
    assert a1("Bob's leads", 0, 0, 9, 27) == "'Bob''s leads'!A1:AB10"
