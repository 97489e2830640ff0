"""Log lines are JSON that Cloud Logging reads, with the run's labels and trace."""

from __future__ import annotations

import io
import json
import logging

from common.logging import configure_logging, log_context


def test_json_lines_carry_severity_labels_and_trace(monkeypatch) -> None:
    monkeypatch.setenv("LR_PROJECT", "acme")
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    log = logging.getLogger("lead_recovery.test")
    with log_context(trace="abc123", run_id="r1", recipe="demo", step="process", shard=3):
        log.warning("shard %d slow", 3)
    log.info("outside")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["severity"] == "WARNING"
    assert first["message"] == "shard 3 slow"
    assert first["logging.googleapis.com/labels"] == {
        "run_id": "r1",
        "recipe": "demo",
        "step": "process",
        "shard": "3",
    }
    assert first["logging.googleapis.com/trace"] == "projects/acme/traces/abc123"
    assert "logging.googleapis.com/sourceLocation" in first
    assert second["logging.googleapis.com/labels"] == {}
    assert "logging.googleapis.com/trace" not in second


def test_exceptions_are_one_json_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["severity"] == "ERROR" and "ValueError: boom" in entry["stack_trace"]


def test_text_format_for_people() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)
    with log_context(recipe="demo", step="report"):
        logging.getLogger("x").info("hello")
    line = stream.getvalue().strip()
    assert line.endswith("[recipe=demo step=report] hello")
    assert not line.startswith("{")


def test_phones_emails_and_known_personal_fields_are_masked_in_every_part() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    log = logging.getLogger("lead_recovery.test")
    with log_context(run_id="r1", lead="+5215677820098"):
        log.debug(
            "lead %s wrote from %s, call (555) 123-4567",
            "+52 1 55 1234 5678",
            "ana.lopez@outlook.com.mx",
            extra={
                "fields": {
                    "lead_key": "+34678555120",
                    "name": "Ana López",
                    "customer": {"customer_number": "no digits at all", "id": 7},
                    "amount": "$15,000",
                    "due": "2026-11-20T18:00:00+00:00",
                }
            },
        )
    try:
        raise ValueError("bad number 5215677820098")
    except ValueError:
        log.exception("failed for maria@example.com")
    text = stream.getvalue()
    for secret in (
        "5677820098",
        "1234 5678",
        "123-4567",
        "678555120",
        "ana.lopez",
        "maria@",
        "Ana López",
        "no digits at all",
    ):
        assert secret not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["message"] == "lead <PHONE> wrote from <EMAIL>, call <PHONE>"
    assert first["name"] == "<REDACTED>" and first["customer"]["id"] == 7
    assert first["amount"] == "$15,000" and first["due"] == "2026-11-20T18:00:00+00:00"
    assert first["logging.googleapis.com/labels"] == {"run_id": "r1", "lead": "<PHONE>"}
    assert "bad number <PHONE>" in second["stack_trace"]


def test_text_lines_are_masked_too() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "text", stream=stream)
    logging.getLogger("x").info("to +1 415 555 0134 / bob@acme.io, run 20261120T180000, $15,000")
    line = stream.getvalue()
    assert "<PHONE> / <EMAIL>, run 20261120T180000, $15,000" in line
