"""Scores of one variant's answers against the expectations, thresholds and A/B differences.

Per field, over the cases that expect something of it:

- **categorical** (a category or a boolean): ``accuracy`` (the answer equals the
  expected value, or is one of ``any_of``) and a **confusion table**
  expected → answered (``(no answer)`` when the case got none);
- **numeric**: ``mae`` (mean absolute error over the cases with an exact
  expected value and an answer) and ``bias`` (mean signed error, answer minus
  expected); ``accuracy`` over the cases with a pass/fail test (``min``/``max``,
  ``any_of``, ``equals`` with ``tolerance``);
- **text**: ``accuracy`` of ``equals`` / ``any_of`` / ``contains`` /
  ``contains_any`` / ``not_contains`` (case and accents ignored);
- **judged** fields (any kind with a rubric): ``judge_mean`` (mean 1-5 score of
  the judged answers) and ``judge_pass_rate`` (share of the cases with a rubric
  whose answer scored at least ``pass_score``; a missing answer fails, a judge
  call that failed is left out and counted in ``judge_errors``).

A case without an answer (the LLM call failed, or its answer was invalid) fails
every pass/fail check and counts against ``answered_rate``; it has no error
for ``mae``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as _field
from statistics import fmean
from typing import Any

from common.evals.fields import FieldSpec
from common.evals.sets import METRICS, Expectation, JudgeSpec, Kind, normalize_text

NO_ANSWER = "(no answer)"


@dataclass(frozen=True)
class Verdict:
    """The judge's answer for one field of one case."""

    score: int | None
    reasons: tuple[str, ...] = ()
    error: str | None = None
    """Why there is no score (the judge call failed, or there was no answer to judge)."""


@dataclass(frozen=True)
class Check:
    """One expectation checked against one answer."""

    passed: bool | None
    """None: the expectation has no pass/fail test (a numeric ``equals`` without tolerance)."""
    error: float | None = None
    """Numbers with an exact expected value: answer minus expected."""
    expected_label: str | None = None
    """Categorical: the row of the confusion table."""
    predicted_label: str | None = None


@dataclass(frozen=True)
class ScoredCase:
    """What scoring needs of one case: expectations, rubrics, the answer, the verdicts."""

    case_id: str
    set_name: str
    expected: Mapping[str, Expectation]
    judges: Sequence[JudgeSpec] = ()
    answer: Mapping[str, Any] | None = None
    verdicts: Mapping[str, Verdict] = _field(default_factory=dict)


def _label(value: Any) -> str:
    if value is None:
        return NO_ANSWER
    return str(value).lower() if isinstance(value, bool) else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return float(str(value)) if value is not None else None
        except ValueError:
            return None
    return float(value)


def _same(kind: Kind, expected: Any, value: Any) -> bool:
    if kind == "text":
        return normalize_text(expected) == normalize_text(value)
    if kind == "numeric":
        return _number(expected) == _number(value)
    return _label(expected) == _label(value)


def check(expectation: Expectation, value: Any, kind: Kind) -> Check:
    """Check ``value`` (None: no answer) against ``expectation`` for a field of ``kind``."""
    tests: list[bool] = []
    error: float | None = None
    exp = expectation
    if exp.equals is not None and kind == "numeric":
        number = _number(value)
        error = None if number is None else number - float(exp.equals)
        if exp.tolerance is not None:
            tests.append(error is not None and abs(error) <= exp.tolerance)
    elif exp.equals is not None:
        tests.append(value is not None and _same(kind, exp.equals, value))
    if exp.any_of is not None:
        tests.append(value is not None and any(_same(kind, v, value) for v in exp.any_of))
    if exp.contains is not None:
        text = normalize_text(value) if value is not None else None
        tests.append(text is not None and all(normalize_text(s) in text for s in exp.contains))
    if exp.contains_any is not None:
        text = normalize_text(value) if value is not None else None
        tests.append(text is not None and any(normalize_text(s) in text for s in exp.contains_any))
    if exp.not_contains is not None:
        text = normalize_text(value) if value is not None else None
        tests.append(
            text is not None and not any(normalize_text(s) in text for s in exp.not_contains)
        )
    if exp.min is not None or exp.max is not None:
        number = _number(value)
        tests.append(
            number is not None
            and (exp.min is None or number >= exp.min)
            and (exp.max is None or number <= exp.max)
        )
    passed = all(tests) if tests else None
    expected_label = predicted_label = None
    if kind == "categorical":
        if exp.equals is not None:
            expected_label = _label(exp.equals)
        else:
            options = [_label(v) for v in exp.any_of or ()]
            hit = _label(value) if value is not None and _label(value) in options else None
            expected_label = hit or "|".join(options)
        predicted_label = _label(value)
    return Check(passed, error, expected_label, predicted_label)


@dataclass
class FieldScore:
    """Everything measured for one field over a group of cases."""

    field: str
    kind: Kind
    cases: int = 0
    """Cases that expect something of the field or judge it."""
    answered: int = 0
    checked: int = 0
    """Cases with a pass/fail test."""
    passed: int = 0
    errors: list[float] = _field(default_factory=list)
    confusion: dict[str, dict[str, int]] = _field(default_factory=dict)
    """Expected label → answered label → cases (categorical fields)."""
    judge_cases: int = 0
    judge_scores: list[int] = _field(default_factory=list)
    judge_passed: int = 0
    judge_errors: int = 0

    @property
    def accuracy(self) -> float | None:
        """Share of the checked cases that passed."""
        return self.passed / self.checked if self.checked else None

    @property
    def mae(self) -> float | None:
        """Mean absolute error of the answers with an exact expected value."""
        return fmean(abs(e) for e in self.errors) if self.errors else None

    @property
    def bias(self) -> float | None:
        """Mean of answer minus expected (positive: the model answers too high)."""
        return fmean(self.errors) if self.errors else None

    @property
    def answered_rate(self) -> float | None:
        """Share of the cases that got an answer for this field."""
        return self.answered / self.cases if self.cases else None

    @property
    def judge_mean(self) -> float | None:
        """Mean judge score (1-5) of the judged answers."""
        return fmean(self.judge_scores) if self.judge_scores else None

    @property
    def judge_pass_rate(self) -> float | None:
        """Share of the judged cases (errors left out) scoring at least the pass score."""
        judged = self.judge_cases - self.judge_errors
        return self.judge_passed / judged if judged > 0 else None

    def metric(self, name: str) -> float | None:
        """A metric by name (`METRICS`, plus ``bias``)."""
        value = getattr(self, name)
        return None if value is None else float(value)

    def metrics(self) -> dict[str, float | None]:
        """Every metric by name (None: not measured)."""
        return {name: self.metric(name) for name in (*METRICS, "bias")}


def score_cases(
    cases: Sequence[ScoredCase], fields: Mapping[str, FieldSpec]
) -> dict[str, FieldScore]:
    """Per-field scores over ``cases`` (fields in the recipe's order; unused fields left out)."""
    scores: dict[str, FieldScore] = {}
    for case in cases:
        answer = case.answer or {}
        judges = {j.field: j for j in case.judges}
        for name in dict.fromkeys([*case.expected, *judges]):
            spec = fields[name]
            score = scores.setdefault(name, FieldScore(name, spec.kind))
            value = answer.get(name)
            score.cases += 1
            score.answered += value is not None
            expectation = case.expected.get(name)
            if expectation is not None:
                result = check(expectation, value, spec.kind)
                if result.passed is not None:
                    score.checked += 1
                    score.passed += result.passed
                if result.error is not None:
                    score.errors.append(result.error)
                if result.expected_label is not None and result.predicted_label is not None:
                    row = score.confusion.setdefault(result.expected_label, {})
                    row[result.predicted_label] = row.get(result.predicted_label, 0) + 1
            if name in judges:
                score.judge_cases += 1
                verdict = case.verdicts.get(name)
                if value is None:
                    continue  # no answer: fails the pass rate, no score
                if verdict is None or verdict.score is None:
                    score.judge_errors += 1
                    continue
                score.judge_scores.append(verdict.score)
                score.judge_passed += verdict.score >= judges[name].pass_score
    order = list(fields)
    return dict(sorted(scores.items(), key=lambda kv: order.index(kv[0])))


# --- thresholds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """One threshold checked."""

    set_name: str
    field: str
    metric: str
    threshold: float
    value: float | None
    passed: bool
    skipped: str | None = None
    """Why the threshold was not checked (it then counts as passed)."""

    def describe(self) -> str:
        """``accuracy 0.625 >= 0.6`` / ``mae 31.0 > 25`` / ``not measured`` / ``skipped``."""
        if self.skipped:
            return f"{self.metric} skipped ({self.skipped})"
        if self.value is None:
            return f"{self.metric} not measured (no case had an answer to score)"
        op = (
            ("<=" if self.passed else ">")
            if METRICS[self.metric] == "max"
            else (">=" if self.passed else "<")
        )
        return f"{self.metric} {self.value:.3f} {op} {self.threshold:g}"


def gate(
    scores: Mapping[str, FieldScore],
    thresholds: Mapping[str, Mapping[str, float]],
    set_name: str,
    *,
    judged: bool = True,
) -> list[Gate]:
    """Check ``thresholds`` (field → metric → value) against ``scores``.

    A metric that could not be measured (no answer to score) fails; judge
    metrics are skipped when the judge did not run (``judged=False``).
    """
    gates: list[Gate] = []
    for name, metrics in thresholds.items():
        score = scores.get(name)
        for metric, threshold in metrics.items():
            value = score.metric(metric) if score is not None else None
            if not judged and metric.startswith("judge_"):
                gates.append(
                    Gate(set_name, name, metric, float(threshold), None, True, "judge not run")
                )
                continue
            if value is None:
                passed = False
            elif METRICS[metric] == "max":
                passed = value <= threshold + 1e-9
            else:
                passed = value >= threshold - 1e-9
            gates.append(Gate(set_name, name, metric, float(threshold), value, passed))
    return gates


# --- comparison -----------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDiff:
    """One metric of one field, A against B."""

    field: str
    metric: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        """B minus A."""
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def better(self) -> str:
        """``A``, ``B``, ``=`` or ``?`` (one side not measured); ``bias`` has no better side."""
        delta = self.delta
        if delta is None:
            return "?"
        if abs(delta) < 1e-9 or self.metric == "bias":
            return "="
        lower_is_better = METRICS.get(self.metric) == "max"
        return "B" if (delta < 0) == lower_is_better else "A"


def compare_scores(a: Mapping[str, FieldScore], b: Mapping[str, FieldScore]) -> list[FieldDiff]:
    """Per field and metric, A's and B's values (metrics neither side measured are left out)."""
    diffs: list[FieldDiff] = []
    for name in dict.fromkeys([*a, *b]):
        ma = a[name].metrics() if name in a else {}
        mb = b[name].metrics() if name in b else {}
        for metric in dict.fromkeys([*ma, *mb]):
            va, vb = ma.get(metric), mb.get(metric)
            if va is None and vb is None:
                continue
            diffs.append(FieldDiff(name, metric, va, vb))
    return diffs


def answer_changes(
    answers_a: Mapping[str, Mapping[str, Any] | None],
    answers_b: Mapping[str, Mapping[str, Any] | None],
    fields: Sequence[str],
) -> dict[str, list[str]]:
    """Field → the case keys whose answers differ between A and B (texts: normalized)."""
    changes: dict[str, list[str]] = {name: [] for name in fields}
    for key in answers_a.keys() | answers_b.keys():
        one, two = answers_a.get(key) or {}, answers_b.get(key) or {}
        for name in fields:
            x, y = one.get(name), two.get(name)
            if (x is None) != (y is None) or (
                x is not None and normalize_text(x) != normalize_text(y)
            ):
                changes[name].append(key)
    return {name: sorted(keys) for name, keys in changes.items()}
