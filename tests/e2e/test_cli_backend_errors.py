"""Operators' CLI: an unreachable state store or missing Google credentials end in one line, fast.

Runs the installed ``lead-recovery`` command as a user would (issue 17, acceptance 5).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = Path(sys.executable).with_name("lead-recovery")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LR_", "GOOGLE_", "FIRESTORE_", "STORAGE_", "PUBSUB_", "CLOUDSDK_"))
    }
    env.update(
        HOME=str(tmp_path),  # no ~/.config/gcloud application default credentials
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
        NO_GCE_CHECK="True",  # not on Google Cloud: do not probe the metadata server
        LR_PROJECT="lr-cli-test",
        LR_BUCKET="lr-cli-test",
        **extra,
    )
    return env


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(
        [str(CLI), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return done, time.monotonic() - start


@pytest.mark.parametrize("command", [["runs", "list"], ["runs", "show", "demo-x-1"]])
def test_unreachable_firestore_is_one_line_within_10_s(tmp_path: Path, command: list[str]):
    host = f"127.0.0.1:{_closed_port()}"
    done, took = _run([*command, "--backend", "gcp"], _env(tmp_path, FIRESTORE_EMULATOR_HOST=host))
    assert took < 10, f"took {took:.1f} s"
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no answer within" in lines[0] and host in lines[0]


def test_missing_credentials_is_one_line_within_10_s(tmp_path: Path) -> None:
    done, took = _run(["runs", "list", "--backend", "gcp"], _env(tmp_path))
    assert took < 10, f"took {took:.1f} s"
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no Google credentials" in lines[0]
    assert "gcloud auth application-default login" in lines[0]
