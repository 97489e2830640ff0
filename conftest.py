"""Root test configuration: isolate environment variables and logging per test."""

from __future__ import annotations

import logging
import os
import uuid

import pytest

pytest_plugins = ["tests.support.fixtures", "tests.support.llm_fixtures"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Every test starts without LR_* settings, without a developer's .env, and a fresh cache."""
    from common.settings import Settings, get_settings

    monkeypatch.setitem(Settings.model_config, "env_file", None)
    for name in list(os.environ):
        if name.startswith("LR_"):
            monkeypatch.delenv(name)
    # The local warehouse stages each run's scan beside the state DB, which a test
    # using the defaults would put in the repository's .lead-recovery/.
    monkeypatch.setenv("LR_STAGING_DIR", str(tmp_path_factory.mktemp("staging")))
    # Results tables land in the warehouse folder, which e2e tests share for the
    # session: a dataset of its own keeps one test's runs out of another's history.
    monkeypatch.setenv("LR_RESULTS_DATASET", f"results_{uuid.uuid4().hex[:12]}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_lead_recovery", False):
            root.removeHandler(handler)
