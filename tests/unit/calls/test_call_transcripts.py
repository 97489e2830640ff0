"""Call transcripts as canonical conversation messages, readable by a recipe's SQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from common.adapters.local.duckdb_warehouse import DuckDBWarehouse
from common.adapters.local.sqlite_calls import SQLiteCallStore
from common.calls.events import build_event
from common.calls.models import EndOfCallReport, StatusUpdate, parse_envelope
from common.calls.transcripts import call_messages, customer_spoke, export_transcripts
from tests.unit.calls.conftest import golden_bytes

T0 = datetime(2026, 11, 20, 16, 7, tzinfo=UTC)


def _report(body: bytes) -> EndOfCallReport:
    message, _ = parse_envelope(body)
    assert isinstance(message, EndOfCallReport)
    return message


def test_turns_from_artifact_messages() -> None:
    report = _report(golden_bytes("end-of-call-report.recovered"))
    rows = call_messages(report, call_id="c1", fallback_time=T0)
    assert [r["message_id"] for r in rows] == [f"c1:{i:04d}" for i in range(5)]
    assert [r["sender"] for r in rows] == ["bot", "user", "bot", "user", "bot"]
    assert rows[0]["sent_at"] == "2026-11-20T16:02:15.304000+00:00"  # the turn's epoch ms
    assert rows[1]["text"] == "Sí, claro. Me quedé en la parte de los documentos."
    assert customer_spoke(rows) is True
    assert customer_spoke([]) is None


def test_turns_from_plain_transcript_when_no_messages() -> None:
    body: dict[str, Any] = json.loads(golden_bytes("end-of-call-report.recovered"))
    body["message"]["artifact"] = {
        "transcript": "AI: Hola, ¿tienes un minuto?\nUser: Sí.\nclaro\nAI: Gracias."
    }
    rows = call_messages(_report(json.dumps(body).encode()), call_id="c2", fallback_time=T0)
    assert [(r["sender"], r["text"]) for r in rows] == [
        ("bot", "Hola, ¿tienes un minuto?"),
        ("user", "Sí. claro"),
        ("bot", "Gracias."),
    ]
    # Start of the call plus the index in milliseconds keeps the order.
    assert rows[2]["sent_at"] == "2026-11-20T16:02:14.106000+00:00"


def test_export_is_a_table_the_recipe_sql_reads(tmp_path: Path) -> None:
    store = SQLiteCallStore(tmp_path / "calls.sqlite")
    for name in (
        "end-of-call-report.recovered",
        "end-of-call-report.callback",
        "end-of-call-report.no-answer",
    ):
        message, raw = parse_envelope(golden_bytes(name))
        assert isinstance(message, EndOfCallReport | StatusUpdate)
        store.record(build_event(message, raw, received_at=T0))
    out = tmp_path / "warehouse" / "calls" / "messages.parquet"
    assert export_transcripts(store, out) == 8
    assert export_transcripts(store, out, ["+14047845491"]) == 3
    assert export_transcripts(store, out) == 8  # replaced, not appended
    frame = pl.read_parquet(out)
    assert frame.schema["sent_at"] == pl.Datetime("us", "UTC")
    assert frame.columns == ["message_id", "lead_key", "sent_at", "sender", "text", "call_id"]
    sql = (
        "SELECT lead_key, sender, text FROM calls.messages "
        "WHERE lead_key IN UNNEST(@lead_keys) ORDER BY lead_key, sent_at, message_id"
    )
    table = DuckDBWarehouse(tmp_path / "warehouse").query(
        sql, {"lead_keys": ["+5218164186522"]}, where="test"
    )
    assert table.column("sender").to_pylist() == ["bot", "user", "bot", "user", "bot"]
    assert set(table.column("lead_key").to_pylist()) == {"+5218164186522"}
