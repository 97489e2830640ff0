"""Keep the recipe's Google Sheet up to date, without touching what the team typed into it.

gspread's HTTP client talks to the Sheets API v4 with service-account
credentials (``LR_GSHEETS_CREDENTIALS_JSON``, ``LR_GSHEETS_CREDENTIALS_FILE``,
else application default credentials). One run reads the sheet once and
writes it in as few requests as the payload allows; the merge rules are in
`common.reporting.sheet_merge`.

Requests per run (retries aside), whatever the number of rows:

1. ``GET spreadsheets/{id}`` (metadata: tabs, grid sizes);
2. ``GET values:batchGet`` (the main tab and its archive, one request);
3. ``POST spreadsheets/{id}:batchUpdate`` with every structural change, in
   a data-safe order (archive rows written before main rows are deleted;
   restored notes written before their archive rows go), only when
   something changes structurally or a grid must grow;
4. ``POST values:batchUpdate`` with the run's own columns (``RAW`` input:
   a lead text such as ``=IMPORTXML(…)`` stays text, never a formula).

Steps 3 and 4 are one request each while their JSON fits in
``LR_GSHEETS_MAX_REQUEST_BYTES`` (2 MB by default; the demo's 2,280 leads ×
33 columns write about 1 MB), else ⌈bytes / limit⌉ requests each. Plus one
OAuth token request. Each request is retried up to ``LR_GSHEETS_MAX_RETRIES``
times on 429, 408 and 5xx and on connection errors, with exponential
backoff and full jitter, honouring ``Retry-After``.

Edits people make during the second between the read and the write may be
misplaced: schedule runs when the sheet is quiet, one recipe per worksheet.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from common.errors import ConfigError, LeadRecoveryError
from common.recipe.model import GSheets
from common.reporting._base import ReportContext
from common.reporting.sheet_merge import (
    Cell,
    SheetPlan,
    column_letter,
    plan_merge,
)
from common.settings import Settings

if TYPE_CHECKING:
    from gspread.http_client import HTTPClient

log = logging.getLogger(__name__)

SHEETS_API = "https://sheets.googleapis.com/v4/spreadsheets"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
"""Sheets only: the pipeline never lists or creates Drive files."""
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 64.0
ARCHIVE_SUFFIX = " archive"
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"
INSTALL_HINT = "pip install 'gspread>=6.1,<7' (a dependency of lead-recovery)"


def archive_title(title: str) -> str:
    """The archive tab of a worksheet: ``<title> archive``."""
    return f"{title}{ARCHIVE_SUFFIX}"


def quote_title(title: str) -> str:
    """A tab name as an A1 range prefix (``'Leads'``, quotes doubled)."""
    return "'" + title.replace("'", "''") + "'"


def a1(title: str, row: int, col: int, last_row: int, last_col: int) -> str:
    """``'Tab'!B2:D9`` from 0-based inclusive bounds."""
    return f"{quote_title(title)}!{column_letter(col)}{row + 1}:{column_letter(last_col)}{last_row + 1}"


# --- retries and request counting ---------------------------------------------------------


@dataclass
class RequestStats:
    """What one run asked of the Sheets API."""

    requests: int = 0
    """HTTP requests sent, retries included."""
    retries: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    """Logical requests by kind (``metadata``, ``read``, ``structure``, ``values``)."""

    def count(self, kind: str) -> None:
        """Count one logical request."""
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, capped; ``Retry-After`` wins when longer."""

    max_retries: int
    backoff_s: float
    max_backoff_s: float = MAX_BACKOFF_SECONDS
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def wait(self, retry: int, retry_after: str | None) -> None:
        """Sleep before retry number ``retry`` (0-based)."""
        delay = self.rng.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**retry))
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), self.max_backoff_s))
        self.sleep(delay)


def _retrying_client(
    credentials: Any, *, api_base: str | None, policy: RetryPolicy, stats: RequestStats
) -> HTTPClient:
    """gspread's HTTP client, pointed at ``api_base`` and retrying quota/server errors."""
    try:
        import requests
        from gspread.exceptions import APIError
        from gspread.http_client import HTTPClient
    except ImportError as err:  # pragma: no cover - gspread is a dependency
        raise ConfigError(
            "gspread is not installed", where="gsheets", expected=INSTALL_HINT
        ) from err

    base = api_base.rstrip("/") if api_base else None

    class RetryingHTTPClient(HTTPClient):
        def request(
            self, method: str, endpoint: str, *args: Any, **kwargs: Any
        ) -> requests.Response:
            if base and endpoint.startswith(SHEETS_API):
                endpoint = base + endpoint[len(SHEETS_API) :]
            retry = 0
            while True:
                stats.requests += 1
                retry_after = None
                try:
                    return super().request(method, endpoint, *args, **kwargs)
                except APIError as err:
                    if err.code not in RETRY_STATUSES or retry >= policy.max_retries:
                        raise
                    retry_after = err.response.headers.get("Retry-After")
                except (requests.ConnectionError, requests.Timeout):
                    if retry >= policy.max_retries:
                        raise
                stats.retries += 1
                policy.wait(retry, retry_after)
                retry += 1

    return RetryingHTTPClient(credentials)


def load_credentials(settings: Settings) -> tuple[Any, str | None]:
    """Credentials with the Sheets scope, and the service account's e-mail when known.

    Raises:
        ConfigError: naming every source tried when none gives usable credentials.
    """
    from google.oauth2 import service_account

    info: dict[str, Any]
    if settings.gsheets_credentials_json is not None:
        source = "LR_GSHEETS_CREDENTIALS_JSON"
        try:
            info = json.loads(settings.gsheets_credentials_json.get_secret_value())
        except ValueError as err:
            raise ConfigError(f"{source} is not JSON", where="gsheets") from err
    elif settings.gsheets_credentials_file is not None:
        source = str(settings.gsheets_credentials_file)
        try:
            info = json.loads(settings.gsheets_credentials_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"cannot read the service-account key: {err}",
                where="LR_GSHEETS_CREDENTIALS_FILE",
                found=source,
            ) from err
    else:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _ = google.auth.default(scopes=list(SCOPES))
        except DefaultCredentialsError as err:
            raise ConfigError(
                "no credentials for the Google Sheet",
                where="gsheets",
                expected="LR_GSHEETS_CREDENTIALS_JSON, LR_GSHEETS_CREDENTIALS_FILE or "
                "application default credentials",
            ) from err
        return credentials, getattr(credentials, "service_account_email", None)
    try:
        credentials = service_account.Credentials.from_service_account_info(
            info, scopes=list(SCOPES)
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"not a service-account key: {err}",
            where=source,
            expected="the JSON key file of a service account (type service_account)",
        ) from err
    return credentials, info.get("client_email")


# --- from the run's frame to cells ----------------------------------------------------------


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


def _split_update_cells(request: dict[str, Any], limit: int) -> list[dict[str, Any]]:
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


# --- one run's update -------------------------------------------------------------------


@dataclass(frozen=True)
class SheetUpdate:
    """What one run did to the sheet."""

    plan: SheetPlan
    url: str
    worksheet: str
    structure_requests: int
    value_requests: int


def update_sheet(
    http: HTTPClient,
    *,
    spreadsheet_id: str,
    worksheet: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    archived_at: str,
    max_request_bytes: int,
    stats: RequestStats,
) -> SheetUpdate:
    """Read the sheet once, merge the run into it, write it back in bounded requests.

    Raises:
        gspread.exceptions.APIError: the API refused a request (after retries).
        SheetLayoutError: a tab cannot be merged safely.
    """
    stats.count("metadata")
    meta = http.fetch_sheet_metadata(spreadsheet_id)
    tabs = sorted(meta.get("sheets", []), key=lambda s: s["properties"].get("index", 0))
    by_title = {t["properties"]["title"]: t["properties"] for t in tabs}
    title = worksheet or (tabs[0]["properties"]["title"] if tabs else "Leads")
    next_id = max((int(p["sheetId"]) for p in by_title.values()), default=0) + 1

    def tab(name: str) -> tuple[Tab, bool]:
        nonlocal next_id
        props = by_title.get(name)
        if props is None:
            next_id += 1
            return Tab(next_id - 1, name, 0, 0), False
        grid = props.get("gridProperties", {})
        return Tab(
            int(props["sheetId"]), name, grid.get("rowCount", 0), grid.get("columnCount", 0)
        ), True

    main, main_exists = tab(title)
    archive, archive_exists = tab(archive_title(title))
    ranges = [
        quote_title(t.title) for t, ok in ((main, main_exists), (archive, archive_exists)) if ok
    ]
    current: dict[str, list[list[Cell]]] = {}
    if ranges:
        stats.count("read")
        read = http.values_batch_get(
            spreadsheet_id,
            ranges,
            params={"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"},
        )
        for title_range, value_range in zip(ranges, read.get("valueRanges", []), strict=False):
            current[title_range] = value_range.get("values", [])
    main_values = current.get(quote_title(main.title), [])
    archive_values = current.get(quote_title(archive.title), [])
    plan = plan_merge(
        columns=columns,
        rows=rows,
        main=main_values,
        archive=archive_values,
        archived_at=archived_at,
    )
    structure = structure_requests(
        plan,
        main=main,
        main_exists=main_exists,
        archive=archive,
        archive_exists=archive_exists,
        archive_rows_before=len(archive_values),
        main_rows_before=len(main_values),
    )
    pieces = [p for r in structure for p in _split_update_cells(r, max_request_bytes)]
    structure_batches = pack(pieces, max_request_bytes) if pieces else []
    for batch in structure_batches:
        stats.count("structure")
        http.batch_update(spreadsheet_id, {"requests": batch})
    data = [
        piece
        for value_range in value_ranges(plan, main.title)
        for piece in split_range(value_range, main.title, max_request_bytes)
    ]
    value_batches = pack(data, max_request_bytes)
    for batch in value_batches:
        stats.count("values")
        http.values_batch_update(
            spreadsheet_id,
            body={"valueInputOption": "RAW", "data": batch, "includeValuesInResponse": False},
        )
    url = (
        meta.get("spreadsheetUrl")
        or f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit"
    )
    return SheetUpdate(
        plan=plan,
        url=f"{url.split('#')[0]}#gid={main.sheet_id}",
        worksheet=main.title,
        structure_requests=len(structure_batches),
        value_requests=len(value_batches),
    )


def describe_failure(err: Exception, email: str | None) -> str:
    """One line for the run document: what failed and what to do."""
    code = getattr(err, "code", None)
    if code == 403:
        who = f"`{email}`" if email else "the function's service account"
        return f"Sheets API 403: no access; share the sheet with {who} as Editor ({err})"
    if code == 404:
        return f"Sheets API 404: no spreadsheet with this sheet_id ({err})"
    if code == 429:
        return f"Sheets API 429: quota exceeded, retries exhausted ({err})"
    if code is not None:
        return f"Sheets API {code}: {err}"
    return f"{type(err).__name__}: {err}"


class GSheetsSink:
    """Merges the run into the recipe's Google Sheet (``gsheets`` in meta.yml)."""

    name = "gsheets"

    def __init__(self, spec: GSheets, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.spec = spec
        self.sleep = sleep

    def publish(self, context: ReportContext) -> dict[str, Any]:
        """Update the sheet; a failure is returned as a record, never raised."""
        import requests
        from google.auth.exceptions import GoogleAuthError

        try:
            from gspread.exceptions import GSpreadException
        except ImportError:  # pragma: no cover - gspread is a dependency
            return {"status": "failed", "error": f"gspread is not installed: {INSTALL_HINT}"}

        settings = context.settings
        stats = RequestStats()
        started = time.monotonic()
        email: str | None = None
        policy = RetryPolicy(
            settings.gsheets_max_retries, settings.gsheets_backoff_seconds, sleep=self.sleep
        )
        try:
            credentials, email = load_credentials(settings)
            http = _retrying_client(
                credentials, api_base=settings.gsheets_api_base, policy=policy, stats=stats
            )
            http.set_timeout(settings.gsheets_timeout_seconds)
            result = update_sheet(
                http,
                spreadsheet_id=self.spec.sheet_id,
                worksheet=self.spec.worksheet,
                columns=context.analysis.columns,
                rows=sheet_rows(context.analysis),
                archived_at=context.now.isoformat(timespec="seconds"),
                max_request_bytes=settings.gsheets_max_request_bytes,
                stats=stats,
            )
        except (
            GSpreadException,
            LeadRecoveryError,
            GoogleAuthError,
            requests.RequestException,
        ) as err:
            return {
                "status": "failed",
                "error": describe_failure(err, email),
                "requests": stats.requests,
                "retries": stats.retries,
                "seconds": round(time.monotonic() - started, 3),
            }
        plan = result.plan
        context.outputs["sheet"] = result.url
        return {
            "status": "ok",
            "url": result.url,
            "worksheet": result.worksheet,
            "rows": len(plan.rows),
            "added": plan.added,
            "updated": plan.updated,
            "archived": plan.archived,
            "restored": len(plan.restored),
            "untouched_rows": plan.unkeyed,
            "hand_columns": plan.hand_columns,
            "requests": stats.requests,
            "retries": stats.retries,
            "requests_by_kind": stats.by_kind,
            "seconds": round(time.monotonic() - started, 3),
        }
