"""What the LLM modes share: their protocol, their result and plan, and helpers.

The registry (`common.llm.modes.get_mode`) imports the modes; the modes import
this module, never the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from common.errors import LeadRecoveryError, RecipeError
from common.llm.config import LLMConfig, prompt_placeholders
from common.llm.prompts import CONVERSATION, check_prompt
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


@dataclass
class LLMPlan:
    """What a mode would do over some conversations, found without a call (`--dry-run`)."""

    conversations: int = 0
    rule_answers: int = 0
    """Conversations a rule answers outright (no call)."""
    cache_hits: int = 0
    requests: list[Any] = field(default_factory=list)
    """The `LLMRequest`s the cache does not answer: the calls to make (before repairs)."""
    cached_answers: list[dict[str, Any]] = field(default_factory=list)
    """The cached answers found (their size estimates the output of the calls to make)."""
    note: str | None = None
    """What the plan leaves out (e.g. calls that depend on the first answers)."""


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


def read_recipe_file(recipe: Any, name: str, *, field_name: str, purpose: str) -> str:
    """The text of ``name`` in the recipe folder; a clear RecipeError when missing or empty.

    Args:
        recipe: The recipe (its ``path`` and ``where``).
        name: File name relative to the recipe folder.
        field_name: The meta.yml field that names the file (for the message).
        purpose: What the file holds, for the message.

    Raises:
        RecipeError: the file does not exist, is not inside the recipe folder, or is empty.
    """
    folder = Path(recipe.path).resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder):
        raise RecipeError(
            f"{field_name}: `{name}` is outside the recipe folder",
            where=recipe.where(),
            expected=f"a file name inside {recipe.where(file='')}",
        )
    if not path.is_file():
        raise RecipeError(
            f"{field_name}: file `{name}` not found",
            where=recipe.where(),
            expected=f"{purpose} at {recipe.where(file=name)}",
        )
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise RecipeError(
            f"{field_name}: file `{name}` is empty", where=recipe.where(file=name), expected=purpose
        )
    return text


def check_extra_prompt(
    recipe: Any, template: str, file: str, *, extra: set[str], conversation: bool
) -> None:
    """Check a mode's second prompt: placeholders are lead/processor columns or ``extra``.

    Skipped when the leads' columns are unknown (``SELECT *``), like the main prompt.

    Args:
        recipe: The recipe being loaded.
        template: The prompt text.
        file: Its file name in the recipe folder (for messages).
        extra: Placeholders the mode supplies besides the columns.
        conversation: Whether ``{conversation}`` is supplied to this prompt.

    Raises:
        RecipeError: an unknown placeholder, with the valid ones.
    """
    where = recipe.where(file=file)
    if not conversation:
        try:
            names = prompt_placeholders(template)
        except ValueError as err:
            raise RecipeError(f"prompt has a broken placeholder: {err}", where=where) from err
        if CONVERSATION in names:
            raise RecipeError(
                f"placeholder `{{{CONVERSATION}}}`: this prompt is not given a conversation",
                where=where,
                expected="lead or processor columns, or one of "
                + ", ".join(f"{{{n}}}" for n in sorted(extra)),
            )
    if recipe.lead_columns is None:
        return
    supplied = {c for c, who in recipe.produced_columns().items() if who != "llm"} | extra
    try:
        check_prompt(template, supplied, where=where)
    except LeadRecoveryError as err:
        raise RecipeError(err.message, where=err.where, expected=err.expected) from err


def call_counters(stats: Any) -> dict[str, Any]:
    """The call counters of one `AnalysisStats` (a mode counts leads and ignores itself)."""
    keep = ("cache_hits", "llm_calls", "repairs", "input_tokens", "output_tokens")
    return {k: v for k, v in stats.as_dict().items() if k in keep}


def reason_counts(reasons: list[str | None]) -> dict[str, int]:
    """Ignore reasons by kind (the text before the first colon)."""
    counts: dict[str, int] = {}
    for reason in reasons:
        if reason:
            kind = reason.split(":", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
    return counts
