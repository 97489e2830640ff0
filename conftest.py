"""Root test configuration: isolate environment variables and logging per test."""

from __future__ import annotations

import logging
import os

import pytest

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Every test starts without LR_* settings and with a fresh settings cache."""
    from common.settings import get_settings

    for name in list(os.environ):
        if name.startswith("LR_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_lead_recovery", False):
            root.removeHandler(handler)
