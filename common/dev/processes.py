"""The processes of `make dev`: process groups, the function servers, waiting for their ports.

Every process leads its own process group, so that stopping it stops what it
forked (the emulator launchers fork a JVM; gunicorn forks its workers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common.dev import emulators
from common.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Process:
    """One background process of the stack; ``pid`` leads its own process group."""

    name: str
    pid: int
    port: int
    log: str
    kind: str  # "emulator" or "function"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def port_open(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop_group(process: Process, grace_s: float = 10.0) -> None:
    """Stop ``process``'s whole group (SIGINT or SIGTERM, then SIGKILL) and wait for it."""
    # gunicorn (functions-framework) shuts down at once on SIGINT; the emulators on SIGTERM.
    first = signal.SIGINT if process.kind == "function" else signal.SIGTERM
    for sig in (first, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace_s
        while group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not group_members(process.pid):
            return


def _functions_framework() -> str:
    beside = Path(sys.executable).with_name("functions-framework")
    return str(beside) if beside.exists() else "functions-framework"


def serve(function: str, signature: str, env: dict[str, str], logs: Path) -> Process:
    """Start functions-framework serving ``function`` on a free port, in its own process group."""
    port = emulators.free_port()
    log = logs / f"{function}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                _functions_framework(),
                *("--source", str(REPO / "functions" / function / "main.py")),
                *("--target", function, "--signature-type", signature),
                *("--host", "127.0.0.1", "--port", str(port)),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: gunicorn's workers go with it
        )
    return Process(function, proc.pid, port, str(log), "function")


def wait_listening(process: Process, deadline: float) -> None:
    """Wait until ``process`` listens on its port; fail with its log's tail if it exits first."""
    while not port_open(process.port):
        if not group_members(process.pid):
            tail = Path(process.log).read_text(errors="replace").splitlines()[-20:]
            raise ConfigError(
                f"the {process.name} server exited before listening; log {process.log}:\n"
                + "\n".join(tail),
                where="make dev",
            )
        if time.monotonic() > deadline:
            raise ConfigError(
                f"the {process.name} server did not listen on port {process.port} in time "
                f"(LR_DEV_START_TIMEOUT_S); log {process.log}",
                where="make dev",
            )
        time.sleep(0.1)
