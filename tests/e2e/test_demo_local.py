"""The demo recipe end to end on the embedded backends, through the CLI and the runner."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from common.cli import main
from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF


def _read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_cli_run_writes_analysis_and_ignored(
    local_env: Path, recipes_dir: Path, sample_dir: Path
) -> None:
    result = CliRunner().invoke(
        main, ["run", "--recipe", "demo", "--as-of", AS_OF.isoformat(), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    out = local_env / "output_run" / "demo"
    stamped = [p for p in out.iterdir() if p.is_dir()]
    assert len(stamped) == 1
    analysis = stamped[0] / "demo_analysis.csv"
    assert str(analysis) in result.output

    rows = _read_csv(analysis)
    ignored = _read_csv(stamped[0] / "ignored.csv")
    meta = yaml.safe_load((recipes_dir / "demo/meta.yml").read_text())
    from common.calls.report_join import OUTCOME_COLUMNS
    from common.results.history import ANALYSIS_COLUMNS

    # The recipe's columns, then the call outcomes (its `calls` section asks for them),
    # then the lead's history (common/results/history.py).
    assert list(rows[0]) == meta["output_columns"] + list(OUTCOME_COLUMNS) + list(ANALYSIS_COLUMNS)
    assert (out / "latest.csv").read_bytes() == analysis.read_bytes()
    assert (out / "latest_ignored.csv").read_bytes() == (stamped[0] / "ignored.csv").read_bytes()

    leads = pl.read_parquet(sample_dir / "demo/leads.parquet")
    messages = pl.read_parquet(sample_dir / "demo/messages.parquet")
    window = leads.filter(pl.col("lead_created_at") >= pl.lit(AS_OF).dt.offset_by("-30d"))
    assert len(rows) + len(ignored) == window.height
    with_messages = set(messages["lead_key"]) & set(window["lead_key"])
    assert {r["lead_key"] for r in rows} == with_messages
    assert all(r["ignore_reason"] == "no messages found for this lead" for r in ignored)
    # Sorted by key, one row per lead.
    keys = [r["lead_key"] for r in rows]
    assert keys == sorted(set(keys))


def test_features_match_the_messages(local_env: Path, sample_dir: Path) -> None:
    ctx = StepContext.from_settings(Settings())
    from common.local_runner import run_recipe

    summary = run_recipe(ctx, "demo", RunOptions(as_of=AS_OF), progress=False)
    assert summary.status == "succeeded"
    rows = {r["lead_key"]: r for r in _read_csv(Path(summary.outputs["analysis"]))}
    messages = pl.read_parquet(sample_dir / "demo/messages.parquet").unique(
        ["lead_key", "message_id"]
    )
    per_lead = messages.group_by("lead_key").agg(
        pl.col("sent_at").max().alias("last"),
        (pl.col("sender") == "user").sum().alias("users"),
        pl.col("sender").sort_by(["sent_at", "message_id"]).last().alias("last_sender"),
    )
    checked = 0
    for lead in per_lead.iter_rows(named=True):
        row = rows.get(lead["lead_key"])
        if row is None:
            continue
        hours = int((AS_OF - lead["last"]).total_seconds() // 3600)
        assert int(row["HOURS_SINCE_LAST_MESSAGE"]) == hours
        assert int(row["user_message_count"]) == lead["users"]
        assert row["NO_USER_MESSAGES_EXIST"] == ("true" if lead["users"] == 0 else "false")
        assert row["last_message_sender"] == lead["last_sender"]
        checked += 1
    assert checked == summary.rows > 100
    assert summary.messages > 0 and summary.leads == summary.rows + summary.ignored


def test_limit_skip_processor_and_columns(local_env: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--recipe",
            "demo",
            "--as-of",
            AS_OF.isoformat(),
            "--no-progress",
            "--limit",
            "25",
            "--skip-processor",
            "TemporalProcessor",
            "--exclude-columns",
            "campaign,country",
        ],
    )
    assert result.exit_code == 0, result.output
    latest = local_env / "output_run/demo/latest.csv"
    rows = _read_csv(latest)
    ignored = _read_csv(local_env / "output_run/demo/latest_ignored.csv")
    assert len(rows) + len(ignored) == 25
    assert "campaign" not in rows[0] and "country" not in rows[0]
    # A skipped processor's columns stay, empty; the others are filled.
    assert all(r["HOURS_SINCE_LAST_MESSAGE"] == "" for r in rows)
    assert all(r["last_message_sender"] in {"user", "bot", "agent"} for r in rows)


def test_include_columns_orders_output(local_env: Path) -> None:
    args = ["run", "-r", "demo", "--as-of", AS_OF.isoformat(), "--no-progress", "--limit", "5"]
    result = CliRunner().invoke(main, [*args, "--include-columns", "last_message_sender,lead_key"])
    assert result.exit_code == 0, result.output
    header = (local_env / "output_run/demo/latest.csv").read_text().splitlines()[0]
    assert header == "last_message_sender,lead_key"


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--include-columns", "lead_kee", "did you mean `lead_key`"),
        ("--skip-processor", "TemporalProcesor", "did you mean `TemporalProcessor`"),
    ],
)
def test_bad_run_options_fail_clearly(local_env: Path, flag: str, value: str, message: str) -> None:
    result = CliRunner().invoke(
        main, ["run", "-r", "demo", "--no-progress", "--limit", "3", flag, value]
    )
    assert result.exit_code != 0
    assert message in result.output
