"""Which leads the HTML report's table puts first (the rule is in docs/reports.md).

The page embeds at most ``html_max_rows`` leads; these are the ones to call
first: by score when the run has one, else by how recently the lead wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from common.recipe import Recipe

LAST_USER_HOURS = "HOURS_SINCE_LAST_USER_MESSAGE"
LAST_MESSAGE_HOURS = "HOURS_SINCE_LAST_MESSAGE"


@dataclass(frozen=True)
class Urgency:
    """The order that puts the leads to call first at the top (docs/reports.md)."""

    column: str | None
    """None: the analysis CSV's order (by lead key)."""
    descending: bool = False

    @property
    def rule(self) -> str:
        """The order in words, for the page."""
        if self.column is None:
            return "in the analysis CSV's order"
        if self.descending:
            return f"the most urgent first: highest {self.column} first"
        return f"the most urgent first: lowest {self.column} first"


def urgency(recipe: Recipe, frame: pl.DataFrame) -> Urgency:
    """Which leads to call first, from the columns the report has.

    1. A score, highest first: the LLM answer's first ``integer``/``number`` field
       whose name contains ``score``, else the first numeric column whose name does
       (``lead_score`` of the score mode).
    2. Else hours since the lead's last message, lowest first: the lead who wrote
       most recently is the warmest (``HOURS_SINCE_LAST_USER_MESSAGE``, else
       ``HOURS_SINCE_LAST_MESSAGE``).
    3. Else the CSV's order.
    """
    numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
    schema = recipe.llm.output_schema if recipe.llm is not None else {}
    fields = [n for n, spec in schema.items() if spec.type in ("integer", "number")]
    for name in [*fields, *numeric]:
        if name in numeric and "score" in name.lower():
            return Urgency(name, descending=True)
    for name in (LAST_USER_HOURS, LAST_MESSAGE_HOURS):
        if name in numeric:
            return Urgency(name)
    return Urgency(None)


def most_urgent(frame: pl.DataFrame, order: Urgency, limit: int) -> pl.DataFrame:
    """The first ``limit`` rows of ``frame`` by ``order`` (empty values last; ties by the
    hours since the last user message, then in the frame's order)."""
    if order.column is None:
        return frame.head(limit)
    by, descending = [order.column], [order.descending]
    if order.column != LAST_USER_HOURS and LAST_USER_HOURS in frame.columns:
        by.append(LAST_USER_HOURS)
        descending.append(False)
    return frame.sort(by, descending=descending, nulls_last=True, maintain_order=True).head(limit)
