"""LLM modes of the summarize step, registered by the name in `llm.mode`.

- ``analyze`` (default): one structured answer per conversation, fields from
  ``llm.output_schema``.
- ``score``: a 0-100 score against the recipe's ICP / scoring criteria, with
  the signals that raised or lowered it; an outreach subject and message only
  for leads at or above ``llm.scoring.threshold``.
- ``extract``: messages grouped (per lead or per a lead column) and cut into
  batches; each batch gives a typed event list, then one follow-up per group
  (e.g. an investor update) from all of its events.

Each mode declares the columns it adds (so recipes can list them in
``output_columns``) and turns a shard's kept leads and their messages into one
row per lead. A mode that reads files of its own may also have a
``validate(recipe)`` hook, called when the recipe is loaded (`validate_recipe`).
See ``docs/llm-modes.md``.
"""

from __future__ import annotations

from typing import Any

from common.errors import RecipeError
from common.llm.modes.base import Mode


def get_mode(name: str) -> Mode:
    """The mode called ``name``; unknown names list the valid ones."""
    from common.llm.modes.analyze import AnalyzeMode
    from common.llm.modes.extract import ExtractMode
    from common.llm.modes.score import ScoreMode

    modes: dict[str, Mode] = {
        "analyze": AnalyzeMode(),
        "score": ScoreMode(),
        "extract": ExtractMode(),
    }
    try:
        return modes[name]
    except KeyError:
        raise RecipeError(
            f"unknown llm mode `{name}`", where="llm.mode", expected="one of " + ", ".join(modes)
        ) from None


def validate_recipe(recipe: Any) -> None:
    """Run the recipe's mode's load-time checks (its ``validate`` hook, when it has one).

    Raises:
        RecipeError: a file the mode reads is missing, or a setting or
            placeholder names something the pipeline does not supply.
    """
    if recipe.llm is None:
        return
    hook = getattr(get_mode(recipe.llm.mode), "validate", None)
    if hook is not None:
        hook(recipe)
