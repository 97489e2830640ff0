"""Keep the recipe's Google Sheet up to date, without touching what the team typed into it.

gspread's HTTP client talks to the Sheets API v4 with service-account
credentials (``LR_GSHEETS_CREDENTIALS_JSON``, ``LR_GSHEETS_CREDENTIALS_FILE``,
else application default credentials). One run reads the sheet once and
writes it in as few requests as the payload allows; the merge rules are in
`common.reporting.sheet_merge`, the requests they become in
`common.reporting.sheet_requests`, the HTTP client and its retries in
`common.reporting.sheets_client`; this module runs one update and is the sink.

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
times on 429, 408 and 5xx and on connection errors, under the project's
retry policy (`common.retry.Backoff`: exponential backoff, full jitter,
``Retry-After`` honoured).

Edits people make during the second between the read and the write may be
misplaced: schedule runs when the sheet is quiet, one recipe per worksheet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.errors import LeadRecoveryError
from common.recipe.model import GSheets
from common.reporting._base import ReportContext
from common.reporting.sheet_merge import Cell, SheetPlan, plan_merge
from common.reporting.sheet_requests import (
    Tab,
    archive_title,
    pack,
    quote_title,
    sheet_rows,
    split_range,
    split_update_cells,
    structure_requests,
    value_ranges,
)
from common.reporting.sheets_client import (
    INSTALL_HINT,
    RequestStats,
    describe_failure,
    load_credentials,
    retrying_client,
    sheets_backoff,
)

if TYPE_CHECKING:
    from gspread.http_client import HTTPClient


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
    pieces = [p for r in structure for p in split_update_cells(r, max_request_bytes)]
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
        policy = sheets_backoff(settings.gsheets_max_retries, settings.gsheets_backoff_seconds)
        try:
            credentials, email = load_credentials(settings)
            http = retrying_client(
                credentials,
                api_base=settings.gsheets_api_base,
                policy=policy,
                stats=stats,
                sleep=self.sleep,
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
