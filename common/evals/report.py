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
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from common.evals.runner import ALL, EvalRun, VariantResult
from common.evals.scoring import NO_ANSWER, FieldScore, check, compare_scores
from common.evals.sets import Expectation, FieldSpec

SUMMARY_METRICS = ("accuracy", "mae", "bias", "answered_rate", "judge_mean", "judge_pass_rate")
COMPARED_METRICS = ("accuracy", "mae", "judge_mean", "judge_pass_rate")
"""Metrics the terminal comparison always shows (others only when A and B differ)."""


def describe_expectation(exp: Expectation) -> str:
    """``PRICE_OR_TERMS`` / ``any of A | B`` / ``contains "x"`` / ``<= 30``…"""
    parts: list[str] = []
    if exp.equals is not None:
        parts.append(str(exp.equals) + (f" ± {exp.tolerance:g}" if exp.tolerance else ""))
    if exp.any_of is not None:
        parts.append("any of " + " | ".join(map(str, exp.any_of)))
    if exp.contains is not None:
        parts.append("contains " + ", ".join(f'"{s}"' for s in exp.contains))
    if exp.contains_any is not None:
        parts.append("contains one of " + ", ".join(f'"{s}"' for s in exp.contains_any))
    if exp.not_contains is not None:
        parts.append("not " + ", ".join(f'"{s}"' for s in exp.not_contains))
    if exp.min is not None and exp.max is not None:
        parts.append(f"{exp.min:g} to {exp.max:g}")
    elif exp.min is not None:
        parts.append(f">= {exp.min:g}")
    elif exp.max is not None:
        parts.append(f"<= {exp.max:g}")
    return "; ".join(parts)


def _fmt(value: float | None, metric: str = "") -> str:
    if value is None:
        return "-"
    if metric in ("mae", "bias", "judge_mean"):
        return f"{value:.2f}"
    return f"{value:.3f}"


def _delta(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if metric in ("mae", "bias", "judge_mean") else f"{value:+.3f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    body = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in body) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in body
    )


# --- terminal -------------------------------------------------------------------------


def text_scores(run: EvalRun, result: VariantResult) -> str:
    """Per set and field: cases, answered, accuracy, MAE, judge mean, for one variant.

    With `llm.rules`, the rules-only baseline's accuracy and MAE stand beside
    (``rules acc``, ``rules mae``): what the variant has to beat.
    """
    base = run.baseline
    rows = []
    for group in run.groups():
        baseline = run.scores(base, group) if base is not None else {}
        for name, score in run.scores(result, group).items():
            row = [
                group,
                name,
                str(score.cases),
                f"{score.answered}/{score.cases}",
                _fmt(score.accuracy),
                _fmt(score.mae, "mae"),
                _fmt(score.judge_mean, "judge_mean"),
            ]
            if base is not None:
                rules = baseline.get(name)
                row += [
                    _fmt(rules.accuracy if rules else None),
                    _fmt(rules.mae if rules else None, "mae"),
                ]
            rows.append(row)
    header = ["set", "field", "n", "answered", "accuracy", "mae", "judge"]
    if base is not None:
        header += ["rules acc", "rules mae"]
    return _table(header, rows)


def confusion_labels(score: FieldScore, spec: FieldSpec) -> tuple[list[str], list[str]]:
    """Rows (expected labels) and columns (answered labels) of a confusion table.

    Both follow the field's own order of values; the columns also hold every
    single expected label (so the diagonal reads straight), ``(no answer)`` last;
    ``any_of`` rows (``A|B``) come after the single ones.
    """
    order = {_label_of(v): i for i, v in enumerate(spec.values or ())}

    def key(label: str) -> tuple[int, str]:
        return (order.get(label, len(order) + (label == NO_ANSWER)), label)

    rows = sorted(score.confusion, key=lambda label: ("|" in label, key(label)))
    answered = {p for row in score.confusion.values() for p in row}
    columns = sorted(answered | {r for r in rows if "|" not in r}, key=key)
    return rows, columns


def _label_of(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def text_gates(run: EvalRun, result: VariantResult) -> str:
    """One line per threshold: ok/FAIL, set, field and the comparison."""
    lines = []
    for g in run.gates(result):
        mark = "skip" if g.skipped else ("ok  " if g.passed else "FAIL")
        lines.append(f"{mark}  {g.set_name}: {g.field} {g.describe()}")
    return "\n".join(lines) or "(no eval_thresholds in the eval sets)"


def text_comparison(run: EvalRun) -> str:
    """Per set, field and metric: A, B, B−A and the better side; then which answers changed."""
    a, b = run.variants[0], run.variants[1]
    rows = []
    for group in run.groups():
        for diff in compare_scores(run.scores(a, group), run.scores(b, group)):
            if diff.metric not in COMPARED_METRICS and diff.better in ("=", "?"):
                continue  # side metrics only when they differ
            rows.append(
                [
                    group,
                    diff.field,
                    diff.metric,
                    _fmt(diff.a, diff.metric),
                    _fmt(diff.b, diff.metric),
                    _delta(diff.delta, diff.metric),
                    {"A": "A better", "B": "B better", "=": "same", "?": "-"}[diff.better],
                ]
            )
    table = _table(["set", "field", "metric", "A", "B", "B-A", ""], rows)
    changed = answer_change_counts(run)
    total = len(run.prepared.cases)
    lines = [f"{name}: {count}/{total}" for name, count in changed.items() if name in run.fields]
    return table + "\nanswers that differ: " + (", ".join(lines) or "none")


def answer_change_counts(run: EvalRun) -> dict[str, int]:
    """Field → number of cases whose answer differs between A and B."""
    from common.evals.scoring import answer_changes

    a, b = run.variants[0], run.variants[1]
    changes = answer_changes(a.answers, b.answers, list(run.fields))
    return {name: len(keys) for name, keys in changes.items()}


# --- CSV ------------------------------------------------------------------------------


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


# --- HTML -----------------------------------------------------------------------------

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
                row = [_td(name), _td(metric), _td(_fmt(va, metric), "n")]
                if two:
                    delta = None if va is None or vb is None else vb - va
                    row += [_td(_fmt(vb, metric), "n"), _td(_delta(delta, metric), "n")]
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
    from common.observability.metrics import metrics_rows

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


def write_report(run: EvalRun, out: Path, prices: Mapping[str, Any]) -> list[Path]:
    """Every CSV and report.html in ``out``; returns their paths."""
    paths = write_csvs(run, out)
    html = out / "report.html"
    html.write_text(render_html(run, prices), encoding="utf-8")
    return [*paths, html]
