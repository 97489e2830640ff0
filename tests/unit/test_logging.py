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
