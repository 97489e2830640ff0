"""What an analysis works on and gives back: items, outcomes, and the counters of a batch.

Shared by the `Analyzer` (`common.llm.analysis`), its batch side
(`common.llm.batch`), the rules and the modes, none of which need each other
for these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ANSWER_SOURCE = "answer_source"
"""Column of the summaries shard saying where each answer came from (one of `SOURCES`)."""
SOURCES = ("rule", "cache", "model", "batch")
"""Where an answer came from: a recipe rule (`llm.rules`, no call), the summary cache, an
online call to the model, or a provider batch. A failed item has no source."""


@dataclass(frozen=True)
class Item:
    """One conversation to analyse."""

    lead_key: str
    fields: Mapping[str, Any]
    """Lead and processor columns the prompt may use."""
    digest: str


@dataclass
class Outcome:
    """What happened to one item."""

    lead_key: str
    answer: dict[str, Any] | None = None
    reason: str | None = None
    """Why there is no answer (goes to ignored.csv)."""
    cached: bool = False
    repaired: bool = False
    source: str | None = None
    """One of `SOURCES` once there is an answer (None: no answer)."""
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class AnalysisStats:
    """Counters of one batch, for the run document."""

    conversations: int = 0
    cache_hits: int = 0
    llm_calls: int = 0
    repairs: int = 0
    ignored: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    batch_calls: int = 0
    """Answers a provider batch gave (their tokens are also in input/output_tokens)."""
    batch_input_tokens: int = 0
    batch_output_tokens: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    """Answers by source (`SOURCES`); summed over shards like the other counters."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return dict(self.__dict__)


def count_sources(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """Answered outcomes by source: every name of `SOURCES`, zeros included."""
    counts = dict.fromkeys(SOURCES, 0)
    for outcome in outcomes:
        if outcome.answer is not None and outcome.source is not None:
            counts[outcome.source] = counts.get(outcome.source, 0) + 1
    return counts


def count_batch(
    stats: AnalysisStats, outcome: Outcome, input_tokens: int, output_tokens: int
) -> None:
    """Count one answer a provider batch gave (its tokens count as the outcome's too)."""
    stats.batch_calls += 1
    stats.batch_input_tokens += input_tokens
    stats.batch_output_tokens += output_tokens
    stats.input_tokens += input_tokens
    stats.output_tokens += output_tokens
    outcome.input_tokens += input_tokens
    outcome.output_tokens += output_tokens
