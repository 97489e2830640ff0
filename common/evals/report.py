"""Eval outputs: text tables for the terminal, CSV files and one self-contained HTML page.

Files written to the output folder:

- ``summary.csv``: variant, set, field and every metric;
- ``cases.csv``: one row per variant, case and field: expected, answer, pass,
  error, judge score and reasons, why there was no answer;
- ``confusion.csv``: variant, set, field, expected, answered, count;
- ``gates.csv``: the thresholds checked (variant A);
- ``comparison.csv`` (two variants): set, field, metric, A, B, B−A, better;
- ``report.html``: all of it on one page (inline CSS, no script, no network),
  every value HTML-escaped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from common.evals.model import EvalRun
from common.evals.report_html import render_html
from common.evals.report_text import SUMMARY_METRICS, describe_expectation
from common.evals.scoring import check, compare_scores


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def summary_rows(run: EvalRun) -> list[list[Any]]:
    """Rows of summary.csv."""
    rows: list[list[Any]] = []
    for result in [*run.variants, *([run.baseline] if run.baseline is not None else [])]:
        for group in run.groups():
            for name, score in run.scores(result, group).items():
                metrics = score.metrics()
                rows.append(
                    [
                        result.variant.name,
                        group,
                        name,
                        score.kind,
                        score.cases,
                        score.answered,
                        *[metrics[m] for m in SUMMARY_METRICS],
                        score.judge_errors,
                    ]
                )
    return rows


def case_rows(run: EvalRun) -> list[list[Any]]:
    """Rows of cases.csv (one per variant, case and expected or judged field)."""
    rows: list[list[Any]] = []
    for result in run.variants:
        for prepared in run.prepared.cases:
            case = prepared.case
            answer = result.answers.get(prepared.key) or {}
            verdicts = result.verdicts.get(prepared.key, {})
            judged = {j.field for j in prepared.judges}
            for name in dict.fromkeys([*case.expected, *judged]):
                exp = case.expected.get(name)
                value = answer.get(name)
                outcome = check(exp, value, run.fields[name].kind) if exp else None
                verdict = verdicts.get(name)
                rows.append(
                    [
                        result.variant.name,
                        prepared.set_name,
                        case.id,
                        " ".join(case.tags),
                        name,
                        describe_expectation(exp) if exp else "",
                        value,
                        None if outcome is None or outcome.passed is None else outcome.passed,
                        None if outcome is None else outcome.error,
                        verdict.score if verdict else None,
                        " | ".join(verdict.reasons) if verdict else None,
                        result.reasons.get(prepared.key) or (verdict.error if verdict else None),
                    ]
                )
    return rows


def write_csvs(run: EvalRun, out: Path) -> list[Path]:
    """summary.csv, cases.csv, confusion.csv, gates.csv (and comparison.csv) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "summary.csv": _csv(
            [
                "variant",
                "set",
                "field",
                "kind",
                "cases",
                "answered",
                *SUMMARY_METRICS,
                "judge_errors",
            ],
            summary_rows(run),
        ),
        "cases.csv": _csv(
            [
                "variant",
                "set",
                "case_id",
                "tags",
                "field",
                "expected",
                "answer",
                "passed",
                "error",
                "judge_score",
                "judge_reasons",
                "no_answer_reason",
            ],
            case_rows(run),
        ),
        "confusion.csv": _csv(
            ["variant", "set", "field", "expected", "answered", "count"],
            (
                [r.variant.name, group, name, expected, answered, count]
                for r in run.variants
                for group in run.groups()
                for name, score in run.scores(r, group).items()
                for expected, row in sorted(score.confusion.items())
                for answered, count in sorted(row.items())
            ),
        ),
        "gates.csv": _csv(
            ["variant", "set", "field", "metric", "threshold", "value", "passed"],
            (
                [
                    run.variants[0].variant.name,
                    g.set_name,
                    g.field,
                    g.metric,
                    g.threshold,
                    g.value,
                    g.passed,
                ]
                for g in run.gates(run.variants[0])
            ),
        ),
    }
    if len(run.variants) > 1:
        a, b = run.variants[0], run.variants[1]
        files["comparison.csv"] = _csv(
            ["set", "field", "metric", "a", "b", "delta", "better"],
            (
                [group, d.field, d.metric, d.a, d.b, d.delta, d.better]
                for group in run.groups()
                for d in compare_scores(run.scores(a, group), run.scores(b, group))
            ),
        )
    paths = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def write_report(run: EvalRun, out: Path, prices: Mapping[str, Any]) -> list[Path]:
    """Every CSV and report.html in ``out``; returns their paths."""
    paths = write_csvs(run, out)
    html = out / "report.html"
    html.write_text(render_html(run, prices), encoding="utf-8")
    return [*paths, html]
