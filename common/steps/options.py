"""Check a run's options against its recipe before any work starts."""

from __future__ import annotations

from common.messages import RunOptions
from common.recipe import Recipe
from common.steps.process import select_processors
from common.steps.report import requested_columns


def check_run_options(recipe: Recipe, options: RunOptions) -> None:
    """Raise `TerminalError` if a processor or column flag names something unknown."""
    select_processors(recipe, options)
    requested_columns(recipe, options)
