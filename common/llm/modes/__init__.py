"""LLM modes of the summarize step, registered by the name in `llm.mode`.

- ``analyze`` (default): one structured answer per conversation, fields from
  ``llm.output_schema``.

Each mode declares the columns it adds (so recipes can list them in
``output_columns``) and turns a shard's kept leads and their messages into one
row per lead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from common.errors import RecipeError
from common.llm.config import LLMConfig
from common.ports.summarycache import SummaryCache
from common.settings import Settings


@dataclass
class ModeResult:
    """A shard's answers: ``lead_key``, ``ignore_reason`` and the mode's columns."""

    frame: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    """Counters for the run document (conversations, cache_hits, llm_calls, tokens…)."""
    client: dict[str, Any] = field(default_factory=dict)
    """The LLM client's counters (retries, throttled, latencies)."""


class Mode(Protocol):
    """One way of using the LLM over a shard."""

    name: str

    def columns(self, config: LLMConfig) -> dict[str, pl.DataType]:
        """Columns this mode adds, with their types."""
        ...

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
        """Answer for every lead of ``kept`` (features), given its ``messages`` (normalized)."""
        ...


def get_mode(name: str) -> Mode:
    """The mode called ``name``; unknown names list the valid ones."""
    from common.llm.modes.analyze import AnalyzeMode

    modes: dict[str, Mode] = {"analyze": AnalyzeMode()}
    try:
        return modes[name]
    except KeyError:
        raise RecipeError(
            f"unknown llm mode `{name}`", where="llm.mode", expected="one of " + ", ".join(modes)
        ) from None
