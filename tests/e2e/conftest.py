"""Fixtures for whole-recipe runs: a small sample data set and settings pointing at it."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate_sample_data", REPO / "scripts/generate_sample_data.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while executing
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated data set (300 leads), shared by the session."""
    out = tmp_path_factory.mktemp("sample")
    _generator().generate(out, seed=11, n_leads=300, anchor=AS_OF)
    return out


@pytest.fixture
def recipes_dir(tmp_path: Path) -> Path:
    """A private copy of the repository's recipes (tests may edit it)."""
    target = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes", target)
    return target


@pytest.fixture
def local_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_dir: Path, recipes_dir: Path
) -> Path:
    """LR_* variables for a local run into ``tmp_path``; returns the data dir."""
    data = tmp_path / "data"
    monkeypatch.setenv("LR_BACKEND", "local")
    monkeypatch.setenv("LR_DATA_DIR", str(data))
    monkeypatch.setenv("LR_STATE_DB", str(tmp_path / "state.sqlite"))
    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(sample_dir))
    monkeypatch.setenv("LR_RECIPES_DIR", str(recipes_dir))
    return data
