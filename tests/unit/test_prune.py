"""`lead-recovery prune` deletes local data older than each kind's retention (issue 15).

The data is written by the real local adapters (SQLite state, call store and
rate budget, the folder blob store); time passes by giving `prune_local` a
later ``now`` (folders by their files' modification times).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.adapters.local.sqlite_budget import SQLiteRateBudgetStore
from common.adapters.local.sqlite_calls import SQLiteCallStore
from common.adapters.local.sqlite_state import SQLiteStateStore
from common.calls.events import build_event
from common.calls.models import EndOfCallReport, StatusUpdate, parse_envelope
from common.calls.simulate import call_sequence
from common.cli import main
from common.ports import StepKey
from common.ports.ratebudget import BucketSpec
from common.prune import prune_local
from common.settings import get_settings

NOW = datetime.now(UTC)
KEPT_FOLDER = "2026-01-01T00-00-00_r1"
OLD_FOLDER = "2025-12-01T00-00-00_r0"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LR_BACKEND", "local")
    monkeypatch.setenv("LR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LR_STATE_DB", str(tmp_path / "state.sqlite"))
    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setenv("LR_STAGING_DIR", str(tmp_path / "staging"))
    get_settings.cache_clear()
    state = SQLiteStateStore(tmp_path / "state.sqlite")
    state.create_run("r1", {"run_id": "r1", "recipe": "demo", "status": "succeeded"})
    state.begin_step(StepKey("r1", "process", 0), 300)
    state.finish_step(StepKey("r1", "process", 0), {"rows": 1})
    state.complete_shard("r1", "process", 0, 1)
    SQLiteRateBudgetStore(tmp_path / "state.sqlite").lease(
        BucketSpec("openai.abc.rpm", 1.0, 1.0), want=1, minimum=1, now=NOW.timestamp()
    )
    calls = SQLiteCallStore(tmp_path / "calls.sqlite")
    for body in call_sequence("lead-1", "recovered", started_at=NOW):
        message, data = parse_envelope(json.dumps(body).encode())
        assert isinstance(message, EndOfCallReport | StatusUpdate)
        calls.record(build_event(message, data, received_at=NOW))
    calls.set_lead_contexts({"lead-2": {"timezone": "UTC", "updated_at": NOW.isoformat()}})
    blobs = FolderBlobStore(tmp_path / "data")
    blobs.put_bytes("runs/r1/features/shard-00000.parquet", b"x")
    blobs.put_bytes(f"output_run/demo/{KEPT_FOLDER}/demo_analysis.csv", b"a")
    blobs.put_bytes(f"output_run/demo/{OLD_FOLDER}/demo_analysis.csv", b"a")
    blobs.put_bytes("output_run/demo/latest.csv", b"a")
    record = {"run_id": "r1", "started_at": NOW.isoformat(), "folder": KEPT_FOLDER, "objects": []}
    blobs.put_bytes("output_run/demo/latest.json", json.dumps(record).encode())
    (tmp_path / "staging/r1/_shard=0").mkdir(parents=True)
    (tmp_path / "staging/r1/_shard=0/part.parquet").write_bytes(b"x")
    return tmp_path


def _kinds(removed: list) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for r in removed:
        found.setdefault(r.kind, []).append(r.what)
    return found


def test_prune_removes_each_kind_after_its_days_and_keeps_latest(local: Path) -> None:
    settings = get_settings()
    # 20 days on: past intermediate (14) and staging/rate budget (2), not the others.
    soon = prune_local(settings, now=NOW + timedelta(days=20))
    assert sorted(_kinds(soon)) == ["intermediate", "llm_rate_budget", "staging"]
    assert not (local / "data/runs/r1").exists()
    assert not (local / "staging/r1").exists()
    assert SQLiteStateStore(local / "state.sqlite").get_run("r1") is not None

    later = NOW + timedelta(days=400)
    planned = prune_local(settings, now=later, dry_run=True)
    assert _kinds(planned) == {
        "runs": ["run r1 (and its steps)"],
        "calls": [
            f"call {c['call_id']}" for c in SQLiteCallStore(local / "calls.sqlite").list_calls()
        ],
        "lead_outcomes": ["lead outcome lead-1", "lead context lead-2"],
        "outputs": [f"demo/{OLD_FOLDER}/"],
    }
    assert SQLiteStateStore(local / "state.sqlite").get_run("r1") is not None  # dry run

    assert _kinds(prune_local(settings, now=later)) == _kinds(planned)
    state = SQLiteStateStore(local / "state.sqlite")
    assert state.get_run("r1") is None
    assert state.list_steps("r1") == []
    assert state.counted_shards("r1", "process") == set()
    calls = SQLiteCallStore(local / "calls.sqlite")
    assert calls.list_calls() == [] and calls.lead_outcomes() == {}
    assert not (local / f"data/output_run/demo/{OLD_FOLDER}").exists()
    # latest.* and the run it records stay while it is the latest.
    assert (local / "data/output_run/demo/latest.csv").exists()
    assert (local / f"data/output_run/demo/{KEPT_FOLDER}/demo_analysis.csv").exists()

    assert prune_local(settings, now=later) == []  # idempotent


def test_prune_command_prints_and_older_than_overrides(local: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["prune", "--dry-run", "--older-than", "0d"])
    assert result.exit_code == 0, result.output
    # --older-than applies to every kind; 0 days, like LR_RETENTION_*_DAYS=0, is forever.
    assert "nothing to prune" in result.output

    result = runner.invoke(main, ["prune", "--older-than", "soon"])
    assert result.exit_code != 0
    assert "--older-than" in result.output and "soon" in result.output

    result = runner.invoke(main, ["prune"])
    assert result.exit_code == 0, result.output
    assert "nothing to prune" in result.output  # everything is younger than its retention
    assert (local / "data/runs/r1").exists()
