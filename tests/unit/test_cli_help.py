"""Every command explains itself."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from common.cli import main

COMMANDS = [
    [],
    ["run"],
    ["recipes"],
    ["recipes", "list"],
    ["recipes", "validate"],
    ["recipes", "new"],
    ["recipes", "schema"],
    ["recipes", "sync-columns"],
    ["runs"],
    ["runs", "list"],
    ["runs", "show"],
    ["eval"],
    ["cache"],
    ["cache", "stats"],
    ["cache", "prune"],
    ["clusters"],
    ["clusters", "refit"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output
    # The summary line of the command is its docstring, not empty.
    assert len(result.output.splitlines()) > 3


def test_run_help_lists_the_flags_users_know() -> None:
    text = CliRunner().invoke(main, ["run", "--help"]).output
    for flag in (
        "--recipe",
        "--backend",
        "--limit",
        "--skip-leads-query",
        "--skip-processor",
        "--run-only-processor",
        "--include-columns",
        "--exclude-columns",
    ):
        assert flag in text
