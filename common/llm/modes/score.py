"""``score`` mode: a 0-100 lead score against the recipe's criteria, then outreach above a threshold.

Two calls per lead, both through `Analyzer` (so both are cached by content,
validated and repaired once):

1. **Score** — system message: the ICP / scoring criteria
   (``llm.scoring.criteria`` or ``criteria_file``); user message: the recipe's
   prompt (``prompt.txt``: lead and processor columns, ``{conversation}``).
   Answer: ``score`` (0-100), ``signals_positive`` / ``signals_negative``
   (at most ``max_signals`` each) and ``rationale``.
2. **Outreach** — only for leads with ``score >= threshold``: the message prompt
   (``message_prompt_file``: lead and processor columns, ``{score}``,
   ``{signals_positive}``, ``{signals_negative}``, ``{rationale}``,
   ``{conversation}``). Answer: ``subject`` and ``message``.

The threshold is not part of the first call, so changing it reuses every
cached score and only asks for the messages that became due.

Failures: a failed score leaves the lead without an answer and its reason in
``ignore_reason`` (ignored.csv). A failed outreach message keeps the score
columns, ``outreach_eligible`` true and the outreach columns null, and sets
``ignore_reason`` to ``outreach message failed: …`` so the lead surfaces in
ignored.csv (with its score) rather than in the analysis as if it had a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, create_model

from common.counters import merge_counters
from common.llm.config import LLMConfig, ScoringConfig
from common.llm.items import ANSWER_SOURCE, AnalysisStats, Item, Outcome
from common.llm.modes.base import (
    ModeResult,
    call_counters,
    check_extra_prompt,
    read_recipe_file,
    reason_counts,
)
from common.ports.summarycache import SummaryCache
from common.processors.base import LEAD_KEY
from common.settings import Settings

IGNORE = "ignore_reason"
LIST_SEPARATOR = "; "
"""How signal lists are written into one CSV cell."""

SIGNAL_MAX_LENGTH = 160
RATIONALE_MAX_LENGTH = 400
SUBJECT_MAX_LENGTH = 120
MESSAGE_MAX_LENGTH = 900
"""Below the ~1,000 characters llama.cpp's grammar (the local provider) can bound."""

SCORE_SYSTEM = (
    "You score sales leads against the ideal customer profile (ICP) and scoring criteria "
    "below, using only the lead's fields and conversation. List the signals that raised "
    "the score and those that lowered it. Answer with one JSON object that matches the "
    "given JSON Schema exactly, and nothing else.\n\nScoring criteria:\n"
)
"""System message of the score call; the criteria text follows it verbatim."""

MESSAGE_SYSTEM = (
    "You write short, personal outreach messages for a sales team, grounded in the lead's "
    "conversation and in the signals given; never promise what the conversation does not "
    "support. Answer with one JSON object that matches the given JSON Schema exactly, and "
    "nothing else."
)

MESSAGE_FIELDS = ("score", "signals_positive", "signals_negative", "rationale")
"""Placeholders of the message prompt besides lead/processor columns and ``{conversation}``."""

COLUMNS: dict[str, pl.DataType] = {
    "lead_score": pl.Int64(),
    "score_signals_positive": pl.String(),
    "score_signals_negative": pl.String(),
    "score_rationale": pl.String(),
    "outreach_eligible": pl.Boolean(),
    "outreach_subject": pl.String(),
    "outreach_message": pl.String(),
}
"""Columns this mode adds."""


def score_model(max_signals: int) -> type[BaseModel]:
    """The answer of the score call, with at most ``max_signals`` signals per direction."""
    signals = Annotated[
        list[Annotated[str, Field(max_length=SIGNAL_MAX_LENGTH)]],
        Field(max_length=max_signals),
    ]
    fields: dict[str, Any] = {
        "score": (
            Annotated[int, Field(ge=0, le=100)],
            Field(description="How well the lead fits the criteria, 0-100."),
        ),
        "signals_positive": (signals, Field(description="Facts that raised the score.")),
        "signals_negative": (signals, Field(description="Facts that lowered the score.")),
        "rationale": (
            Annotated[str, Field(max_length=RATIONALE_MAX_LENGTH)],
            Field(description="One or two sentences on why this score."),
        ),
    }
    return create_model("LeadScore", __config__=ConfigDict(extra="forbid"), **fields)


class OutreachAnswer(BaseModel):
    """The answer of the outreach call."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=SUBJECT_MAX_LENGTH, description="Subject line, short.")
    message: str = Field(
        max_length=MESSAGE_MAX_LENGTH, description="The message, in the lead's language."
    )


def is_eligible(score: int | None, threshold: int) -> bool:
    """Whether a lead with ``score`` gets an outreach message (``score >= threshold``)."""
    return score is not None and score >= threshold


def outreach_items(items: Sequence[Item], scored: Sequence[Outcome], threshold: int) -> list[Item]:
    """The outreach call's items: leads whose score reaches ``threshold``, with their signals.

    Args:
        items: The score call's items (lead fields and digest).
        scored: Their outcomes, in the same order.
        threshold: The recipe's ``llm.scoring.threshold``.

    Returns:
        One item per eligible lead; its fields add ``score``, ``signals_positive``,
        ``signals_negative`` (``"; "``-joined) and ``rationale``.
    """
    out = []
    for item, outcome in zip(items, scored, strict=True):
        answer = outcome.answer
        if answer is None or not is_eligible(answer["score"], threshold):
            continue
        fields = {
            **item.fields,
            "score": answer["score"],
            "signals_positive": LIST_SEPARATOR.join(answer["signals_positive"]),
            "signals_negative": LIST_SEPARATOR.join(answer["signals_negative"]),
            "rationale": answer["rationale"],
        }
        out.append(Item(lead_key=item.lead_key, fields=fields, digest=item.digest))
    return out


def score_frame(
    scored: Sequence[Outcome], messages: dict[str, Outcome], threshold: int
) -> pl.DataFrame:
    """One row per scored lead: ``lead_key``, ``ignore_reason`` and `COLUMNS`.

    Args:
        scored: The score call's outcomes.
        messages: The outreach call's outcomes by lead key (eligible leads only).
        threshold: The recipe's threshold.
    """
    rows = []
    for outcome in scored:
        row: dict[str, Any] = {
            LEAD_KEY: outcome.lead_key,
            IGNORE: outcome.reason,
            ANSWER_SOURCE: outcome.source,
        }
        answer = outcome.answer
        if answer is not None:
            eligible = is_eligible(answer["score"], threshold)
            row.update(
                lead_score=answer["score"],
                score_signals_positive=LIST_SEPARATOR.join(answer["signals_positive"]),
                score_signals_negative=LIST_SEPARATOR.join(answer["signals_negative"]),
                score_rationale=answer["rationale"],
                outreach_eligible=eligible,
            )
            written = messages.get(outcome.lead_key)
            if eligible and written is not None and written.answer is not None:
                row["outreach_subject"] = written.answer["subject"]
                row["outreach_message"] = written.answer["message"]
            elif eligible:
                why = written.reason if written is not None else "not asked"
                row[IGNORE] = f"outreach message failed: {why}"
        rows.append(row)
    schema: dict[str, Any] = {
        LEAD_KEY: pl.String(),
        IGNORE: pl.String(),
        **COLUMNS,
        ANSWER_SOURCE: pl.String(),
    }
    return pl.DataFrame(
        [{name: row.get(name) for name in schema} for row in rows], schema=schema, orient="row"
    )


def criteria_text(recipe: Any) -> str:
    """The scoring criteria: inline ``criteria`` or the text of ``criteria_file``.

    Raises:
        RecipeError: the criteria file is missing or empty.
    """
    scoring: ScoringConfig = recipe.llm.scoring
    if scoring.criteria is not None:
        return scoring.criteria
    return read_recipe_file(
        recipe,
        scoring.criteria_file,
        field_name="llm.scoring.criteria_file",
        purpose="the ICP / scoring criteria (Markdown or text)",
    )


def message_prompt(recipe: Any) -> str:
    """The outreach message prompt.

    Raises:
        RecipeError: the file is missing or empty.
    """
    return read_recipe_file(
        recipe,
        recipe.llm.scoring.message_prompt_file,
        field_name="llm.scoring.message_prompt_file",
        purpose="the outreach message prompt",
    )


class ScoreMode:
    """Lead scoring with outreach above a threshold."""

    name = "score"

    def columns(self, config: LLMConfig) -> dict[str, pl.DataType]:
        """The score and outreach columns, and the score's source (`answer_source`)."""
        return {**COLUMNS, ANSWER_SOURCE: pl.String()}

    def validate(self, recipe: Any) -> None:
        """Load-time checks: the criteria and message prompt exist; its placeholders are known.

        Raises:
            RecipeError: naming the file and the meta.yml field.
        """
        criteria_text(recipe)
        check_extra_prompt(
            recipe,
            message_prompt(recipe),
            recipe.llm.scoring.message_prompt_file,
            extra=set(MESSAGE_FIELDS),
            conversation=True,
        )

    def run(
        self,
        *,
        recipe: Any,
        settings: Settings,
        cache: SummaryCache | None,
        read_cache: bool,
        kept: pl.DataFrame,
        messages: pl.DataFrame,
    ) -> ModeResult:
        """Score every conversation, then write outreach for the leads at or above threshold."""
        from common.llm.factory import build_analyzer
        from common.llm.modes.analyze import digest_items

        scoring: ScoringConfig = recipe.llm.scoring
        items, truncation = digest_items(
            kept, messages, token_budget=recipe.llm.token_budget, timezone=recipe.meta.timezone
        )
        scorer = build_analyzer(
            recipe,
            settings,
            cache,
            read_cache=read_cache,
            answer_model=score_model(scoring.max_signals),
            system=SCORE_SYSTEM + criteria_text(recipe).strip(),
            schema_name="lead_score",
        )
        scored, score_stats = scorer.run(items)
        due = outreach_items(items, scored, scoring.threshold)
        writer = scorer.variant(
            prompt=message_prompt(recipe),
            answer_model=OutreachAnswer,
            system=MESSAGE_SYSTEM,
            schema_name="outreach",
        )
        written, message_stats = writer.run(due) if due else ([], AnalysisStats())
        frame = score_frame(scored, {o.lead_key: o for o in written}, scoring.threshold)
        frame = frame.join(truncation, on=LEAD_KEY, how="left")
        reasons = frame[IGNORE].to_list()
        stats = merge_counters(
            call_counters(score_stats),
            call_counters(message_stats),
            {
                "conversations": len(items),
                "ignored": sum(1 for r in reasons if r),
                "reasons": reason_counts(reasons),
                "outreach_eligible": len(due),
                "outreach_written": sum(1 for o in written if o.answer is not None),
                "sources": score_stats.sources,  # per lead: where its score came from
            },
        )
        return ModeResult(frame, stats, scorer.client.stats.as_dict())
