"""The eval report as one self-contained HTML page (inline CSS, no script, no network).

Every value is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from common.evals.fields import FieldSpec
from common.evals.model import ALL, EvalRun, VariantResult
from common.evals.report_text import (
    SUMMARY_METRICS,
    answer_change_counts,
    confusion_labels,
    describe_expectation,
    format_delta,
    format_metric,
)
from common.evals.scoring import FieldScore, check
from common.observability.metrics import metrics_rows

_CSS = """
body{margin:0;padding:0 24px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:17px;margin:26px 0 8px}h3{font-size:14px;margin:14px 0 6px}
.muted{color:#5b6675}.verdict{font-size:16px;font-weight:600}.ok{color:#1a7f37}.fail{color:#c62828}
table{border-collapse:collapse;margin:4px 0 10px}th,td{border:1px solid #dde3ea;padding:3px 8px;vertical-align:top;text-align:left}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.pass{background:#e9f7ef}td.miss{background:#fdecea}td.diag{background:#e9f7ef}
.cases td{max-width:360px}.small{font-size:12px}
"""


def _h(value: Any) -> str:
    return escape("" if value is None else str(value))


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]], css: str = "") -> str:
    head = "".join(f"<th>{_h(h)}</th>" for h in header)
    thead = f"<thead><tr>{head}</tr></thead>" if any(header) else ""
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f'<table class="{css}">{thead}<tbody>{body}</tbody></table>'


def _td(value: Any, css: str = "") -> str:
    return f'<td class="{css}">{_h(value)}</td>' if css else f"<td>{_h(value)}</td>"


def _scores_html(run: EvalRun) -> str:
    parts = []
    two = len(run.variants) > 1
    for group in run.groups():
        a = run.scores(run.variants[0], group)
        b = run.scores(run.variants[1], group) if two else {}
        rows = []
        for name, score in a.items():
            for metric in SUMMARY_METRICS:
                va = score.metric(metric)
                vb = b[name].metric(metric) if name in b else None
                if va is None and vb is None:
                    continue
                row = [_td(name), _td(metric), _td(format_metric(va, metric), "n")]
                if two:
                    delta = None if va is None or vb is None else vb - va
                    row += [
                        _td(format_metric(vb, metric), "n"),
                        _td(format_delta(delta, metric), "n"),
                    ]
                rows.append(row)
        header = ["field", "metric", "A"] + (["B", "B−A"] if two else [])
        parts.append(f"<h3>{_h(group)} ({_h(_count(run, group))} cases)</h3>")
        parts.append(_html_table(header, rows))
    return "".join(parts)


def _count(run: EvalRun, group: str) -> int:
    return sum(1 for p in run.prepared.cases if group in (ALL, p.set_name))


def _confusion_html(score: FieldScore, spec: FieldSpec) -> str:
    expected_labels, answered = confusion_labels(score, spec)
    rows = []
    for expected in expected_labels:
        row = score.confusion[expected]
        cells = [f"<th>{_h(expected)}</th>"]
        for label in answered:
            count = row.get(label, 0)
            hit = label in expected.split("|")
            cells.append(_td(count or "", "n diag" if hit and count else "n"))
        rows.append(cells)
    return _html_table(["expected \\ answered", *answered], rows)


def _metrics_html(result: VariantResult, prices: Any) -> str:
    metrics = result.metrics(prices)
    rows = [[_td(label), _td(text)] for label, text in metrics_rows(metrics)]
    html = f"<h3>{_h(result.label)}</h3>" + _html_table(["", ""], rows)
    if "judge" in metrics:
        judge = [[_td(label), _td(text)] for label, text in metrics_rows(metrics["judge"])]
        html += f"<h3>judge ({_h(result.judge_provider)}/{_h(result.judge_model)})</h3>"
        html += _html_table(["", ""], judge)
    return html


def _cases_html(run: EvalRun) -> str:
    names = [v.variant.name for v in run.variants]
    rows = []
    for prepared in run.prepared.cases:
        case = prepared.case
        judged = {j.field for j in prepared.judges}
        fields = list(dict.fromkeys([*case.expected, *judged]))
        for i, name in enumerate(fields):
            exp = case.expected.get(name)
            row = []
            if i == 0:
                span = f' rowspan="{len(fields)}"'
                title = (
                    f'{_h(case.id)}<div class="small muted">{_h(prepared.set_name)} '
                    f"{_h(' '.join(case.tags))}</div>"
                )
                if case.notes:
                    title += f"<div class=small>{_h(case.notes)}</div>"
                row.append(f"<td{span}>{title}</td>")
            row += [_td(name), _td(describe_expectation(exp) if exp else "(judged)")]
            for result in run.variants:
                answer = result.answers.get(prepared.key)
                value = (answer or {}).get(name)
                outcome = check(exp, value, run.fields[name].kind) if exp else None
                css = (
                    ""
                    if outcome is None or outcome.passed is None
                    else ("pass" if outcome.passed else "miss")
                )
                text = (
                    value
                    if answer is not None
                    else f"(no answer: {result.reasons.get(prepared.key)})"
                )
                verdict = result.verdicts.get(prepared.key, {}).get(name)
                cell = _h(text)
                if outcome is not None and outcome.error is not None:
                    cell += f" <span class=muted>({outcome.error:+g})</span>"
                if verdict is not None:
                    shown = verdict.score if verdict.score is not None else verdict.error
                    cell += f"<div class=small>judge: {_h(shown)}"
                    if verdict.reasons:
                        cell += " — " + _h("; ".join(verdict.reasons))
                    cell += "</div>"
                row.append(f'<td class="{css}">{cell}</td>')
            rows.append(row)
    return _html_table(["case", "field", "expected", *names], rows, "cases")


def render_html(run: EvalRun, prices: Any, *, generated_at: datetime | None = None) -> str:
    """The whole report as one HTML page."""
    generated = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    first = run.variants[0]
    gates = run.gates(first)
    verdict = (
        '<p class="verdict muted">no thresholds set</p>'
        if not gates
        else (
            '<p class="verdict ok">thresholds met</p>'
            if all(g.passed for g in gates)
            else f'<p class="verdict fail">{sum(not g.passed for g in gates)} threshold(s) not met</p>'
        )
    )
    gate_rows = [
        [
            _td(
                "skip" if g.skipped else ("ok" if g.passed else "FAIL"),
                "" if g.skipped else ("pass" if g.passed else "miss"),
            ),
            _td(g.set_name),
            _td(g.field),
            _td(g.describe()),
        ]
        for g in gates
    ]
    variants = "".join(f"<li>{_h(r.label)}</li>" for r in run.variants)
    confusion = []
    for result in run.variants:
        for name, score in run.scores(result, ALL).items():
            if score.confusion:
                confusion.append(f"<h3>{_h(result.variant.name)}: {_h(name)}</h3>")
                confusion.append(_confusion_html(score, run.fields[name]))
    comparison = ""
    if len(run.variants) > 1:
        counts = answer_change_counts(run)
        total = len(run.prepared.cases)
        comparison = "<h2>Answers that differ between A and B</h2>" + _html_table(
            ["field", "cases"], [[_td(k), _td(f"{v}/{total}", "n")] for k, v in counts.items()]
        )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>eval {_h(run.recipe)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Eval: {_h(run.recipe)}</h1>"
        f'<p class="muted">{len(run.prepared.cases)} cases from '
        f"{_h(', '.join(s.name for s in run.sets))}; generated {_h(generated)}</p>"
        f"<ul>{variants}</ul>{verdict}"
        + (_html_table(["", "set", "field", "threshold"], gate_rows) if gate_rows else "")
        + "<h2>Scores</h2>"
        + _scores_html(run)
        + comparison
        + "<h2>Run metrics</h2>"
        + "".join(_metrics_html(r, prices) for r in run.variants)
        + ("<h2>Confusion tables (all cases)</h2>" + "".join(confusion) if confusion else "")
        + "<h2>Cases</h2>"
        + _cases_html(run)
        + "</body></html>"
    )
