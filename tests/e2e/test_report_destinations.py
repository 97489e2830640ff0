"""The demo recipe end to end with a Google Sheet (local fake) and webhooks, one of them down."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from common.local_runner import run_recipe
from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF
from tests.support.fake_sheets import FakeSheets, offline_google_auth
from tests.support.webhook_receiver import Receiver, closed_port_url, documented_verify

SHEET = "demo-sheet-0001"
SECRET = "e2e-secret"


@pytest.fixture
def fake() -> Iterator[FakeSheets]:
    with FakeSheets() as server:
        server.create(SHEET)
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver([200])
    yield made
    made.close()


@pytest.fixture
def configured(
    local_env: Path,
    recipes_dir: Path,
    fake: FakeSheets,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The demo recipe with a sheet and two webhooks (the first one unreachable)."""
    offline_google_auth(monkeypatch)
    meta_path = recipes_dir / "demo" / "meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["gsheets"] = {"sheet_id": SHEET, "worksheet": "Stalled"}
    meta["webhooks"] = [
        {"url": closed_port_url(), "secret": "crm", "timeout_seconds": 2},
        {"url": receiver.url, "secret": "crm"},
    ]
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    monkeypatch.setenv("LR_GSHEETS_API_BASE", fake.api_base)
    monkeypatch.setenv("LR_GSHEETS_CREDENTIALS_JSON", json.dumps(fake.service_account_info()))
    monkeypatch.setenv("LR_WEBHOOK_SECRETS", f"crm={SECRET}")
    monkeypatch.setenv("LR_WEBHOOK_BACKOFF_SECONDS", "0.001")
    monkeypatch.setenv("LR_WEBHOOK_MAX_ATTEMPTS", "2")
    return local_env


def test_a_run_updates_the_sheet_notifies_and_survives_a_dead_receiver(
    configured: Path, fake: FakeSheets, receiver: Receiver
) -> None:
    ctx = StepContext.from_settings(Settings())
    summary = run_recipe(ctx, "demo", RunOptions(as_of=AS_OF, limit=60), progress=False)
    assert summary.status == "succeeded"  # a receiver down does not fail the run
    run = ctx.backends.state.get_run(summary.run_id)
    sinks = run["sinks"]
    assert sinks["html"]["status"] == "ok"
    assert sinks["gsheets"]["status"] == "ok" and sinks["gsheets"]["rows"] == summary.rows
    assert sinks["gsheets"]["requests"] <= 4
    assert sinks["webhooks"]["status"] == "partial"
    dead, alive = sinks["webhooks"]["deliveries"]
    assert dead["status"] == "failed" and dead["attempts"] == 2 and "Refused" in dead["error"]
    assert alive["status"] == "ok"
    assert set(summary.outputs) >= {"analysis", "ignored", "html", "sheet"}

    rows = list(csv.DictReader(io.StringIO(Path(summary.outputs["analysis"]).read_text())))
    sheet = fake.values(SHEET, "Stalled")
    assert [r[0] for r in sheet[1:]] == [r["lead_key"] for r in rows]
    assert sheet[0] == list(rows[0])

    (delivery,) = receiver.received
    headers, body = delivery["headers"], delivery["body"]
    verify = documented_verify()
    assert verify(
        SECRET, headers["X-LeadRecovery-Timestamp"], body, headers["X-LeadRecovery-Signature"]
    )
    payload = json.loads(body)
    assert payload["run_id"] == summary.run_id and payload["counts"]["rows"] == summary.rows
    assert payload["outputs"]["sheet"] == summary.outputs["sheet"]
    assert payload["outputs"]["html"] == summary.outputs["html"]
