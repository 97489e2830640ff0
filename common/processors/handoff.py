"""Handoff to a human advisor: was it offered, what did the customer answer, was it done."""

from __future__ import annotations

from typing import ClassVar

import polars as pl
from pydantic import Field

from common.processors._expressions import (
    IS_STAFF,
    IS_USER,
    Patterns,
    after_last,
    aggregate,
    text_matches,
)
from common.processors.base import Column, Frame, Processor, ProcessorParams
from common.processors.registry import register

DEFAULT_INVITATION_PATTERNS: tuple[str, ...] = (
    r"(?i)(te gustar[ií]a|quieres|quisieras|deseas|prefieres|te parece( bien)? si).{0,60}"
    r"(asesor|agente|ejecutiv[oa]|especialista)",
    r"(?i)(would you like|do you want|shall i|should i|can i have|may i have).{0,60}"
    r"(advisor|adviser|agent|representative|specialist)",
)
DEFAULT_ACCEPT_PATTERNS: tuple[str, ...] = (
    r"(?i)^\W*(s[ií]|claro|ok|okay|va|vale|dale|de acuerdo|perfecto|me interesa)(\W|$)",
    r"(?i)^\W*(yes|yeah|yep|yup|sure|of course|sounds good)(\W|$)",
    r"^\W*👍",
)
DEFAULT_DECLINE_PATTERNS: tuple[str, ...] = (
    r"(?i)^\W*(no|nop|nope|nel|ahorita no|por ahora no|mejor no|todav[ií]a no|luego|despu[eé]s"
    r"|not now|not yet|maybe later|later)(\W|$)",
    r"(?i)(no me interesa|not interested)",
)
DEFAULT_FINALIZED_PATTERNS: tuple[str, ...] = (
    r"(?i)(^|\W)(un|una|el|la|nuestro|nuestra) (asesor|asesora|agente|ejecutiv[oa]|especialista) "
    r"(te )?(contactar[aá]|llamar[aá]|marcar[aá]|escribir[aá]|comunicar[aá])",
    r"(?i)(se pondr[aá]|nos pondremos) en contacto contigo",
    r"(?i)(^|\W)(an?|our) (advisor|adviser|agent|representative|specialist) will "
    r"(contact|call|reach out to|get in touch with) you",
    r"(?i)(^|\W)we('ll| will) (contact|call) you",
)
# No `\b` in these defaults: on non-ASCII text a Unicode word boundary sends the regex
# engine to a slow path (20-80x slower); `(^|\W)` and `(\W|$)` stay on the fast one.

INVITED = "_handoff_invited"
REPLY = "_handoff_reply"
ANSWER = "_handoff_answer"
FINALIZED = "_handoff_finalized"


class HandoffParams(ProcessorParams):
    """Params of `HandoffProcessor`: regexes, each list matched as "any of"."""

    invitation_patterns: Patterns = Field(
        DEFAULT_INVITATION_PATTERNS,
        description="Bot/agent messages that offer a human advisor.",
    )
    accept_patterns: Patterns = Field(
        DEFAULT_ACCEPT_PATTERNS, description="Customer replies that accept the offer."
    )
    decline_patterns: Patterns = Field(
        DEFAULT_DECLINE_PATTERNS,
        description="Customer replies that decline it (checked before `accept_patterns`).",
    )
    finalized_patterns: Patterns = Field(
        DEFAULT_FINALIZED_PATTERNS,
        description="Bot/agent messages confirming that an advisor will take over.",
    )


def handoff_flags(params: HandoffParams) -> dict[str, pl.Expr]:
    """Row-level flags: invitation, answer label, answer after the last invitation, confirmation."""
    return {
        INVITED: text_matches(params.invitation_patterns, IS_STAFF),
        REPLY: pl.when(text_matches(params.decline_patterns, IS_USER))
        .then(pl.lit("declined"))
        .when(text_matches(params.accept_patterns, IS_USER))
        .then(pl.lit("accepted")),
        ANSWER: pl.when(after_last(pl.col(INVITED))).then(pl.col(REPLY)),
        FINALIZED: text_matches(params.finalized_patterns, IS_STAFF),
    }


def handoff_aggregations() -> list[pl.Expr]:
    """Per-lead columns of `HandoffProcessor` from the `handoff_flags` columns."""
    offered = pl.col(INVITED).any()
    answer = pl.col(ANSWER).first(ignore_nulls=True).fill_null("no_answer")
    return [
        offered.alias("handoff_invitation_offered"),
        pl.when(offered).then(answer).alias("handoff_response"),
        pl.col(FINALIZED).any().alias("handoff_finalized"),
    ]


@register
class HandoffProcessor(Processor):
    """Handoff invitation offered, the customer's answer to the last one, handoff finalised.

    The answer is the first customer message after the *last* invitation that
    matches `decline_patterns` (checked first) or `accept_patterns`; other
    messages in between (questions, small talk) are skipped.
    """

    name = "HandoffProcessor"
    Params = HandoffParams
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "handoff_invitation_offered",
            pl.Boolean(),
            "A bot/agent message offered to put the customer in touch with a human advisor.",
        ),
        Column(
            "handoff_response",
            pl.String(),
            "Answer to the last invitation: accepted, declined or no_answer; null if none offered.",
        ),
        Column(
            "handoff_finalized",
            pl.Boolean(),
            "A bot/agent message confirmed that an advisor will take over.",
        ),
    )

    def compute(self, messages: Frame) -> Frame:
        """One row per lead; ``messages`` is ordered by lead and time."""
        params = self.params
        assert isinstance(params, HandoffParams)
        return aggregate(messages, handoff_flags(params), handoff_aggregations())
