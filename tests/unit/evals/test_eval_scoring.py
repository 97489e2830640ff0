"""Scoring math: checks, accuracy and confusion, MAE, judge scores, thresholds, A/B diffs."""

from __future__ import annotations

import pytest

from common.evals.fields import FieldSpec
from common.evals.scoring import (
    NO_ANSWER,
    FieldDiff,
    ScoredCase,
    Verdict,
    answer_changes,
    check,
    compare_scores,
    gate,
    score_cases,
)
from common.evals.sets import Expectation, JudgeSpec

FIELDS = {
    "reason": FieldSpec("reason", "categorical", ("NO_REPLY", "PRICE", "OTHER")),
    "score": FieldSpec("score", "numeric", None, 0, 100),
    "message": FieldSpec("message", "text"),
    "flag": FieldSpec("flag", "categorical", (True, False)),
}
RUBRIC = JudgeSpec(field="message", rubric="Friendly and in the customer's language.")


def _case(i: int, expected: dict, answer: dict | None, **kw) -> ScoredCase:
    return ScoredCase(
        case_id=f"c{i}",
        set_name="s",
        expected={k: Expectation.parse(v) for k, v in expected.items()},
        answer=answer,
        **kw,
    )


# --- one check ----------------------------------------------------------------------


def test_categorical_checks_equals_and_any_of() -> None:
    assert check(Expectation.parse("PRICE"), "PRICE", "categorical").passed is True
    assert check(Expectation.parse("PRICE"), "OTHER", "categorical").passed is False
    assert check(Expectation.parse("PRICE"), None, "categorical").passed is False
    hit = check(Expectation.parse(["PRICE", "OTHER"]), "OTHER", "categorical")
    assert hit.passed and hit.expected_label == "OTHER" and hit.predicted_label == "OTHER"
    miss = check(Expectation.parse(["PRICE", "OTHER"]), "NO_REPLY", "categorical")
    assert not miss.passed and miss.expected_label == "PRICE|OTHER"
    assert check(Expectation.parse(True), True, "categorical").passed is True
    assert check(Expectation.parse(True), False, "categorical").passed is False


def test_numeric_checks_error_tolerance_and_bounds() -> None:
    plain = check(Expectation.parse(30), 42, "numeric")
    assert plain.passed is None and plain.error == 12  # MAE only, no pass/fail
    assert check(Expectation.parse(30), None, "numeric").error is None
    assert check(Expectation.parse({"equals": 30, "tolerance": 10}), 39, "numeric").passed
    assert not check(Expectation.parse({"equals": 30, "tolerance": 10}), 41, "numeric").passed
    assert check(Expectation.parse({"max": 20}), 20, "numeric").passed
    assert not check(Expectation.parse({"min": 50, "max": 80}), 81, "numeric").passed
    assert not check(Expectation.parse({"max": 20}), None, "numeric").passed


def test_text_checks_ignore_case_and_accents() -> None:
    assert check(Expectation.parse({"contains": ["PAGÓ", "ayer"]}), "ya pago Ayer", "text").passed
    assert not check(
        Expectation.parse({"contains": ["pago", "hoy"]}), "ya pagó ayer", "text"
    ).passed
    assert check(Expectation.parse({"contains_any": ["paid", "pag"]}), "Ya pagó", "text").passed
    assert not check(Expectation.parse({"not_contains": "tasa"}), "La TASA es 5%", "text").passed
    assert check(Expectation.parse("Hola  Ana"), "hola ana", "text").passed
    assert not check(Expectation.parse({"contains": "x"}), None, "text").passed


# --- aggregates ---------------------------------------------------------------------


def test_accuracy_and_confusion_count_missing_answers_as_wrong() -> None:
    cases = [
        _case(1, {"reason": "PRICE"}, {"reason": "PRICE"}),
        _case(2, {"reason": "PRICE"}, {"reason": "OTHER"}),
        _case(3, {"reason": "NO_REPLY"}, {"reason": "NO_REPLY"}),
        _case(4, {"reason": "NO_REPLY"}, None),
        _case(5, {"reason": ["PRICE", "OTHER"]}, {"reason": "OTHER"}),
    ]
    score = score_cases(cases, FIELDS)["reason"]
    assert (score.cases, score.answered, score.checked, score.passed) == (5, 4, 5, 3)
    assert score.accuracy == pytest.approx(3 / 5)
    assert score.answered_rate == pytest.approx(4 / 5)
    assert score.confusion == {
        "PRICE": {"PRICE": 1, "OTHER": 1},
        "NO_REPLY": {"NO_REPLY": 1, NO_ANSWER: 1},
        "OTHER": {"OTHER": 1},
    }
    assert score.mae is None and score.judge_mean is None


def test_mae_and_bias_over_exact_values_only() -> None:
    cases = [
        _case(1, {"score": 30}, {"score": 40}),  # +10
        _case(2, {"score": 80}, {"score": 60}),  # -20
        _case(3, {"score": 50}, None),  # no answer: no error
        _case(4, {"score": {"max": 20}}, {"score": 90}),  # bounds: accuracy, not MAE
    ]
    score = score_cases(cases, FIELDS)["score"]
    assert score.mae == pytest.approx(15.0)
    assert score.bias == pytest.approx(-5.0)
    assert (score.checked, score.passed, score.accuracy) == (1, 0, 0.0)
    assert score.answered == 3


def test_judge_mean_and_pass_rate() -> None:
    judged = {"judges": (RUBRIC,)}
    cases = [
        _case(1, {}, {"message": "a"}, verdicts={"message": Verdict(5, ("good",))}, **judged),
        _case(2, {}, {"message": "b"}, verdicts={"message": Verdict(2, ("pushy",))}, **judged),
        _case(3, {}, {"message": "c"}, verdicts={"message": Verdict(None, error="503")}, **judged),
        _case(4, {}, None, **judged),  # no answer: fails the pass rate, has no score
    ]
    score = score_cases(cases, FIELDS)["message"]
    assert score.judge_mean == pytest.approx(3.5)
    assert score.judge_errors == 1
    assert score.judge_pass_rate == pytest.approx(1 / 3)  # 1 pass of 3 judged (error left out)
    assert score.answered_rate == pytest.approx(3 / 4)


def test_fields_follow_the_recipe_order() -> None:
    cases = [_case(1, {"message": {"contains": "a"}, "reason": "PRICE"}, {})]
    assert list(score_cases(cases, FIELDS)) == ["reason", "message"]


# --- thresholds ---------------------------------------------------------------------


def test_gate_directions_boundaries_and_unmeasured() -> None:
    cases = [
        _case(1, {"reason": "PRICE", "score": 30}, {"reason": "PRICE", "score": 40}),
        _case(2, {"reason": "PRICE", "score": 30}, {"reason": "OTHER", "score": 50}),
    ]
    scores = score_cases(cases, FIELDS)  # accuracy 0.5, mae 15
    results = gate(
        scores,
        {"reason": {"accuracy": 0.5}, "score": {"mae": 15, "accuracy": 0.1}},
        "s",
    )
    by = {(g.field, g.metric): g for g in results}
    assert by[("reason", "accuracy")].passed  # equal to the threshold passes
    assert by[("score", "mae")].passed
    assert not by[("score", "accuracy")].passed and by[("score", "accuracy")].value is None
    assert "not measured" in by[("score", "accuracy")].describe()
    failing = gate(scores, {"reason": {"accuracy": 0.51}, "score": {"mae": 14.9}}, "s")
    assert [g.passed for g in failing] == [False, False]
    assert failing[1].describe() == "mae 15.000 > 14.9"


def test_judge_thresholds_are_skipped_when_the_judge_did_not_run() -> None:
    scores = score_cases([_case(1, {}, {"message": "x"}, judges=(RUBRIC,))], FIELDS)
    [result] = gate(scores, {"message": {"judge_mean": 4}}, "s", judged=False)
    assert result.passed and result.skipped
    [result] = gate(scores, {"message": {"judge_mean": 4}}, "s", judged=True)
    assert not result.passed  # judge errors only: not measured


# --- comparison ---------------------------------------------------------------------


def test_comparison_says_which_side_is_better_per_metric() -> None:
    a = score_cases(
        [
            _case(1, {"reason": "PRICE", "score": 30}, {"reason": "PRICE", "score": 50}),
            _case(2, {"reason": "OTHER", "score": 30}, {"reason": "PRICE", "score": 50}),
        ],
        FIELDS,
    )
    b = score_cases(
        [
            _case(1, {"reason": "PRICE", "score": 30}, {"reason": "OTHER", "score": 35}),
            _case(2, {"reason": "OTHER", "score": 30}, {"reason": "PRICE", "score": 25}),
        ],
        FIELDS,
    )
    diffs = {(d.field, d.metric): d for d in compare_scores(a, b)}
    acc = diffs[("reason", "accuracy")]
    assert (acc.a, acc.b, acc.delta, acc.better) == (0.5, 0.0, -0.5, "A")
    mae = diffs[("score", "mae")]
    assert (mae.a, mae.b, mae.better) == (20.0, 5.0, "B")  # lower error wins
    assert diffs[("score", "bias")].better == "="
    assert ("reason", "mae") not in diffs  # measured on neither side
    assert FieldDiff("f", "accuracy", None, 0.3).better == "?"


def test_answer_changes_lists_cases_per_field() -> None:
    a = {"k1": {"reason": "PRICE", "message": "Hola"}, "k2": {"reason": "OTHER"}, "k3": None}
    b = {"k1": {"reason": "PRICE", "message": "hola "}, "k2": {"reason": "PRICE"}, "k3": {}}
    assert answer_changes(a, b, ["reason", "message"]) == {"reason": ["k2"], "message": []}
