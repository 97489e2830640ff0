"""A local HTTP server speaking the part of the Google Sheets API v4 that gspread uses.

So tests run the real gspread and google-auth code: a service-account key
(an RSA key generated per session) signs a JWT that the fake's OAuth token
endpoint verifies, and every API call must carry the token it issued.

Served under ``/v4/spreadsheets`` (point ``LR_GSHEETS_API_BASE`` at
`FakeSheets.api_base`):

- ``GET {id}``: metadata (tabs, grid sizes);
- ``GET {id}/values/{range}``, ``PUT`` (update), ``POST …:append``, ``POST …:clear``;
- ``GET {id}/values:batchGet``, ``POST {id}/values:batchUpdate``, ``POST {id}/values:batchClear``;
- ``POST {id}:batchUpdate`` with ``addSheet``, ``deleteSheet``, ``updateSheetProperties``,
  ``insertDimension``, ``deleteDimension``, ``appendDimension``, ``updateCells`` and
  ``repeatCell``, applied atomically as the real API does.

Like the real API it refuses writes past the grid ("exceeds grid limits"),
deleting every non-frozen row, bodies over its size limit, and unknown
requests. Cells keep a format (``userEnteredFormat``) so tests can check that
formats travel with their rows. `FakeSheets.fail_next` makes the next API
calls answer 429 (a quota storm) or any other status. Every call is logged.

Simplifications: formulas are stored, not evaluated (their formatted value is
their text); numbers are formatted with up to 10 significant digits.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PREFIX = "/v4/spreadsheets/"
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
DEFAULT_ROWS, DEFAULT_COLS = 1000, 26


def offline_google_auth(monkeypatch: Any) -> None:
    """Stop google-auth's background lookup at iamcredentials.googleapis.com after each token.

    google-auth >= 2.4x asks Google for the service account's "regional access
    boundary" once it has a token; the fake has no such endpoint and tests
    must not reach the network.
    """
    from google.oauth2 import service_account

    monkeypatch.setattr(
        service_account.Credentials,
        "_is_regional_access_boundary_lookup_required",
        lambda self: False,
        raising=False,
    )


class ApiError(Exception):
    """An error the fake answers with, in Google's JSON error shape."""

    STATUS = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
    }

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """``{"error": {...}}``."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "status": self.STATUS.get(self.code, "UNKNOWN"),
            }
        }


# --- cells and tabs ---------------------------------------------------------------------


def _letters(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


def _col(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _number_text(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


@dataclass
class Tab:
    """One worksheet: a grid of cells (dicts with ``v``, ``f`` formula, ``fmt``)."""

    sheet_id: int
    title: str
    index: int
    rows: int = DEFAULT_ROWS
    cols: int = DEFAULT_COLS
    frozen: int = 0
    data: list[list[dict[str, Any] | None]] = field(default_factory=list)

    def properties(self) -> dict[str, Any]:
        """The tab as metadata."""
        grid: dict[str, Any] = {"rowCount": self.rows, "columnCount": self.cols}
        if self.frozen:
            grid["frozenRowCount"] = self.frozen
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }

    def cell(self, r: int, c: int) -> dict[str, Any] | None:
        """The cell at (row, col), or None."""
        if r < len(self.data) and c < len(self.data[r]):
            return self.data[r][c]
        return None

    def put(self, r: int, c: int, cell: dict[str, Any] | None) -> None:
        """Set a cell (within the grid)."""
        while len(self.data) <= r:
            self.data.append([])
        row = self.data[r]
        while len(row) <= c:
            row.append(None)
        row[c] = cell

    def check(self, r1: int, c1: int) -> None:
        """Refuse to touch cells past the grid, as the API does."""
        if r1 >= self.rows or c1 >= self.cols:
            raise ApiError(
                400,
                f"Range ('{self.title}'!{_letters(c1)}{r1 + 1}) exceeds grid limits. "
                f"Max rows: {self.rows}, max columns: {self.cols}",
            )


def render(cell: dict[str, Any] | None, option: str) -> Any:
    """A cell as ``FORMATTED_VALUE``, ``UNFORMATTED_VALUE`` or ``FORMULA`` renders it."""
    if cell is None:
        return ""
    if "f" in cell:
        return cell["f"]
    value = cell.get("v", "")
    if option == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return _number_text(value)
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def entered(value: Any, option: str) -> dict[str, Any] | None:
    """A written value as a stored cell, under ``RAW`` or ``USER_ENTERED``."""
    if value is None:
        return None
    if option == "RAW" or not isinstance(value, str):
        if value == "":
            return None
        return {"v": value}
    if value == "":
        return None
    if value.startswith("'"):
        return {"v": value[1:]}
    if value.startswith("="):
        return {"f": value}
    if _NUMBER.match(value.strip()):
        number = float(value)
        return {"v": int(number) if number.is_integer() and "." not in value else number}
    if value.upper() in ("TRUE", "FALSE"):
        return {"v": value.upper() == "TRUE"}
    return {"v": value}


@dataclass
class Book:
    """One spreadsheet."""

    spreadsheet_id: str
    title: str
    tabs: list[Tab] = field(default_factory=list)
    shared: bool = True

    def tab(self, title: str | None = None, sheet_id: int | None = None) -> Tab:
        """A tab by title or id."""
        for tab in self.tabs:
            if (title is not None and tab.title == title) or (
                sheet_id is not None and tab.sheet_id == sheet_id
            ):
                return tab
        what = f"title {title!r}" if title is not None else f"sheetId {sheet_id}"
        raise ApiError(400, f"Unable to parse range: no sheet with {what}")

    def metadata(self, base: str) -> dict[str, Any]:
        """The ``spreadsheets.get`` answer."""
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {"title": self.title, "locale": "en_US", "timeZone": "Etc/GMT"},
            "sheets": [
                {"properties": t.properties()} for t in sorted(self.tabs, key=lambda t: t.index)
            ],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }

    # --- A1 ranges -----------------------------------------------------------------

    def parse(self, text: str) -> tuple[Tab, int, int, int | None, int | None]:
        """``'Tab'!A1:C5`` → (tab, r0, c0, r1, c1), inclusive; None: to the grid's end."""
        sheet, _, cells = text.rpartition("!")
        if not sheet:
            name = text[1:-1].replace("''", "'") if text.startswith("'") else text
            if any(t.title == name for t in self.tabs):
                return self.tab(name), 0, 0, None, None
            sheet, cells = "", text
        name = sheet[1:-1].replace("''", "'") if sheet.startswith("'") else sheet
        tab = self.tab(name) if name else sorted(self.tabs, key=lambda t: t.index)[0]
        if not cells:
            return tab, 0, 0, None, None
        start, _, end = cells.partition(":")

        def point(p: str) -> tuple[int | None, int | None]:
            m = re.fullmatch(r"([A-Za-z]*)(\d*)", p)
            if not m:
                raise ApiError(400, f"Unable to parse range: {text}")
            letters, digits = m.groups()
            return (int(digits) - 1 if digits else None, _col(letters) if letters else None)

        r0, c0 = point(start)
        r1, c1 = point(end) if end else (r0, c0)
        return tab, r0 or 0, c0 or 0, r1, c1

    def a1(self, tab: Tab, r0: int, c0: int, r1: int, c1: int) -> str:
        """A normalised A1 range for answers."""
        return f"'{tab.title}'!{_letters(c0)}{r0 + 1}:{_letters(c1)}{r1 + 1}"


# --- the server ------------------------------------------------------------------------


@dataclass
class Call:
    """One logged request."""

    method: str
    kind: str
    status: int
    bytes: int


class FakeSheets:
    """The fake Sheets API + OAuth token endpoint on 127.0.0.1 (a context manager)."""

    def __init__(self, *, max_body_bytes: int = 10_485_760) -> None:
        self.max_body_bytes = max_body_bytes
        self.books: dict[str, Book] = {}
        self.calls: list[Call] = []
        self.tokens: set[str] = set()
        self._failures: list[tuple[int, str | None]] = []
        self._lock = threading.RLock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle and addresses ------------------------------------------------------

    def __enter__(self) -> FakeSheets:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_base(self) -> str:
        """What ``LR_GSHEETS_API_BASE`` should be."""
        return self.base_url + PREFIX.rstrip("/")

    @property
    def client_email(self) -> str:
        """The fake service account's e-mail."""
        return "lead-recovery@fake-project.iam.gserviceaccount.com"

    def service_account_info(self) -> dict[str, Any]:
        """A service-account key whose ``token_uri`` is this server."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": "fake-key-1",
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": self.base_url + "/auth",
            "token_uri": self.base_url + "/token",
        }

    # --- test controls --------------------------------------------------------------

    def create(
        self,
        spreadsheet_id: str,
        *,
        tabs: tuple[str, ...] = ("Sheet1",),
        rows: int = DEFAULT_ROWS,
        cols: int = DEFAULT_COLS,
        shared: bool = True,
    ) -> Book:
        """A new spreadsheet with empty tabs (ids 0, 1, …)."""
        book = Book(spreadsheet_id, f"Book {spreadsheet_id}", shared=shared)
        book.tabs = [Tab(i, t, i, rows, cols) for i, t in enumerate(tabs)]
        with self._lock:
            self.books[spreadsheet_id] = book
        return book

    def values(
        self, spreadsheet_id: str, title: str, option: str = "FORMATTED_VALUE"
    ) -> list[list[Any]]:
        """A tab's values as the API would answer them (trailing blanks trimmed)."""
        with self._lock:
            tab = self.books[spreadsheet_id].tab(title)
            return self._read(tab, 0, 0, tab.rows - 1, tab.cols - 1, option)

    def formats(self, spreadsheet_id: str, title: str) -> dict[tuple[int, int], Any]:
        """(row, col) → ``userEnteredFormat`` of every formatted cell."""
        with self._lock:
            tab = self.books[spreadsheet_id].tab(title)
            return {
                (r, c): cell["fmt"]
                for r, row in enumerate(tab.data)
                for c, cell in enumerate(row)
                if cell and cell.get("fmt")
            }

    def fail_next(self, count: int, status: int = 429, retry_after: str | None = None) -> None:
        """Answer the next ``count`` API calls (not token calls) with ``status``."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def clear_failures(self) -> None:
        """Drop injected failures not yet answered."""
        with self._lock:
            self._failures.clear()

    def raw_cell(
        self, spreadsheet_id: str, title: str, row: int, col: int
    ) -> dict[str, Any] | None:
        """The stored cell (``v`` value, ``f`` formula, ``fmt`` format), 0-based."""
        with self._lock:
            return self.books[spreadsheet_id].tab(title).cell(row, col)

    def count(self, kind: str | None = None, *, status: int | None = None) -> int:
        """Logged calls, optionally of one kind (``token``, ``metadata``, ``values.batchGet``…)."""
        with self._lock:
            return sum(
                1
                for c in self.calls
                if (kind is None or c.kind == kind) and (status is None or c.status == status)
            )

    def api_calls(self) -> list[Call]:
        """Logged calls to the Sheets API (token calls left out)."""
        with self._lock:
            return [c for c in self.calls if c.kind != "token"]

    def reset_log(self) -> None:
        """Forget the logged calls."""
        with self._lock:
            self.calls.clear()

    # --- reading and writing ---------------------------------------------------------

    def _read(self, tab: Tab, r0: int, c0: int, r1: int, c1: int, option: str) -> list[list[Any]]:
        rows = []
        for r in range(r0, min(r1, tab.rows - 1) + 1):
            row = [render(tab.cell(r, c), option) for c in range(c0, min(c1, tab.cols - 1) + 1)]
            while row and row[-1] == "":
                row.pop()
            rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def _write(
        self,
        book: Book,
        range_text: str,
        values: list[list[Any]],
        option: str,
        major: str = "ROWS",
    ) -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "Invalid valueInputOption: expected RAW or USER_ENTERED")
        if major == "COLUMNS":
            width = max((len(c) for c in values), default=0)
            values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
        tab, r0, c0, r1, c1 = book.parse(range_text)
        height = len(values)
        width = max((len(r) for r in values), default=0)
        bounded = ":" in range_text.rpartition("!")[2]  # a single cell only anchors the values
        if height and width:
            if bounded and (
                (r1 is not None and r0 + height - 1 > r1)
                or (c1 is not None and c0 + width - 1 > c1)
            ):
                raise ApiError(
                    400,
                    f"Requested writing within range [{range_text}], but tried writing "
                    f"{height} rows and {width} columns",
                )
            tab.check(r0 + height - 1, c0 + width - 1)
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                if value is None:
                    continue  # null leaves the cell as it is
                old = tab.cell(r0 + i, c0 + j) or {}
                new = entered(value, option) or {}
                if old.get("fmt"):
                    new["fmt"] = old["fmt"]
                tab.put(r0 + i, c0 + j, new or None)
        last_row = r0 + max(height - 1, 0)
        last_col = c0 + max(width - 1, 0)
        return {
            "spreadsheetId": book.spreadsheet_id,
            "updatedRange": book.a1(tab, r0, c0, last_row, last_col),
            "updatedRows": height,
            "updatedColumns": width,
            "updatedCells": sum(len(r) for r in values),
        }

    def _clear(self, book: Book, range_text: str) -> str:
        tab, r0, c0, r1, c1 = book.parse(range_text)
        r1 = tab.rows - 1 if r1 is None else r1
        c1 = tab.cols - 1 if c1 is None else c1
        for r in range(r0, min(r1, len(tab.data) - 1) + 1):
            for c in range(c0, min(c1, len(tab.data[r]) - 1) + 1):
                cell = tab.data[r][c]
                if cell:
                    tab.data[r][c] = {"fmt": cell["fmt"]} if cell.get("fmt") else None
        return book.a1(tab, r0, c0, r1, c1)

    def _append(self, book: Book, range_text: str, values: list[list[Any]], option: str) -> dict:
        tab, _, c0, _, _ = book.parse(range_text)
        last = -1
        for r, row in enumerate(tab.data):
            if any(render(c, "FORMATTED_VALUE") != "" for c in row):
                last = r
        start = last + 1
        need = start + len(values)
        if need > tab.rows:
            grow = need - tab.rows
            tab.rows += grow
        width = max((len(r) for r in values), default=0)
        if c0 + width > tab.cols:
            tab.cols = c0 + width
        updates = self._write(
            book, book.a1(tab, start, c0, need - 1, c0 + max(width, 1) - 1), values, option
        )
        return {"spreadsheetId": book.spreadsheet_id, "updates": updates}

    # --- spreadsheets.batchUpdate ---------------------------------------------------

    def _batch_update(self, book: Book, body: dict[str, Any]) -> dict[str, Any]:
        work = copy.deepcopy(book)  # all or nothing, as the API applies a batch
        replies = []
        for i, request in enumerate(body.get("requests", [])):
            (kind, args), *rest = request.items()
            if rest:
                raise ApiError(400, f"Invalid requests[{i}]: one kind of request per entry")
            handler = getattr(self, f"_req_{kind}", None)
            if handler is None:
                raise ApiError(400, f"Invalid requests[{i}]: the fake does not know `{kind}`")
            try:
                replies.append(handler(work, args) or {})
            except ApiError as err:
                raise ApiError(err.code, f"Invalid requests[{i}].{kind}: {err.message}") from None
        book.tabs = work.tabs
        return {"spreadsheetId": book.spreadsheet_id, "replies": replies}

    def _req_addSheet(self, book: Book, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        props = args.get("properties", {})
        title = props.get("title") or f"Sheet{len(book.tabs) + 1}"
        if any(t.title == title for t in book.tabs):
            raise ApiError(400, f'A sheet with the name "{title}" already exists.')
        ids = {t.sheet_id for t in book.tabs}
        sheet_id = props.get("sheetId", max(ids, default=0) + 1)
        if sheet_id in ids:
            raise ApiError(400, f"A sheet with the id {sheet_id} already exists.")
        grid = props.get("gridProperties", {})
        tab = Tab(
            sheet_id,
            title,
            props.get("index", len(book.tabs)),
            grid.get("rowCount", DEFAULT_ROWS),
            grid.get("columnCount", DEFAULT_COLS),
            grid.get("frozenRowCount", 0),
        )
        book.tabs.append(tab)
        return {"addSheet": {"properties": tab.properties()}}

    def _req_deleteSheet(self, book: Book, args: dict[str, Any]) -> None:  # noqa: N802
        tab = book.tab(sheet_id=args["sheetId"])
        book.tabs.remove(tab)

    def _req_updateSheetProperties(self, book: Book, args: dict[str, Any]) -> None:  # noqa: N802
        props = args["properties"]
        tab = book.tab(sheet_id=props["sheetId"])
        fields = {f.strip() for f in args.get("fields", "").split(",")}
        grid = props.get("gridProperties", {})
        if "title" in fields or "*" in fields:
            tab.title = props.get("title", tab.title)
        for name, attr in (
            ("rowCount", "rows"),
            ("columnCount", "cols"),
            ("frozenRowCount", "frozen"),
        ):
            if f"gridProperties.{name}" in fields or "gridProperties" in fields or "*" in fields:
                if name in grid:
                    setattr(tab, attr, grid[name])
        tab.data = [row[: tab.cols] for row in tab.data[: tab.rows]]

    def _dimension_range(self, book: Book, args: dict[str, Any]) -> tuple[Tab, str, int, int]:
        rng = args["range"]
        tab = book.tab(sheet_id=rng["sheetId"])
        start, end = rng["startIndex"], rng["endIndex"]
        size = tab.rows if rng["dimension"] == "ROWS" else tab.cols
        if not 0 <= start < end <= size:
            raise ApiError(400, f"range [{start}, {end}) is outside the grid (size {size})")
        return tab, rng["dimension"], start, end

    def _req_insertDimension(self, book: Book, args: dict[str, Any]) -> None:  # noqa: N802
        rng = args["range"]
        tab = book.tab(sheet_id=rng["sheetId"])
        start, end = rng["startIndex"], rng["endIndex"]
        count = end - start
        inherit = args.get("inheritFromBefore", False)
        if rng["dimension"] == "ROWS":
            if not 0 <= start <= tab.rows:
                raise ApiError(400, "insertDimension: startIndex outside the grid")
            while len(tab.data) < start:
                tab.data.append([])
            template = tab.data[start - 1] if inherit and start > 0 else []
            fresh = [
                [{"fmt": c["fmt"]} if c and c.get("fmt") else None for c in template]
                for _ in range(count)
            ]
            tab.data[start:start] = fresh
            tab.rows += count
        else:
            if not 0 <= start <= tab.cols:
                raise ApiError(400, "insertDimension: startIndex outside the grid")
            for row in tab.data:
                if len(row) > start or (inherit and len(row) >= start):
                    source = row[start - 1] if inherit and start > 0 and len(row) >= start else None
                    cell = {"fmt": source["fmt"]} if source and source.get("fmt") else None
                    row[start:start] = [copy.deepcopy(cell) for _ in range(count)]
            tab.cols += count

    def _req_deleteDimension(self, book: Book, args: dict[str, Any]) -> None:  # noqa: N802
        tab, dimension, start, end = self._dimension_range(book, args)
        if dimension == "ROWS":
            if tab.rows - (end - start) <= tab.frozen:
                raise ApiError(400, "Sorry, it is not possible to delete all non-frozen rows.")
            del tab.data[start:end]
            tab.rows -= end - start
        else:
            if tab.cols - (end - start) <= 0:
                raise ApiError(400, "Sorry, it is not possible to delete all columns.")
            for row in tab.data:
                del row[start:end]
            tab.cols -= end - start

    def _req_appendDimension(self, book: Book, args: dict[str, Any]) -> None:  # noqa: N802
        tab = book.tab(sheet_id=args["sheetId"])
        if args["length"] < 1:
            raise ApiError(400, "appendDimension: length must be at least 1")
        if args["dimension"] == "ROWS":
            tab.rows += args["length"]
        else:
            tab.cols += args["length"]

    @staticmethod
    def _cell_value(data: dict[str, Any]) -> dict[str, Any] | None:
        value = data.get("userEnteredValue")
        if not value:
            return None
        if "formulaValue" in value:
            return {"f": value["formulaValue"]}
        for key in ("stringValue", "numberValue", "boolValue"):
            if key in value:
                return {"v": value[key]}
        raise ApiError(400, f"unsupported userEnteredValue {sorted(value)}")

    def _set(self, tab: Tab, r: int, c: int, data: dict[str, Any], fields: set[str]) -> None:
        tab.check(r, c)
        old = tab.cell(r, c) or {}
        new = dict(old)
        every = "*" in fields
        if every or any(f.startswith("userEnteredValue") for f in fields):
            new.pop("v", None)
            new.pop("f", None)
            new.update(self._cell_value(data) or {})
        if every or any(f.startswith("userEnteredFormat") for f in fields):
            if data.get("userEnteredFormat"):
                new["fmt"] = {**new.get("fmt", {}), **data["userEnteredFormat"]}
            else:
                new.pop("fmt", None)
        tab.put(r, c, new or None)

    def _req_updateCells(self, book: Book, args: dict[str, Any]) -> None:  # noqa: N802
        fields = {f.strip() for f in args.get("fields", "").split(",") if f.strip()}
        if not fields:
            raise ApiError(400, "updateCells: `fields` is required")
        if "start" in args:
            start = args["start"]
            tab = book.tab(sheet_id=start["sheetId"])
            r0, c0 = start.get("rowIndex", 0), start.get("columnIndex", 0)
        else:
            rng = args["range"]
            tab = book.tab(sheet_id=rng["sheetId"])
            r0, c0 = rng.get("startRowIndex", 0), rng.get("startColumnIndex", 0)
        for i, row in enumerate(args.get("rows", [])):
            for j, data in enumerate(row.get("values", [])):
                self._set(tab, r0 + i, c0 + j, data, fields)

    def _req_repeatCell(self, book: Book, args: dict[str, Any]) -> None:  # noqa: N802
        rng = args["range"]
        tab = book.tab(sheet_id=rng["sheetId"])
        fields = {f.strip() for f in args.get("fields", "").split(",") if f.strip()}
        for r in range(rng.get("startRowIndex", 0), rng.get("endRowIndex", tab.rows)):
            for c in range(rng.get("startColumnIndex", 0), rng.get("endColumnIndex", tab.cols)):
                self._set(tab, r, c, args["cell"], fields)

    # --- HTTP ----------------------------------------------------------------------

    def _token(self, form: dict[str, list[str]]) -> dict[str, Any]:
        assertion = (form.get("assertion") or [""])[0]
        try:
            head, claims, signature = assertion.split(".")
            signed = f"{head}.{claims}".encode()

            def unb64(part: str) -> bytes:
                return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

            self._key.public_key().verify(
                unb64(signature), signed, padding.PKCS1v15(), hashes.SHA256()
            )
            payload = json.loads(unb64(claims))
        except Exception as err:  # noqa: BLE001 - any malformed assertion is a 400 here
            raise ApiError(400, f"invalid_grant: bad assertion ({err})") from None
        # google-auth signs for Google's audience whatever the token_uri, as Google expects.
        audiences = (GOOGLE_TOKEN_AUDIENCE, self.base_url + "/token")
        if payload.get("aud") not in audiences or SCOPE not in payload.get("scope", ""):
            raise ApiError(400, f"invalid_scope or audience: {payload}")
        token = "fake-" + secrets.token_hex(8)
        with self._lock:
            self.tokens.add(token)
        return {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, auth: str
    ) -> tuple[str, dict[str, Any]]:
        if not path.startswith(PREFIX):
            raise ApiError(404, f"no such endpoint: {path}")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            raise ApiError(401, "Request had invalid authentication credentials.")
        rest = path[len(PREFIX) :]
        sheet_id, _, tail = rest.partition("/")
        kind = "metadata"
        if not tail and sheet_id.endswith(":batchUpdate"):
            sheet_id, kind = sheet_id[: -len(":batchUpdate")], "batchUpdate"
        book = self.books.get(sheet_id)
        if book is None:
            raise ApiError(404, "Requested entity was not found.")
        if not book.shared:
            raise ApiError(403, "The caller does not have permission")
        q = {k: v[0] for k, v in query.items()}
        if kind == "metadata" and not tail:
            if method != "GET":
                raise ApiError(400, f"{method} on a spreadsheet")
            return kind, book.metadata(self.api_base)
        if kind == "batchUpdate":
            return kind, self._batch_update(book, body)
        if tail == "values:batchGet":
            option = q.get("valueRenderOption", "FORMATTED_VALUE")
            out = []
            for text in query.get("ranges", []):
                tab, r0, c0, r1, c1 = book.parse(text)
                r1 = tab.rows - 1 if r1 is None else r1
                c1 = tab.cols - 1 if c1 is None else c1
                values = self._read(tab, r0, c0, r1, c1, option)
                entry = {"range": book.a1(tab, r0, c0, r1, c1), "majorDimension": "ROWS"}
                if values:
                    entry["values"] = values
                out.append(entry)
            return "values.batchGet", {"spreadsheetId": sheet_id, "valueRanges": out}
        if tail == "values:batchUpdate":
            option = body.get("valueInputOption", "")
            results = [
                self._write(
                    book, d["range"], d.get("values", []), option, d.get("majorDimension", "ROWS")
                )
                for d in body.get("data", [])
            ]
            return "values.batchUpdate", {
                "spreadsheetId": sheet_id,
                "totalUpdatedCells": sum(r["updatedCells"] for r in results),
                "responses": results,
            }
        if tail == "values:batchClear":
            cleared = [self._clear(book, r) for r in body.get("ranges", [])]
            return "values.batchClear", {"spreadsheetId": sheet_id, "clearedRanges": cleared}
        if not tail.startswith("values/"):
            raise ApiError(404, f"no such endpoint: {path}")
        encoded = tail[len("values/") :]
        for suffix, name in ((":append", "values.append"), (":clear", "values.clear")):
            if encoded.endswith(suffix):
                range_text = unquote(encoded[: -len(suffix)])
                if name == "values.append":
                    return name, self._append(
                        book, range_text, body.get("values", []), q.get("valueInputOption", "")
                    )
                return name, {
                    "spreadsheetId": sheet_id,
                    "clearedRange": self._clear(book, range_text),
                }
        range_text = unquote(encoded)
        if method == "GET":
            tab, r0, c0, r1, c1 = book.parse(range_text)
            r1 = tab.rows - 1 if r1 is None else r1
            c1 = tab.cols - 1 if c1 is None else c1
            option = q.get("valueRenderOption", "FORMATTED_VALUE")
            answer: dict[str, Any] = {
                "range": book.a1(tab, r0, c0, r1, c1),
                "majorDimension": "ROWS",
            }
            values = self._read(tab, r0, c0, r1, c1, option)
            if values:
                answer["values"] = values
            return "values.get", answer
        if method == "PUT":
            return "values.update", self._write(
                book,
                range_text,
                body.get("values", []),
                q.get("valueInputOption", ""),
                body.get("majorDimension", "ROWS"),
            )
        raise ApiError(404, f"no such endpoint: {method} {path}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK add 40 ms to every call.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(
                self, status: int, payload: dict[str, Any], headers: dict[str, str]
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                kind, status, headers = "unknown", 200, {}
                try:
                    if parts.path == "/token":
                        kind = "token"
                        payload = fake._token(parse_qs(raw.decode()))
                    else:
                        with fake._lock:
                            failure = fake._failures.pop(0) if fake._failures else None
                        if failure:
                            code, retry_after = failure
                            if retry_after:
                                headers["Retry-After"] = retry_after
                            raise ApiError(
                                code,
                                "Quota exceeded for quota metric 'Write requests' and limit "
                                "'Write requests per minute per user'"
                                if code == 429
                                else "The service is currently unavailable.",
                            )
                        if length > fake.max_body_bytes:
                            raise ApiError(
                                400,
                                f"Request payload size exceeds the limit: {fake.max_body_bytes} bytes.",
                            )
                        body = json.loads(raw) if raw else {}
                        with fake._lock:
                            kind, payload = fake._dispatch(
                                self.command,
                                parts.path,
                                parse_qs(parts.query),
                                body,
                                self.headers.get("Authorization", ""),
                            )
                except ApiError as err:
                    status, payload = err.code, err.body()
                with fake._lock:
                    if kind == "unknown" and parts.path != "/token":
                        kind = _guess_kind(self.command, parts.path)
                    fake.calls.append(Call(self.command, kind, status, length))
                self._answer(status, payload, headers)

            do_GET = do_POST = do_PUT = _handle  # noqa: N815

        return Handler


def _guess_kind(method: str, path: str) -> str:
    """The kind of a call that failed before dispatch (for the log)."""
    if path.endswith(":batchUpdate"):
        return "values.batchUpdate" if "/values:" in path else "batchUpdate"
    if path.endswith(":batchGet"):
        return "values.batchGet"
    if "/values/" in path:
        return {"GET": "values.get", "PUT": "values.update"}.get(method, "values.other")
    return "metadata"
