"""Pre-validation (profiling) questions: were they asked, and did the customer answer."""

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

DEFAULT_QUESTION_PATTERNS: tuple[str, ...] = (
    r"(?i)(situaci[oó]n laboral|a qu[eé] te dedicas|d[oó]nde trabajas|trabajo actual"
    r"|ingresos? mensual(es)?|cu[aá]nto ganas|antig[uü]edad"
    r"|n[uú]mero de identificaci[oó]n|(^|\W)(rfc|curp|dni|nie|ine)(\W|$)|c[eé]dula"
    r"|(^|\W)tu (correo|e-?mail)|c[oó]digo postal|fecha de nacimiento"
    r"|en qu[eé] banco|tu (cuenta bancaria|clabe)"
    r"|para qu[eé] (usar[ií]as|quieres|necesitas) el (cr[eé]dito|pr[eé]stamo|dinero))",
    r"(?i)(employment status|are you (currently )?employed|monthly income"
    r"|how much do you (earn|make)|current job|(^|\W)id number|(^|\W)ssn(\W|$)|social security"
    r"|email address|(^|\W)zip(\W|$)|postal code|date of birth|which bank|bank account"
    r"|what would you use the (credit|loan|money) for)",
)
"""Generic profiling questions (employment, income, ID, contact, address, bank, purpose)."""

QUESTION = "_profiling_question"
ANSWERED = "_profiling_answered"


class ValidationParams(ProcessorParams):
    """Params of `ValidationProcessor`."""

    question_patterns: Patterns = Field(
        DEFAULT_QUESTION_PATTERNS,
        description="Bot/agent messages that are pre-validation / profiling questions (any of).",
    )


def validation_flags(params: ValidationParams) -> dict[str, pl.Expr]:
    """Row-level flags: a profiling question; a customer message after the last one."""
    return {
        QUESTION: text_matches(params.question_patterns, IS_STAFF),
        ANSWERED: IS_USER & after_last(pl.col(QUESTION)),
    }


def validation_aggregations() -> list[pl.Expr]:
    """Per-lead columns of `ValidationProcessor` from the `validation_flags` column."""
    asked = pl.col(QUESTION).any()
    answered = pl.col(ANSWERED).any()
    return [
        asked.alias("pre_validation_questions_asked"),
        pl.when(asked).then(answered).alias("pre_validation_answered"),
        pl.col(QUESTION).sum().cast(pl.Int64).alias("profiling_questions_count"),
    ]


@register
class ValidationProcessor(Processor):
    """Profiling questions asked, how many, and whether the customer wrote after the last one."""

    name = "ValidationProcessor"
    Params = ValidationParams
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "pre_validation_questions_asked",
            pl.Boolean(),
            "A bot/agent message asked a pre-validation / profiling question.",
        ),
        Column(
            "pre_validation_answered",
            pl.Boolean(),
            "The customer wrote after the last profiling question; null if none was asked.",
        ),
        Column("profiling_questions_count", pl.Int64(), "Bot/agent messages that are questions."),
    )

    def compute(self, messages: Frame) -> Frame:
        """One row per lead; ``messages`` is ordered by lead and time."""
        params = self.params
        assert isinstance(params, ValidationParams)
        return aggregate(messages, validation_flags(params), validation_aggregations())
