"""Template detection: which outbound templates were sent, and how many went unanswered."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.processors._expressions import (
    IS_STAFF,
    IS_USER,
    TEXT,
    after_last,
    aggregate,
    check_regex,
    text_matches,
)
from common.processors.base import Column, Frame, Processor, ProcessorParams
from common.processors.registry import register


class TemplateSpec(BaseModel):
    """One template: how to recognise it, and the family it belongs to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(description="Regex (or the exact text, with `match: exact`).")
    type: str | None = Field(None, description="Family, e.g. `recovery`; see `template_type`.")


DEFAULT_TEMPLATES: dict[str, TemplateSpec] = {
    "preapproved_offer": TemplateSpec(
        pattern=r"(?i)(pre-?aprobad[oa]|pre-?approved)", type="offer"
    ),
    "recovery": TemplateSpec(
        pattern=r"(?i)(no (terminaste|completaste|concluiste) tu (solicitud|registro|tr[aá]mite)"
        r"|retomar tu (solicitud|registro|tr[aá]mite)"
        r"|(didn'?t|did not) (finish|complete) your|pick (it )?up where you left)",
        type="recovery",
    ),
    "reminder": TemplateSpec(
        pattern=r"(?i)(^\W*recordatorio(\W|$)|te recordamos|recuerda que tu"
        r"|^\W*reminder(\W|$)|friendly reminder|just a reminder)",
        type="recovery",
    ),
}
"""Generic Spanish + English templates; recipes normally list their own."""

TEMPLATE = "_template"
"""Row flag: the message is a staff message matching any counted template."""
UNANSWERED = "_template_unanswered"
"""Row flag: a template after the customer's last message (any template, if they never wrote)."""


def _template_column(index: int) -> str:
    return f"_template_{index}"


class TemplateDetectionParams(ProcessorParams):
    """Params of `TemplateDetectionProcessor`.

    ``templates`` maps a template name to its pattern, either as a plain string
    or as ``{pattern: ..., type: ...}`` when the template belongs to a family
    that ``template_type`` can select.
    """

    templates: dict[str, TemplateSpec] = Field(
        default_factory=lambda: dict(DEFAULT_TEMPLATES),
        description="Template name -> pattern, or -> {pattern, type}.",
    )
    match: Literal["regex", "exact"] = Field(
        "regex",
        description="`regex`: the pattern is searched in the text; "
        "`exact`: the whole text equals it (surrounding whitespace ignored).",
    )
    template_type: str | None = Field(
        None, description="Only templates of this `type` count; null counts every template."
    )
    skip_consecutive_count: bool = Field(
        False, description="Leave `consecutive_templates_without_reply` null."
    )

    @field_validator("templates", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"pattern": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _check(self) -> TemplateDetectionParams:
        for name, spec in self.templates.items():
            if not name.strip() or "," in name:
                raise ValueError(f"template name {name!r} must be non-empty and contain no comma")
            if self.match == "regex":
                try:
                    check_regex(spec.pattern)
                except ValueError as err:
                    raise ValueError(f"template `{name}`: {err}") from err
        if self.template_type is not None and not self.counted():
            types = sorted({s.type for s in self.templates.values() if s.type is not None})
            raise ValueError(
                f"no template has type `{self.template_type}`; "
                f"types present: {', '.join(types) or 'none'}"
            )
        return self

    def counted(self) -> dict[str, str]:
        """Name -> pattern of the templates that count (those of `template_type`), by name."""
        return {
            name: spec.pattern
            for name, spec in sorted(self.templates.items())
            if self.template_type is None or spec.type == self.template_type
        }


def _is_template(pattern: str, match: str) -> pl.Expr:
    if match == "exact":
        return IS_STAFF & (TEXT.str.strip_chars() == pattern.strip()).fill_null(False)
    return text_matches([pattern], IS_STAFF)


def template_flags(params: TemplateDetectionParams) -> dict[str, pl.Expr]:
    """Row-level flags: one per counted template, `TEMPLATE` for any of them, `UNANSWERED`."""
    per_template = {
        _template_column(i): _is_template(pattern, params.match)
        for i, pattern in enumerate(params.counted().values())
    }
    any_template = pl.any_horizontal(*map(pl.col, per_template)) if per_template else pl.lit(False)
    return {
        **per_template,
        TEMPLATE: any_template,
        UNANSWERED: pl.col(TEMPLATE) & after_last(IS_USER, if_never=True),
    }


def template_aggregations(params: TemplateDetectionParams) -> list[pl.Expr]:
    """Per-lead columns of `TemplateDetectionProcessor` (``templates_sent`` comes in `finish`)."""
    consecutive = (
        pl.lit(None, dtype=pl.Int64)
        if params.skip_consecutive_count
        else pl.col(UNANSWERED).sum().cast(pl.Int64)
    )
    return [
        *[pl.col(_template_column(i)).any() for i in range(len(params.counted()))],
        pl.col(TEMPLATE).sum().cast(pl.Int64).alias("template_count"),
        consecutive.alias("consecutive_templates_without_reply"),
        pl.col(TEMPLATE).all().alias("only_templates"),
    ]


def templates_sent(params: TemplateDetectionParams) -> pl.Expr:
    """Over the aggregated frame: comma-joined names of the templates sent, by name."""
    names = list(params.counted())
    if not names:
        return pl.lit("").alias("templates_sent")
    return pl.concat_str(
        [pl.when(pl.col(_template_column(i))).then(pl.lit(n)) for i, n in enumerate(names)],
        separator=",",
        ignore_nulls=True,
    ).alias("templates_sent")


@register
class TemplateDetectionProcessor(Processor):
    """Templates sent, how many in a row went unanswered, whether the chat is only templates.

    A template is a bot/agent message matching a configured pattern. With
    ``template_type`` set, templates of other types are ignored entirely (they
    count as ordinary messages).
    """

    name = "TemplateDetectionProcessor"
    Params = TemplateDetectionParams
    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "templates_sent",
            pl.String(),
            "Names of the templates sent, sorted, comma-separated; empty if none.",
        ),
        Column("template_count", pl.Int64(), "Messages that are templates."),
        Column(
            "consecutive_templates_without_reply",
            pl.Int64(),
            "Templates sent since the customer's last message (all, if they never wrote); "
            "null with `skip_consecutive_count`.",
        ),
        Column("only_templates", pl.Boolean(), "Every message of the conversation is a template."),
    )

    def compute(self, messages: Frame) -> Frame:
        """One row per lead; ``messages`` is ordered by lead and time."""
        params = self.params
        assert isinstance(params, TemplateDetectionParams)
        return aggregate(
            messages,
            template_flags(params),
            template_aggregations(params),
            finish=[templates_sent(params)],
        )
