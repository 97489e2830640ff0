"""One state label per conversation, from an ordered rule table (first match wins)."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import polars as pl
from pydantic import Field

from common.processors._expressions import IS_STAFF, IS_USER, SENDER, STAFF, aggregate
from common.processors.base import Column, Frame, Processor, ProcessorParams
from common.processors.handoff import HandoffParams, handoff_aggregations, handoff_flags
from common.processors.human_transfer import (
    HumanTransferParams,
    transfer_aggregations,
    transfer_flags,
)
from common.processors.registry import register
from common.processors.validation import (
    ValidationParams,
    validation_aggregations,
    validation_flags,
)


class StateRule(NamedTuple):
    """One row of the rule table: the label, when it applies, and that as an expression."""

    label: str
    description: str
    condition: pl.Expr


_HAS_USER = "_has_user"
_HAS_STAFF = "_has_staff"
_LAST_SENDER = "_last_sender"

STATE_RULES: tuple[StateRule, ...] = (
    StateRule(
        "no_bot_messages",
        "The customer wrote but no bot or agent message exists.",
        ~pl.col(_HAS_STAFF),
    ),
    StateRule("no_user_reply", "The customer never wrote.", ~pl.col(_HAS_USER)),
    StateRule(
        "with_human_agent",
        "The bot handed the chat to a human agent (see HumanTransferProcessor).",
        pl.col("human_transfer"),
    ),
    StateRule(
        "handoff_completed",
        "A bot/agent message confirmed that an advisor will take over.",
        pl.col("handoff_finalized"),
    ),
    StateRule(
        "handoff_declined",
        "The customer declined the last handoff invitation.",
        pl.col("handoff_response") == "declined",
    ),
    StateRule(
        "handoff_pending",
        "A handoff was offered; the customer accepted it or has not answered, and it was "
        "not confirmed.",
        pl.col("handoff_invitation_offered"),
    ),
    StateRule(
        "stalled_in_profiling",
        "Profiling questions were asked and the customer has not written since the last one.",
        pl.col("pre_validation_questions_asked") & ~pl.col("pre_validation_answered"),
    ),
    StateRule(
        "stalled_after_bot",
        "The bot or an agent wrote last (a template, a nudge, an answer) and the customer "
        "has not replied.",
        pl.col(_LAST_SENDER).is_in(STAFF),
    ),
    StateRule("active", "None of the above.", pl.lit(True)),
)
"""The rule table, in order; the first rule whose condition holds gives the label."""


class ConversationStateParams(ProcessorParams):
    """Params of `ConversationStateProcessor`: the detectors its rules are built on.

    Give each block the same params as the matching processor (a YAML anchor
    does it) so that the state agrees with their columns.
    """

    handoff: HandoffParams = Field(
        default_factory=HandoffParams, description="Params of the handoff detection."
    )
    validation: ValidationParams = Field(
        default_factory=ValidationParams, description="Params of the profiling detection."
    )
    human_transfer: HumanTransferParams = Field(
        default_factory=HumanTransferParams, description="Params of the transfer detection."
    )


def _state() -> pl.Expr:
    # The first rule that holds gives the label: coalesce keeps the first non-null.
    labels = [pl.when(rule.condition).then(pl.lit(rule.label)) for rule in STATE_RULES]
    return pl.coalesce(labels).alias("conversation_state")


@register
class ConversationStateProcessor(Processor):
    """The conversation's state label, from `STATE_RULES` (documented in docs/processors.md).

    It recomputes the handoff, profiling and transfer features it
    needs from its own params; it never reads other processors' columns.
    """

    name = "ConversationStateProcessor"
    Params = ConversationStateParams
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "conversation_state",
            pl.String(),
            "Where the conversation stands: " + ", ".join(r.label for r in STATE_RULES) + ".",
        ),
    )

    def compute(self, messages: Frame) -> Frame:
        """One row per lead; ``messages`` is ordered by lead and time."""
        params = self.params
        assert isinstance(params, ConversationStateParams)
        flags = {
            **handoff_flags(params.handoff),
            **validation_flags(params.validation),
            **transfer_flags(params.human_transfer),
        }
        aggregations = [
            IS_USER.any().alias(_HAS_USER),
            IS_STAFF.any().alias(_HAS_STAFF),
            *handoff_aggregations(),
            SENDER.last().alias(_LAST_SENDER),
            *validation_aggregations(),
            *transfer_aggregations(),
        ]
        return aggregate(messages, flags, aggregations, finish=[_state()])
