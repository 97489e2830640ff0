"""Transfer from the bot to a human agent: detected, and when."""

from __future__ import annotations

from typing import ClassVar

import polars as pl
from pydantic import Field

from common.processors._expressions import (
    IS_AGENT,
    IS_BOT,
    Patterns,
    after_first,
    aggregate,
    text_matches,
)
from common.processors.base import Column, Frame, Processor, ProcessorParams
from common.processors.registry import register

DEFAULT_TRANSFER_PATTERNS: tuple[str, ...] = (
    r"(?i)(^|\W)te (transfiero|transferimos|comunico|comunicamos|paso|pasamos|canalizo|canalizamos)"
    r" con (un|una|el|la|nuestro|nuestra)?\s*(agente|asesor|asesora|ejecutiv[oa]|especialista"
    r"|persona)",
    r"(?i)transfiriendo (tu|la) (conversaci[oó]n|chat)",
    r"(?i)(transferring|connecting) you (to|with)\s",
)

ANNOUNCED = "_transfer_announced"
TRANSFER_AT = "_transfer_at"


class HumanTransferParams(ProcessorParams):
    """Params of `HumanTransferProcessor`."""

    transfer_patterns: Patterns = Field(
        DEFAULT_TRANSFER_PATTERNS,
        description="Bot messages announcing a transfer to a human agent (any of).",
    )
    agent_takeover: bool = Field(
        True,
        description="An agent message after a bot message also counts as a transfer, "
        "announced or not.",
    )


def transfer_flags(params: HumanTransferParams) -> dict[str, pl.Expr]:
    """Row-level flags: the bot announces a transfer; the time of each transfer event."""
    event = pl.col(ANNOUNCED)
    if params.agent_takeover:
        event = event | (IS_AGENT & after_first(IS_BOT))
    return {
        ANNOUNCED: text_matches(params.transfer_patterns, IS_BOT),
        TRANSFER_AT: pl.when(event).then(pl.col("sent_at")),
    }


def transfer_aggregations() -> list[pl.Expr]:
    """Per-lead columns of `HumanTransferProcessor` from the `transfer_flags` columns."""
    return [
        pl.col(TRANSFER_AT).is_not_null().any().alias("human_transfer"),
        pl.col(TRANSFER_AT).min().alias("human_transfer_at"),
    ]


@register
class HumanTransferProcessor(Processor):
    """Transfer from the bot to a human agent, and the time of the first one.

    A transfer is a bot message matching `transfer_patterns`, or (with
    `agent_takeover`) an agent message that follows a bot message.
    """

    name = "HumanTransferProcessor"
    Params = HumanTransferParams
    columns: ClassVar[tuple[Column, ...]] = (
        Column("human_transfer", pl.Boolean(), "The bot handed the chat to a human agent."),
        Column(
            "human_transfer_at",
            pl.Datetime("us", "UTC"),
            "Time of the first transfer (announcement or agent takeover); null if none.",
        ),
    )

    def compute(self, messages: Frame) -> Frame:
        """One row per lead; ``messages`` is ordered by lead and time."""
        params = self.params
        assert isinstance(params, HumanTransferParams)
        return aggregate(messages, transfer_flags(params), transfer_aggregations())
