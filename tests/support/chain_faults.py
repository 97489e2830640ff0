"""Test-only faults for the chain e2e test's function servers (never imported by production code).

`tests/support/fault_main.py` calls `install` before it loads a function's real
``main.py``. The plan comes from environment variables, since each function
runs as its own functions-framework server:

- ``CHAIN_FAULT_FUNCTION``: the folder of ``functions/`` this server runs;
- ``CHAIN_FAULTS``: JSON ``{"transient_once": [step, ...], "terminal": {step: [shard, ...]}}``;
  a step listed in ``transient_once`` raises `TransientError` the first time it
  reads each shard's input (once per shard, across threads and processes), and
  a step listed in ``terminal`` raises `DataError` for those shards, every time;
- ``CHAIN_FAULT_DIR``: a folder for the once-only markers and the delivery log
  (``deliveries.log``: one ``function message_id`` line per request).

Faults are raised where the step reads a shard (``read_frame`` of the step's
module) or, for a step that reads none from the BlobStore (fetch-conversations
reads the warehouse's staged scan), where it writes one (``write_frame``):
inside the step's claim either way, so the run document records them the way it
records real failures.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SHARD = re.compile(r"runs/(?P<run>[^/]+)/(?P<kind>[^/]+)/shard-(?P<shard>\d+)\.parquet$")


def _plan() -> dict[str, Any]:
    return json.loads(os.environ.get("CHAIN_FAULTS") or "{}")


def _fault_dir() -> Path:
    path = Path(os.environ["CHAIN_FAULT_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def first_time(name: str) -> bool:
    """True exactly once per ``name`` for the whole test (an atomic marker file)."""
    try:
        fd = os.open(_fault_dir() / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def record_delivery(function: str, message_id: str) -> None:
    """Append one delivery to the log (one short write: atomic with O_APPEND)."""
    line = f"{function} {message_id}\n".encode()
    fd = os.open(_fault_dir() / "deliveries.log", os.O_CREAT | os.O_APPEND | os.O_WRONLY)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def deliveries(fault_dir: Path) -> list[tuple[str, str]]:
    """(function, message id) of every request the servers received, in order."""
    log = fault_dir / "deliveries.log"
    if not log.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in log.read_text().splitlines() if line]  # type: ignore[misc]


def _faulty_read(step: str, real: Callable[..., Any], plan: dict[str, Any]) -> Callable[..., Any]:
    from common.errors import DataError, TransientError

    transient = step in plan.get("transient_once", [])
    terminal = {int(s) for s in plan.get("terminal", {}).get(step, [])}

    def faulty(blobs: Any, key: str, *args: Any) -> Any:
        match = _SHARD.search(key)
        if match:
            run, shard = match.group("run"), int(match.group("shard"))
            if shard in terminal:
                raise DataError(
                    f"injected terminal fault: shard {shard} has a bad row", where=f"{step} test"
                )
            if transient and first_time(f"transient-{step}-{run}-{shard}"):
                raise TransientError(f"injected transient fault on shard {shard}", where=step)
        return real(blobs, key, *args)

    return faulty


def install(function: str) -> None:
    """Patch the step of ``function`` per ``CHAIN_FAULTS`` (no-op without a plan for it)."""
    import importlib

    plan = _plan()
    steps = set(plan.get("transient_once", [])) | set(plan.get("terminal", {}))
    if function not in steps:
        return
    module = importlib.import_module(f"common.steps.{function}")
    name = "read_frame" if hasattr(module, "read_frame") else "write_frame"
    setattr(module, name, _faulty_read(function, getattr(module, name), plan))
