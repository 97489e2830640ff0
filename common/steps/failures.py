"""A run's failures, read from its step marks (a failure is never written to the run document).

A step that fails records the error on its own mark (`StateStore.fail_step`),
so N shards failing at once write N documents. Whoever wants the run's
failures (the report, `runs show`, the local summary) reads the marks with
status ``failed`` in one query.
"""

from __future__ import annotations

from typing import Any

from common.ports.statestore import RUN_LEVEL, StepKey


def failure_records(run_id: str, marks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{step mark id: error + terminal + at}`` for the marks that failed for good.

    The shape the run document's ``failures`` summary has (the report writes it once).
    """
    records: dict[str, dict[str, Any]] = {}
    for mark in marks:
        if mark.get("status") != "failed":
            continue
        key = StepKey(run_id, str(mark.get("step", "?")), int(mark.get("shard", RUN_LEVEL)))
        records[key.doc_id] = {
            **(mark.get("error") or {}),
            "terminal": True,
            "at": mark.get("failed_at"),
        }
    return records


def failed_shards(marks: list[dict[str, Any]]) -> dict[int, str]:
    """Shards whose per-shard step failed for good → ``"step: error message"``."""
    failed: dict[int, str] = {}
    for mark in marks:
        shard = int(mark.get("shard", RUN_LEVEL))
        if mark.get("status") == "failed" and shard != RUN_LEVEL:
            failed[shard] = f"{mark.get('step')}: {(mark.get('error') or {}).get('message', '')}"
    return failed


def first_shard_failure(marks: list[dict[str, Any]]) -> str | None:
    """The run's first per-shard failure (earliest ``failed_at``), as ``shard N step: error``.

    When shards fail, a later run-level error (the report finding no column to
    write) is only a consequence: this is what a person should read first.
    """
    failed = [
        m
        for m in marks
        if m.get("status") == "failed" and int(m.get("shard", RUN_LEVEL)) != RUN_LEVEL
    ]
    if not failed:
        return None
    first = min(failed, key=lambda m: (str(m.get("failed_at") or ""), int(m["shard"])))
    message = (first.get("error") or {}).get("message", "")
    return f"shard {first['shard']} {first.get('step')}: {message}"
