"""Results tables after real local runs: row counts, a redelivered report, the KPIs, a lead's history.

Each test writes its results into its own dataset (``LR_RESULTS_DATASET``) of
the session's sample warehouse, so other tests' runs do not count.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from common.calls import webhook
from common.calls.simulate import auth_headers, call_sequence
from common.cli import main
from common.errors import TransientError
from common.messages import RunOptions
from common.results.tables import ResultsTables
from common.results.views import query_view
from common.settings import get_settings
from tests.e2e.conftest import AS_OF, REPO


@pytest.fixture
def results_env(local_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("LR_RESULTS_DATASET", f"results_{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("LR_CALL_WEBHOOK_SECRET", "test-secret-1")
    get_settings.cache_clear()
    webhook.webhook_context.cache_clear()
    yield local_env
    get_settings.cache_clear()
    webhook.webhook_context.cache_clear()


def _run(limit: int | None = None) -> Any:
    from common.local_runner import run_recipe
    from common.steps.context import StepContext

    ctx = StepContext.from_settings(get_settings())
    summary = run_recipe(ctx, "demo", RunOptions(as_of=AS_OF, limit=limit), progress=False)
    assert summary.status == "succeeded"
    return ctx, summary


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _count(ctx: Any, table: str, run_id: str | None = None) -> int:
    tables = ResultsTables.from_settings(ctx.settings)
    target = getattr(tables, table)
    sql = f"SELECT COUNT(*) AS n FROM {target.sql_name}"  # noqa: S608
    params = {}
    if run_id:
        sql += " WHERE run_id = @run_id"
        params["run_id"] = run_id
    return int(ctx.backends.warehouse.query(sql, params, where="test").column("n")[0].as_py())


def test_demo_runs_fill_the_results_tables_once_per_run(
    results_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first report dies after loading the results (before its latest.* copies):
    # the redelivered report loads the run's rows again; they must not double.
    from common.steps import report as report_step

    real_promote = report_step.latest.promote
    calls = {"n": 0}

    def flaky_promote(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientError("injected: the report died after loading", where="test")
        return real_promote(*args, **kwargs)

    monkeypatch.setattr(report_step.latest, "promote", flaky_promote)
    ctx, first = _run()
    assert calls["n"] == 2  # delivered twice
    latest = results_env / "output_run" / "demo" / "latest.csv"
    latest_ignored = results_env / "output_run" / "demo" / "latest_ignored.csv"
    assert _count(ctx, "analysis") == len(_csv_rows(latest)) > 0
    assert _count(ctx, "ignored") == len(_csv_rows(latest_ignored))
    assert _count(ctx, "runs") == 1

    ctx, second = _run()
    assert _count(ctx, "analysis", second.run_id) == len(_csv_rows(latest))
    assert _count(ctx, "analysis") == 2 * len(_csv_rows(latest))
    assert _count(ctx, "runs") == 2

    # The documented KPI view: one row per run, leads = analysed + ignored.
    tables = ResultsTables.from_settings(ctx.settings)
    kpis = query_view(ctx.backends.warehouse, "recovery_kpis", tables, recipe="demo").to_pylist()
    assert [k["run_id"] for k in kpis] == [first.run_id, second.run_id]
    n = len(_csv_rows(latest)) + len(_csv_rows(latest_ignored))
    assert [(k["leads"], k["stalled"], k["called"], k["recovered"]) for k in kpis] == [
        (n, len(_csv_rows(latest)), 0, 0)
    ] * 2
    # ... and the same from the command line.
    result = CliRunner().invoke(main, ["results", "kpis", "--recipe", "demo"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("recipe,run_id,run_date")
    assert len(result.output.splitlines()) == 3


PLAN = {"recovered": 0, "callback_requested": 1, "not_interested": 2, "no_answer": 3}
"""Call outcome → position in the first run's analysis of the lead that gets it."""


def _simulate_calls(leads: list[dict[str, str]]) -> dict[str, str]:
    client = functions_framework.create_app(
        target="call_webhook",
        source=str(REPO / "functions/call_webhook/main.py"),
        signature_type="http",
    ).test_client()
    settings = get_settings()
    start = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    planned = {}
    for i, (outcome, position) in enumerate(PLAN.items()):
        lead = leads[position]
        planned[outcome] = lead["lead_key"]
        for body in call_sequence(
            lead["lead_key"], outcome, started_at=start + timedelta(minutes=i), name=lead["name"]
        ):
            raw = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **auth_headers(settings, raw)}
            assert client.post("/", data=raw, headers=headers).status_code == 200
    return planned


def test_leads_show_and_change_after_calls_between_two_runs(
    results_env: Path, recipes_dir: Path
) -> None:
    # Keep every called lead in the analysis (the demo moves recovered and
    # not-interested leads to ignored.csv; their change is checked there too below).
    meta_path = recipes_dir / "demo" / "meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["calls"] = {"exclude_dispositions": []}
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True))
    _, first = _run(limit=60)
    leads = _csv_rows(Path(first.outputs["analysis"]))
    assert {r["change"] for r in leads} == {"new"}
    planned = _simulate_calls(leads)

    _, second = _run(limit=60)
    rows = {r["lead_key"]: r for r in _csv_rows(Path(second.outputs["analysis"]))}
    change = {outcome: rows[key]["change"] for outcome, key in planned.items()}
    assert change == {
        "recovered": "recovered",
        "callback_requested": "better",
        "not_interested": "worse",
        "no_answer": "unchanged",
    }
    untouched = [r for k, r in rows.items() if k not in planned.values()]
    assert {r["change"] for r in untouched} == {"unchanged"}
    assert {r["first_seen_run"] for r in rows.values()} == {first.run_id}
    recovered = rows[planned["recovered"]]
    assert recovered["previous_state"] == recovered["conversation_state"]

    result = CliRunner().invoke(main, ["leads", "show", planned["recovered"], "--recipe", "demo"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "recipe demo"
    assert first.run_id in lines[1] and "change=new" in lines[1] and "calls=0" in lines[1]
    assert second.run_id in lines[2]
    assert "change=recovered" in lines[2]
    assert "disposition=recovered" in lines[2] and "calls=1" in lines[2]
    assert f"state={recovered['conversation_state']}" in lines[2]

    # The KPIs of the second run count the calls.
    ctx_settings = get_settings()
    from common.backends import build_backends

    tables = ResultsTables.from_settings(ctx_settings)
    warehouse = build_backends(ctx_settings).warehouse
    kpis = query_view(warehouse, "recovery_kpis", tables, recipe="demo").to_pylist()
    assert [(k["called"], k["reached"], k["recovered"]) for k in kpis] == [(0, 0, 0), (4, 3, 1)]
    by = pl.from_arrow(query_view(warehouse, "recovery_kpis_by_dimension", tables, recipe="demo"))
    assert isinstance(by, pl.DataFrame)
    dispositions = by.filter(
        (pl.col("run_id") == second.run_id) & (pl.col("dimension") == "call_disposition")
    )
    assert dict(zip(dispositions["value"], dispositions["leads"], strict=True)) == {
        "(none)": 56,
        "recovered": 1,
        "callback_requested": 1,
        "not_interested": 1,
        "no_answer": 1,
    }
