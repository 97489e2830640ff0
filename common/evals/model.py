"""The data of an eval: variants, prepared cases, each variant's results, and the run.

`EvalRun` scores on demand (`common.evals.scoring`); preparing the cases is
`common.evals.prepare`, running them `common.evals.runner`, judging them
`common.evals.judge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from common.evals.fields import FieldSpec
from common.evals.scoring import FieldScore, Gate, ScoredCase, Verdict, gate, score_cases
from common.evals.sets import EvalCase, EvalSet, JudgeSpec

IGNORE = "ignore_reason"
ALL = "all"
"""Name of the group of every case (next to each set's name)."""


@dataclass(frozen=True)
class Variant:
    """One configuration to evaluate."""

    name: str
    """``A`` or ``B``."""
    prompt: str | None = None
    """Prompt template; None: the recipe's."""
    prompt_name: str = "prompt.txt"
    model: str | None = None
    """Model; None: LR_LLM_MODEL or the recipe's."""


@dataclass(frozen=True)
class PreparedCase:
    """A case ready to run: its key in the frames, its set and rubrics."""

    key: str
    """``<set>/<id>``: the ``lead_key`` of its rows."""
    set_name: str
    case: EvalCase
    judges: tuple[JudgeSpec, ...]


@dataclass
class Prepared:
    """Every case's features and messages, as the LLM mode takes them."""

    cases: list[PreparedCase]
    kept: pl.DataFrame
    messages: pl.DataFrame
    digests: dict[str, str]
    """Case key → conversation digest (what the judge reads)."""
    lead_columns: list[str] = field(default_factory=list)
    """The lead fields (before processors), for the judge's view of the lead."""


@dataclass
class VariantResult:
    """One variant's answers, verdicts and counters."""

    variant: Variant
    model: str | None
    provider: str | None
    answers: dict[str, dict[str, Any] | None]
    reasons: dict[str, str | None]
    verdicts: dict[str, dict[str, Verdict]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    judge_stats: dict[str, Any] = field(default_factory=dict)
    judge_client: dict[str, Any] = field(default_factory=dict)
    judge_seconds: float = 0.0
    judge_model: str | None = None
    judge_provider: str | None = None

    @property
    def label(self) -> str:
        """``A: prompt.txt @ openai/gpt-4o-mini``."""
        return f"{self.variant.name}: {self.variant.prompt_name} @ {self.provider}/{self.model}"

    def metrics(self, prices: Any) -> dict[str, Any]:
        """Run metrics of this variant (answers and judge): tokens, cost, cache, latency."""
        from common.observability.metrics import run_metrics

        marks = [
            {
                "step": "eval",
                "status": "done",
                "attempts": 1,
                "result": {"llm": self.stats, "client": self.client, "seconds": self.seconds},
            }
        ]
        answer = run_metrics(
            {"ignored": sum(1 for r in self.reasons.values() if r), "seconds": self.seconds},
            marks,
            prices,
            model=self.model,
            provider=self.provider,
        )
        if self.judge_stats:
            judge_marks = [
                {
                    "step": "eval_judge",
                    "status": "done",
                    "attempts": 1,
                    "result": {
                        "llm": self.judge_stats,
                        "client": self.judge_client,
                        "seconds": self.judge_seconds,
                    },
                }
            ]
            answer["judge"] = run_metrics(
                {"ignored": 0, "seconds": self.judge_seconds},
                judge_marks,
                prices,
                model=self.judge_model,
                provider=self.judge_provider,
            )
        return answer


@dataclass
class EvalRun:
    """The outcome of an eval: cases, fields, one or two variants; scoring on demand."""

    recipe: str
    sets: list[EvalSet]
    prepared: Prepared
    fields: dict[str, FieldSpec]
    variants: list[VariantResult]
    judged: bool = True
    """Whether the judge ran (judge thresholds are skipped otherwise)."""
    baseline: VariantResult | None = None
    """What the recipe's `llm.rules` alone answer (None: the recipe has no rules)."""

    def scored(self, result: VariantResult, set_name: str = ALL) -> list[ScoredCase]:
        """The cases of one set (or all) with ``result``'s answers and verdicts."""
        return [
            ScoredCase(
                case_id=p.case.id,
                set_name=p.set_name,
                expected=p.case.expected,
                judges=p.judges,
                answer=result.answers.get(p.key),
                verdicts=result.verdicts.get(p.key, {}),
            )
            for p in self.prepared.cases
            if set_name in (ALL, p.set_name)
        ]

    def groups(self) -> list[str]:
        """``all`` (with two sets or more) and every set name that has cases."""
        names = list(dict.fromkeys(p.set_name for p in self.prepared.cases))
        return [ALL, *names] if len(names) > 1 else names

    def scores(self, result: VariantResult, set_name: str = ALL) -> dict[str, FieldScore]:
        """Per-field scores of ``result`` over one set (or all cases)."""
        return score_cases(self.scored(result, set_name), self.fields)

    def gates(self, result: VariantResult) -> list[Gate]:
        """Every set's thresholds checked against ``result`` over that set's cases."""
        gates: list[Gate] = []
        for eval_set in self.sets:
            if eval_set.header.eval_thresholds:
                gates += gate(
                    self.scores(result, eval_set.name),
                    eval_set.header.eval_thresholds,
                    eval_set.name,
                    judged=self.judged,
                )
        return gates
