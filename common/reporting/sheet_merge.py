"""How a run's rows merge into a worksheet that people also edit: the pure part, on lists.

The run owns its columns (the analysis CSV's); every other column of the
worksheet belongs to the team (notes, owner, status…). Rows are keyed by
``lead_key``. `plan_merge` reads both tabs' current values and returns the
changes that keep every hand-added cell on its lead's row:

- a lead still in the run keeps its row where it is (people may have sorted
  the sheet); only its owned cells are rewritten, its hand cells are never
  written at all (formulas, formats and dropdowns stay as they are);
- a new lead is appended at the bottom;
- a lead no longer in the run has its whole row (hand cells included) copied,
  by column name, to the archive tab with an ``archived_at`` time, then its
  row is deleted from the main tab;
- a lead that comes back from the archive gets its hand cells back, and its
  archive row is removed;
- a column the run adds is inserted right after the last owned column (hand
  columns shift right with their contents); a column the run no longer has
  is left alone, like a hand column;
- rows without a key (a person's totals row, blank rows) are left untouched.

The main tab must hold a ``lead_key`` column once it has any content; a tab
without one is refused (it was not written by this pipeline), never
overwritten. `SheetPlan` carries both the intended final tabs (what tests
compare) and the operations that reach them (what the Sheets writer sends).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from common.errors import TerminalError

Cell = str | int | float | bool
KEY = "lead_key"
ARCHIVED_AT = "archived_at"


class SheetLayoutError(TerminalError):
    """The worksheet's layout cannot be merged safely (no key column, …)."""


def column_letter(index: int) -> str:
    """``0`` → ``A``, ``25`` → ``Z``, ``26`` → ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text(cell: Cell | None) -> str:
    return "" if cell is None else str(cell).strip()


def _pad(row: Sequence[Cell], width: int) -> list[Cell]:
    return list(row) + [""] * (width - len(row))


def _has_content(grid: Sequence[Sequence[Cell]]) -> bool:
    return any(_text(c) for row in grid for c in row)


@dataclass(frozen=True)
class ArchiveWrite:
    """One archive row to write (a new row, or a re-archived lead's existing row)."""

    row: int
    """0-based grid row in the archive tab (before restored rows are deleted)."""
    values: list[Cell]
    """The whole row, in the archive header's order."""


@dataclass(frozen=True)
class RestoredRow:
    """A lead back from the archive: its key and hand cells on its new main-tab row."""

    row: int
    """0-based grid row in the main tab's final layout."""
    cells: dict[int, Cell]
    """0-based column → value."""


@dataclass(frozen=True)
class SheetPlan:
    """The merge of one run into the main tab and its archive."""

    header: list[str]
    """The main tab's final header."""
    rows: list[list[Cell]]
    """The main tab's final data rows, full width (hand cells as read)."""
    owned: dict[str, int]
    """Run column → 0-based position in the final header."""
    keyed: list[bool]
    """Per final data row: whether its owned cells are written (False: a row without key)."""
    fresh: bool
    """The main tab had no content: the header is written from scratch."""
    inserted: tuple[int, int] | None
    """``(index, count)`` of columns inserted in the main tab for new run columns."""
    extra_columns: list[str]
    """Hand columns added at the end of the main tab to take back archived cells."""
    deleted_rows: list[int]
    """0-based grid rows of the main tab to delete (ascending, current positions)."""
    restored: list[RestoredRow]
    archive_header: list[str]
    archive_header_changed: bool
    archive_writes: list[ArchiveWrite]
    archive_deleted_rows: list[int]
    """0-based grid rows of the archive to delete (restored leads), ascending."""
    archive_rows: list[list[Cell]]
    """The archive's final data rows (after writes and deletions)."""
    added: int = 0
    updated: int = 0
    archived: int = 0
    unkeyed: int = 0
    hand_columns: list[str] = field(default_factory=list)

    @property
    def main_values(self) -> list[list[Cell]]:
        """The main tab as it should read after the merge (header first)."""
        return [list(self.header), *self.rows]

    @property
    def archive_values(self) -> list[list[Cell]]:
        """The archive tab as it should read after the merge (empty: no archive)."""
        return [list(self.archive_header), *self.archive_rows] if self.archive_header else []

    @property
    def structural(self) -> bool:
        """Whether the sheet's structure or the archive changes (else only values are written)."""
        return bool(
            self.inserted
            or self.extra_columns
            or self.deleted_rows
            or self.restored
            or self.archive_header_changed
            or self.archive_writes
            or self.archive_deleted_rows
        )


def _slot_names(header: Sequence[str]) -> list[str]:
    """Unique names for every column (unnamed ones by letter) to carry cells by name."""
    names: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(header):
        label = name or f"column {column_letter(i)}"
        if label in seen:
            label = f"{label} ({column_letter(i)})"
        seen.add(label)
        names.append(label)
    return names


def plan_merge(
    *,
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    main: Sequence[Sequence[Cell]],
    archive: Sequence[Sequence[Cell]],
    archived_at: str,
    key: str = KEY,
) -> SheetPlan:
    """Plan the merge of a run's rows into a worksheet and its archive.

    Args:
        columns: The run's columns (owned), ``key`` among them.
        rows: The run's rows, aligned with ``columns``; one per lead.
        main: The main tab's current values (header first; ragged rows are fine).
        archive: The archive tab's current values (empty when it does not exist).
        archived_at: The time written on newly archived rows.
        key: The column that identifies a lead.

    Returns:
        The plan: the intended final tabs and the operations to get there.

    Raises:
        SheetLayoutError: the run has no key column, or a tab has content but no key column.
    """
    columns = list(columns)
    if key not in columns:
        raise SheetLayoutError(
            f"the sheet is keyed by `{key}`, which the report's columns lack",
            where="gsheets",
            expected=f"`{key}` in output_columns",
        )
    owned_set = set(columns)
    key_at = columns.index(key)
    run_rows: dict[str, dict[str, Cell]] = {}
    for row in rows:
        lead = _text(row[key_at])
        if lead and lead not in run_rows:
            run_rows[lead] = dict(zip(columns, row, strict=True))

    # --- the main tab as it is ---------------------------------------------------------
    width = max((len(r) for r in main), default=0)
    fresh = not _has_content(main)
    header = [] if fresh else [_text(c) for c in _pad(main[0], width)]
    body = [] if fresh else [_pad(r, width) for r in main[1:]]
    position: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in owned_set and name not in position:
            position[name] = i
    if not fresh and key not in position:
        raise SheetLayoutError(
            f"the worksheet has content but no `{key}` column in its first row; "
            "refusing to overwrite a tab this pipeline did not write",
            where="gsheets",
            expected=f"`{key}` in row 1, or an empty worksheet",
            found=header[:8],
        )
    names_before = _slot_names(header)
    missing = [c for c in columns if c not in position]
    if fresh:
        final_header = list(columns)
        owned = {c: i for i, c in enumerate(columns)}
        inserted = None

        def remap(cells: list[Cell]) -> list[Cell]:
            return list(cells)
    else:
        at = max(position.values()) + 1
        final_header = header[:at] + missing + header[at:]
        owned = {c: (p if p < at else p + len(missing)) for c, p in position.items()}
        owned.update({c: at + i for i, c in enumerate(missing)})
        inserted = (at, len(missing)) if missing else None

        def remap(cells: list[Cell]) -> list[Cell]:
            return cells[:at] + [""] * len(missing) + cells[at:]

    hand_columns = [n for i, n in enumerate(final_header) if n and i not in set(owned.values())]

    # --- sort the main tab's rows: kept, vanished, untouched ---------------------------
    kept: list[tuple[list[Cell], str | None]] = []
    vanished: list[tuple[int, str, dict[str, Cell]]] = []
    in_main: set[str] = set()
    key_old = position.get(key, 0)
    for grid_row, cells in enumerate(body, start=1):
        lead = _text(cells[key_old])
        if lead and lead in run_rows:
            kept.append((remap(cells), lead))
            in_main.add(lead)
        elif lead:
            record = {names_before[i]: c for i, c in enumerate(cells) if _text(c)}
            vanished.append((grid_row, lead, record))
        else:
            kept.append((remap(cells), None))

    # --- the archive as it is --------------------------------------------------------
    a_width = max((len(r) for r in archive), default=0)
    a_fresh = not _has_content(archive)
    a_header = [] if a_fresh else [_text(c) for c in _pad(archive[0], a_width)]
    a_body = [] if a_fresh else [_pad(r, a_width) for r in archive[1:]]
    if not a_fresh and key not in a_header:
        raise SheetLayoutError(
            f"the archive tab has content but no `{key}` column in its first row",
            where="gsheets archive",
            expected=f"`{key}` in row 1, or an empty archive tab",
            found=a_header[:8],
        )
    a_key = a_header.index(key) if key in a_header else 0
    archived_rows: dict[str, list[int]] = {}
    for grid_row, cells in enumerate(a_body, start=1):
        lead = _text(cells[a_key])
        if lead:
            archived_rows.setdefault(lead, []).append(grid_row)

    # --- leads back from the archive take their hand cells with them ------------------
    appended = [lead for lead in run_rows if lead not in in_main]
    restored_from: dict[str, dict[str, Cell]] = {}
    extra_columns: list[str] = []
    for lead in appended:
        if lead in archived_rows:
            cells = a_body[archived_rows[lead][0] - 1]
            hand = {
                a_header[i]: c
                for i, c in enumerate(cells)
                if a_header[i] not in owned_set and a_header[i] != ARCHIVED_AT and _text(c)
            }
            restored_from[lead] = hand
            for name in hand:
                if name not in hand_columns and name not in extra_columns:
                    extra_columns.append(name)
    final_header += extra_columns
    owned_at = set(owned.values())
    hand_at: dict[str, int] = {}
    for i, name in enumerate(final_header):
        if name and i not in owned_at:
            hand_at.setdefault(name, i)
    full = len(final_header)

    def owned_row(cells: list[Cell], lead: str) -> list[Cell]:
        out = _pad(cells, full)
        for name, value in run_rows[lead].items():
            out[owned[name]] = value
        return out

    final_rows: list[list[Cell]] = []
    keyed: list[bool] = []
    for cells, kept_lead in kept:
        final_rows.append(owned_row(cells, kept_lead) if kept_lead else _pad(cells, full))
        keyed.append(kept_lead is not None)
    restored: list[RestoredRow] = []
    for lead in appended:
        cells = owned_row([], lead)
        if lead in restored_from:
            placed = {hand_at[n]: v for n, v in restored_from[lead].items()}
            for i, v in placed.items():
                cells[i] = v
            placed[owned[key]] = run_rows[lead][key]
            restored.append(RestoredRow(1 + len(final_rows), dict(sorted(placed.items()))))
        final_rows.append(cells)
        keyed.append(True)

    # --- the archive's changes ------------------------------------------------------
    new_a_header = list(a_header)
    if vanished:
        # Every named column travels; an unnamed one only when an archived row has a value there.
        for name in [key, *names_before, ARCHIVED_AT]:
            wanted = name in (key, ARCHIVED_AT) or name in header
            wanted = wanted or any(name in rec for _, _, rec in vanished)
            if wanted and name not in new_a_header:
                new_a_header.append(name)
    a_full = len(new_a_header)
    a_rows = [_pad(r, a_full) for r in a_body]
    writes: list[ArchiveWrite] = []
    next_row = 1 + len(a_rows)
    for _, lead, record in vanished:
        values: list[Cell] = [record.get(n, "") for n in new_a_header]
        values[new_a_header.index(ARCHIVED_AT)] = archived_at
        if lead in archived_rows:
            target = archived_rows[lead][0]
            a_rows[target - 1] = values
        else:
            target = next_row
            next_row += 1
            archived_rows[lead] = [target]
            a_rows.append(values)
        writes.append(ArchiveWrite(target, values))
    a_deleted = sorted(r for lead in restored_from for r in archived_rows[lead])
    gone = set(a_deleted)
    a_rows = [r for i, r in enumerate(a_rows, start=1) if i not in gone]

    return SheetPlan(
        header=final_header,
        rows=final_rows,
        owned=owned,
        keyed=keyed,
        fresh=fresh,
        inserted=inserted,
        extra_columns=extra_columns,
        deleted_rows=[r for r, _, _ in vanished],
        restored=restored,
        archive_header=new_a_header,
        archive_header_changed=new_a_header != a_header,
        archive_writes=writes,
        archive_deleted_rows=a_deleted,
        archive_rows=a_rows,
        added=len(appended),
        updated=sum(1 for _, lead in kept if lead),
        archived=len(vanished),
        unkeyed=sum(1 for _, lead in kept if lead is None),
        hand_columns=[n for n in final_header if n in hand_at],
    )
