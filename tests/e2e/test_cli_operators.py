"""The runs commands for operators and scripts: --json, NO_COLOR, -v after the subcommand.

A real local run of the demo recipe (local backends, the sample data) is
recorded first; `runs list --json` and `runs show --json` must then parse as
JSON and agree with each other, `-v` must be accepted after the subcommand as
before it, and NO_COLOR must remove the ANSI codes of the red error lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from common.cli import main
from common.settings import get_settings
from tests.e2e.conftest import AS_OF

ANSI = "\x1b["


@pytest.fixture
def recorded_run(local_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    result = CliRunner().invoke(
        main, ["run", "--recipe", "demo", "--as-of", AS_OF.isoformat(), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(main, ["runs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    runs = json.loads(listed.output)
    assert len(runs) == 1 and runs[0]["status"] == "succeeded", runs
    return runs[0]["run_id"]


def test_runs_list_and_show_as_json(recorded_run: str) -> None:
    listed = json.loads(CliRunner().invoke(main, ["runs", "list", "--json"]).output)
    assert [r["run_id"] for r in listed] == [recorded_run]
    shown = CliRunner().invoke(main, ["runs", "show", recorded_run, "--json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.output)
    assert doc["run_id"] == recorded_run and doc["status"] == "succeeded"
    assert doc["steps"] and isinstance(doc["metrics"], dict)
    assert doc["leads"] == listed[0]["leads"]


def test_verbose_is_accepted_after_the_subcommand(recorded_run: str) -> None:
    for args in (["-v", "runs", "list"], ["runs", "list", "-v"], ["runs", "list", "--verbose"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
        assert recorded_run in result.output, args


def test_no_color_removes_the_ansi_codes(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = CliRunner().invoke(main, ["runs", "show", "no-such-run"], color=True)
    assert coloured.exit_code != 0 and ANSI in coloured.output, coloured.output
    monkeypatch.setenv("NO_COLOR", "1")
    plain = CliRunner().invoke(main, ["runs", "show", "no-such-run"], color=True)
    assert plain.exit_code != 0 and "no such run" in plain.output
    assert ANSI not in plain.output, plain.output
