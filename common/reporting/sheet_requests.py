"""From the run's frame and a merge plan to Sheets API requests: cells, ranges, batches.

`structure_requests` orders a plan's structural changes so no data is ever
lost midway (archive rows are written before main rows are deleted; restored
notes before their archive rows go; grids grow before rows are deleted).
`value_ranges` writes only the run's own cells of keyed rows. `pack` and the
``split_*`` helpers keep every request's JSON under the configured size.
Nothing here talks to the network (`common.reporting.sheets_client` does).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from common.reporting.sheet_merge import Cell, SheetPlan, column_letter

ARCHIVE_SUFFIX = " archive"
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"


def archive_title(title: str) -> str:
    """The archive tab of a worksheet: ``<title> archive``."""
    return f"{title}{ARCHIVE_SUFFIX}"


def quote_title(title: str) -> str:
    """A tab name as an A1 range prefix (``'Leads'``, quotes doubled)."""
    return "'" + title.replace("'", "''") + "'"


def a1(title: str, row: int, col: int, last_row: int, last_col: int) -> str:
    """``'Tab'!B2:D9`` from 0-based inclusive bounds."""
    return f"{quote_title(title)}!{column_letter(col)}{row + 1}:{column_letter(last_col)}{last_row + 1}"


def sheet_rows(frame: pl.DataFrame) -> list[list[Cell]]:
    """The frame's rows as Sheets values: numbers and booleans typed, times as ISO text."""
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            fmt = DATETIME_FORMAT + ("%:z" if dtype.time_zone else "")
            exprs.append(col.dt.to_string(fmt))
        elif isinstance(dtype, pl.Decimal):
            exprs.append(col.cast(pl.Float64))
        elif isinstance(dtype, pl.List | pl.Array):
            exprs.append(col.cast(pl.List(pl.String)).list.join(", "))
        elif dtype.is_temporal() or isinstance(dtype, pl.Struct | pl.Object | pl.Binary):
            exprs.append(col.cast(pl.String, strict=False))
        else:
            exprs.append(col)
    out: list[list[Cell]] = []
    for row in frame.select(exprs).iter_rows():
        cells: list[Cell] = []
        for value in row:
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                cells.append("")
            elif isinstance(value, bool | int | float | str):
                cells.append(value)
            else:
                cells.append(str(value))
        out.append(cells)
    return out


def _cell_data(value: Cell) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, int | float):
        return {"userEnteredValue": {"numberValue": value}}
    if value == "":
        return {}  # with fields=userEnteredValue: clears the cell
    return {"userEnteredValue": {"stringValue": str(value)}}


def _update_cells(sheet_id: int, row: int, col: int, rows: Sequence[Sequence[Cell]]) -> dict:
    return {
        "updateCells": {
            "start": {"sheetId": sheet_id, "rowIndex": row, "columnIndex": col},
            "rows": [{"values": [_cell_data(c) for c in r]} for r in rows],
            "fields": "userEnteredValue",
        }
    }


def _runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous ``[start, end)`` runs of sorted indices."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indices):
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _dimension(kind: str, sheet_id: int, dimension: str, start: int, end: int) -> dict:
    return {
        kind: {
            "range": {
                "sheetId": sheet_id,
                "dimension": dimension,
                "startIndex": start,
                "endIndex": end,
            }
        }
    }


def _append(sheet_id: int, dimension: str, length: int) -> dict:
    return {"appendDimension": {"sheetId": sheet_id, "dimension": dimension, "length": length}}


def _add_sheet(sheet_id: int, title: str, rows: int, cols: int) -> dict:
    return {
        "addSheet": {
            "properties": {
                "sheetId": sheet_id,
                "title": title,
                "gridProperties": {"rowCount": rows, "columnCount": cols, "frozenRowCount": 1},
            }
        }
    }


@dataclass(frozen=True)
class Tab:
    """A worksheet as the metadata describes it."""

    sheet_id: int
    title: str
    rows: int
    cols: int


def _rows_needed(content_before: int, content_after: int, deleted: int) -> int:
    """Grid rows needed before deleting ``deleted`` rows, so the tab always keeps a free row.

    The Sheets API refuses to delete every non-frozen row, so one spare row stays.
    """
    return max(content_before, content_after + deleted, 2 + deleted)


def structure_requests(
    plan: SheetPlan,
    *,
    main: Tab,
    main_exists: bool,
    archive: Tab,
    archive_exists: bool,
    archive_rows_before: int,
    main_rows_before: int,
) -> list[dict[str, Any]]:
    """The ``spreadsheets.batchUpdate`` requests of a plan, in their data-safe order.

    Archive rows are written before main rows are deleted; restored notes are written
    before their archive rows are deleted; grids grow before rows are deleted.
    """
    requests: list[dict[str, Any]] = []
    # 1. The archive: create or grow, header, archived rows.
    if plan.archive_writes or plan.archive_header_changed or plan.archive_deleted_rows:
        content_before = max([archive_rows_before, 1] + [w.row + 1 for w in plan.archive_writes])
        rows = _rows_needed(
            content_before, 1 + len(plan.archive_rows), len(plan.archive_deleted_rows)
        )
        cols = len(plan.archive_header)
        if not archive_exists:
            requests.append(_add_sheet(archive.sheet_id, archive.title, rows, cols))
        else:
            if archive.rows < rows:
                requests.append(_append(archive.sheet_id, "ROWS", rows - archive.rows))
            if archive.cols < cols:
                requests.append(_append(archive.sheet_id, "COLUMNS", cols - archive.cols))
        if plan.archive_header_changed:
            requests.append(_update_cells(archive.sheet_id, 0, 0, [plan.archive_header]))
        writes = sorted(plan.archive_writes, key=lambda w: w.row)
        for start, end in _runs(w.row for w in writes):
            block = [w.values for w in writes if start <= w.row < end]
            requests.append(_update_cells(archive.sheet_id, start, 0, block))
    # 2. The main tab: create, insert new run columns, grow, delete vanished rows.
    deleted = len(plan.deleted_rows)
    rows = _rows_needed(max(main_rows_before, 1), 1 + len(plan.rows), deleted)
    cols = len(plan.header)
    if not main_exists:
        requests.append(_add_sheet(main.sheet_id, main.title, rows, cols))
    else:
        grid_cols = main.cols
        if plan.inserted:
            at, count = plan.inserted
            request = _dimension("insertDimension", main.sheet_id, "COLUMNS", at, at + count)
            request["insertDimension"]["inheritFromBefore"] = at > 0
            requests.append(request)
            grid_cols += count
        if main.rows < rows:
            requests.append(_append(main.sheet_id, "ROWS", rows - main.rows))
        if grid_cols < cols:
            requests.append(_append(main.sheet_id, "COLUMNS", cols - grid_cols))
        for start, end in reversed(_runs(plan.deleted_rows)):
            requests.append(_dimension("deleteDimension", main.sheet_id, "ROWS", start, end))
    if plan.extra_columns:
        first = len(plan.header) - len(plan.extra_columns)
        requests.append(_update_cells(main.sheet_id, 0, first, [plan.extra_columns]))
    # 3. Restored leads: key and notes on their new rows, then their archive rows go.
    for restored in plan.restored:
        first, last = min(restored.cells), max(restored.cells)
        row = [restored.cells.get(i, "") for i in range(first, last + 1)]
        requests.append(_update_cells(main.sheet_id, restored.row, first, [row]))
    for start, end in reversed(_runs(plan.archive_deleted_rows)):
        requests.append(_dimension("deleteDimension", archive.sheet_id, "ROWS", start, end))
    return requests


def value_ranges(plan: SheetPlan, title: str) -> list[dict[str, Any]]:
    """The run's own cells (header included) as ``values.batchUpdate`` ranges.

    One range per block of adjacent owned columns and run of keyed rows: rows
    without a key and hand columns are never written.
    """
    grid = plan.main_values
    keyed_rows = [0] + [i + 1 for i, k in enumerate(plan.keyed) if k]
    ranges = []
    for c0, c1 in _runs(plan.owned.values()):
        for r0, r1 in _runs(keyed_rows):
            values = [grid[r][c0:c1] for r in range(r0, r1)]
            ranges.append(
                {
                    "range": a1(title, r0, c0, r1 - 1, c1 - 1),
                    "majorDimension": "ROWS",
                    "values": values,
                }
            )
    return ranges


ENVELOPE_BYTES = 512
"""Room left in a request for what wraps the packed items (input option, ranges' JSON)."""


def _size(item: Any) -> int:
    """Bytes of ``item`` as the HTTP client encodes it (``json.dumps`` defaults, like requests)."""
    return len(json.dumps(item).encode("utf-8"))


def split_range(value_range: dict[str, Any], title: str, limit: int) -> list[dict[str, Any]]:
    """Split one value range by rows so each piece's JSON stays under ``limit`` bytes."""
    if _size(value_range) <= limit:
        return [value_range]
    first_cell = value_range["range"].rsplit("!", 1)[1].split(":")[0]
    col0 = _col_index("".join(ch for ch in first_cell if ch.isalpha()))
    row0 = int("".join(ch for ch in first_cell if ch.isdigit())) - 1
    values = value_range["values"]
    width = max((len(r) for r in values), default=1)
    pieces: list[dict[str, Any]] = []
    start, budget = 0, limit - ENVELOPE_BYTES
    chunk: list[Any] = []
    used = 0
    for i, row in enumerate(values):
        size = _size(row) + 2
        if chunk and used + size > budget:
            pieces.append(_piece(title, row0 + start, col0, width, chunk))
            start, chunk, used = i, [], 0
        chunk.append(row)
        used += size
    if chunk:
        pieces.append(_piece(title, row0 + start, col0, width, chunk))
    return pieces


def _piece(title: str, row: int, col: int, width: int, rows: list[Any]) -> dict[str, Any]:
    return {
        "range": a1(title, row, col, row + len(rows) - 1, col + width - 1),
        "majorDimension": "ROWS",
        "values": rows,
    }


def _col_index(letters: str) -> int:
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - 64
    return index - 1


def pack(items: Sequence[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """Greedy, order-keeping batches of items whose request stays under ``limit`` bytes."""
    batches: list[list[dict[str, Any]]] = []
    used = 0
    limit -= ENVELOPE_BYTES
    for item in items:
        size = _size(item) + 2  # the ", " between items
        if not batches or used + size > limit:
            batches.append([])
            used = 0
        batches[-1].append(item)
        used += size
    return batches


def split_update_cells(request: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Split a large ``updateCells`` (many archived rows) by rows."""
    body = request.get("updateCells")
    if body is None or _size(request) <= limit:
        return [request]
    pieces = []
    rows = body["rows"]
    start = body["start"]
    per = max(1, len(rows) * limit // (2 * _size(request)))
    for i in range(0, len(rows), per):
        pieces.append(
            {
                "updateCells": {
                    "start": {**start, "rowIndex": start["rowIndex"] + i},
                    "rows": rows[i : i + per],
                    "fields": body["fields"],
                }
            }
        )
    return pieces
