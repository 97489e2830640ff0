"""Golden provider payloads (tests/data/vapi) for the call tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "vapi"


def golden_bytes(name: str) -> bytes:
    """The raw body of ``tests/data/vapi/<name>.json``."""
    return (GOLDEN / f"{name}.json").read_bytes()


@pytest.fixture
def golden() -> Callable[[str], dict[str, Any]]:
    """Load a golden payload as a dict (a fresh copy each time, safe to edit)."""

    def load(name: str) -> dict[str, Any]:
        return json.loads(golden_bytes(name))

    return load
