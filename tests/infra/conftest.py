"""Fixtures of the infra tests: the parsed configuration and the evaluated data modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra import clean_venv
from tests.infra.infra_support import (
    INFRA,
    REPO,
    TERRAFORM_HINT,
    Config,
    evaluate_module,
    load_config,
    terraform_binary,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "packaging: builds the function zips and serves each in a clean virtual environment",
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start filling the packaging tests' clean environment while earlier tests run."""
    if session.config.option.collectonly:
        return
    if any(item.get_closest_marker("packaging") for item in session.items):
        clean_venv.start_background()


def pytest_unconfigure(config: pytest.Config) -> None:
    clean_venv.cleanup()


@pytest.fixture(scope="session")
def terraform() -> str:
    """The terraform binary (the tests fail, with an install hint, without it)."""
    binary = terraform_binary()
    if binary is None:
        pytest.fail(TERRAFORM_HINT, pytrace=False)
    return binary


@pytest.fixture(scope="session")
def infra() -> Config:
    """Every block of ``infra/*.tf``."""
    return load_config()


@pytest.fixture(scope="session")
def chain_module(terraform: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``infra/modules/chain`` as Terraform evaluates it with the defaults of the root module."""
    return evaluate_module(
        INFRA / "modules" / "chain", {}, tmp_path_factory.mktemp("tf-chain"), terraform
    )


@pytest.fixture(scope="session")
def recipes_module(terraform: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``infra/modules/recipes`` evaluated over the repository's recipes/."""
    return evaluate_module(
        INFRA / "modules" / "recipes",
        {"recipes_dir": str(REPO / "recipes")},
        tmp_path_factory.mktemp("tf-recipes"),
        terraform,
    )


@pytest.fixture
def evaluate(terraform: str, tmp_path: Path):
    """Evaluate a module with given inputs (for tests that change them)."""

    def run(module: str, **inputs: Any) -> dict[str, Any]:
        return evaluate_module(INFRA / "modules" / module, inputs, tmp_path / module, terraform)

    return run
