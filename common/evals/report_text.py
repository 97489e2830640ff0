"""Eval results in words: expectations, numbers, and the tables printed in the terminal.

The CSV files (`common.evals.report`) and the HTML page
(`common.evals.report_html`) use the same wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from common.evals.fields import FieldSpec
from common.evals.model import EvalRun, VariantResult
from common.evals.scoring import NO_ANSWER, FieldScore, answer_changes, compare_scores
from common.evals.sets import Expectation

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


def format_metric(value: float | None, metric: str = "") -> str:
    if value is None:
        return "-"
    if metric in ("mae", "bias", "judge_mean"):
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_delta(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if metric in ("mae", "bias", "judge_mean") else f"{value:+.3f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    body = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in body) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in body
    )


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
                format_metric(score.accuracy),
                format_metric(score.mae, "mae"),
                format_metric(score.judge_mean, "judge_mean"),
            ]
            if base is not None:
                rules = baseline.get(name)
                row += [
                    format_metric(rules.accuracy if rules else None),
                    format_metric(rules.mae if rules else None, "mae"),
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
    order = {label_of(v): i for i, v in enumerate(spec.values or ())}

    def key(label: str) -> tuple[int, str]:
        return (order.get(label, len(order) + (label == NO_ANSWER)), label)

    rows = sorted(score.confusion, key=lambda label: ("|" in label, key(label)))
    answered = {p for row in score.confusion.values() for p in row}
    columns = sorted(answered | {r for r in rows if "|" not in r}, key=key)
    return rows, columns


def label_of(value: Any) -> str:
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
                    format_metric(diff.a, diff.metric),
                    format_metric(diff.b, diff.metric),
                    format_delta(diff.delta, diff.metric),
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
    a, b = run.variants[0], run.variants[1]
    changes = answer_changes(a.answers, b.answers, list(run.fields))
    return {name: len(keys) for name, keys in changes.items()}
