"""Eval outputs: expectations in words, confusion layout, CSV rows, an HTML page that escapes."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from common.evals.fields import FieldSpec
from common.evals.model import EvalRun, Prepared, PreparedCase, Variant, VariantResult
from common.evals.report import write_csvs
from common.evals.report_html import render_html
from common.evals.report_text import confusion_labels, describe_expectation, text_comparison
from common.evals.scoring import Verdict, score_cases
from common.evals.sets import EvalCase, EvalSet, EvalSetHeader, Expectation, JudgeSpec
from common.observability.prices import DEFAULT_LLM_PRICES

FIELDS = {
    "reason": FieldSpec("reason", "categorical", ("NO_REPLY", "PRICE", "OTHER")),
    "message": FieldSpec("message", "text"),
}
MESSAGES = [{"sent_at": "2026-11-19T10:00:00Z", "sender": "user", "text": "hola"}]
RUBRIC = JudgeSpec(field="message", rubric="Friendly and in the customer's language.")


def _run() -> EvalRun:
    cases = [
        EvalCase.model_validate(
            {"id": "c1", "messages": MESSAGES, "expected": {"reason": "PRICE"}}
        ),
        EvalCase.model_validate(
            {"id": "c2", "messages": MESSAGES, "expected": {"reason": ["NO_REPLY", "OTHER"]}}
        ),
    ]
    eval_set = EvalSet(
        "s",
        Path("s.yaml"),
        EvalSetHeader(judge=[RUBRIC], eval_thresholds={"reason": {"accuracy": 0.5}}),
        cases,
    )
    prepared = Prepared(
        cases=[PreparedCase(f"s/{c.id}", "s", c, (RUBRIC,)) for c in cases],
        kept=pl.DataFrame(),
        messages=pl.DataFrame(),
        digests={},
    )

    def result(name: str, reasons: tuple[str, str], message: str) -> VariantResult:
        return VariantResult(
            variant=Variant(name, prompt_name=f"{name}.txt"),
            model="gpt-4o-mini",
            provider="openai",
            answers={
                "s/c1": {"reason": reasons[0], "message": message},
                "s/c2": {"reason": reasons[1], "message": "ok"},
            },
            reasons={"s/c1": None, "s/c2": None},
            verdicts={"s/c1": {"message": Verdict(2, ("too <b>pushy</b>",))}},
        )

    return EvalRun(
        recipe="demo",
        sets=[eval_set],
        prepared=prepared,
        fields=FIELDS,
        variants=[
            result("A", ("PRICE", "NO_REPLY"), "<script>alert(1)</script>"),
            result("B", ("OTHER", "PRICE"), "hola"),
        ],
    )


def test_expectations_read_as_words() -> None:
    assert describe_expectation(Expectation.parse("PRICE")) == "PRICE"
    assert describe_expectation(Expectation.parse(["A", "B"])) == "any of A | B"
    assert describe_expectation(Expectation.parse({"min": 10, "max": 30})) == "10 to 30"
    assert describe_expectation(Expectation.parse({"equals": 30, "tolerance": 5})) == "30 ± 5"
    assert describe_expectation(Expectation.parse({"contains_any": ["pag", "paid"]})) == (
        'contains one of "pag", "paid"'
    )


def test_confusion_layout_follows_the_field_values() -> None:
    run = _run()
    score = score_cases(run.scored(run.variants[1]), FIELDS)["reason"]
    rows, columns = confusion_labels(score, FIELDS["reason"])
    assert rows == ["PRICE", "NO_REPLY|OTHER"]
    assert columns == ["PRICE", "OTHER"]  # answered OTHER and PRICE, expected PRICE


def test_csvs_and_comparison_text(tmp_path: Path) -> None:
    run = _run()
    names = [p.name for p in write_csvs(run, tmp_path)]
    assert names == ["summary.csv", "cases.csv", "confusion.csv", "gates.csv", "comparison.csv"]
    gates = (tmp_path / "gates.csv").read_text().splitlines()
    assert gates[1] == "A,s,reason,accuracy,0.5,1.0,True"
    cases = (tmp_path / "cases.csv").read_text()
    assert "A,s,c1,,message,,<script>alert(1)</script>,,,2,too <b>pushy</b>," in cases
    text = text_comparison(run)
    rows = [line.split() for line in text.splitlines()]
    assert ["s", "reason", "accuracy", "1.000", "0.000", "-1.000", "A", "better"] in rows
    assert "answers that differ: reason: 2/2, message: 1/2" in text


def test_html_escapes_answers_and_reasons() -> None:
    html = render_html(_run(), DEFAULT_LLM_PRICES)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "too &lt;b&gt;pushy&lt;/b&gt;" in html
    assert "thresholds met" in html and "Answers that differ between A and B" in html
    assert "default-src 'none'" in html
