"""Checks across a recipe's sections, once its files are read: processors, columns, clustering text."""

from __future__ import annotations

from datetime import UTC, datetime

from common.clustering.config import LLM_SUMMARY_FIELD, ClusteringConfig
from common.errors import RecipeError
from common.processors import ProcessorContext
from common.processors.registry import build as build_processor
from common.recipe.recipe import Recipe
from common.text import did_you_mean


def check_clustering_text(recipe: Recipe, config: ClusteringConfig) -> None:
    """``llm_summary`` needs an LLM `summary` field; ``column`` a column someone produces."""
    if config.text == "user_messages":
        return
    produced = {c: who for c, who in recipe.produced_columns().items() if who != "cluster"}
    if config.text == "llm_summary":
        if produced.get(LLM_SUMMARY_FIELD) == "llm":
            return
        raise RecipeError(
            f"text `llm_summary` needs an LLM answer field `{LLM_SUMMARY_FIELD}`",
            where=recipe.where(field="clustering.text"),
            expected=f"an `llm` section whose output_schema has `{LLM_SUMMARY_FIELD}`, or "
            "`{column: NAME}`",
        )
    column = config.text.column
    if column in produced or recipe.lead_columns is None:
        return  # with `SELECT *` leads the column may exist; the step checks again
    hint = did_you_mean(column, produced)
    raise RecipeError(
        f"`{column}`: no lead column, processor or LLM field produces the text to cluster"
        + (f"; did you mean `{hint}`?" if hint else ""),
        where=recipe.where(field="clustering.text.column"),
        expected="one of " + ", ".join(sorted(produced)),
    )


def check_processors(recipe: Recipe) -> None:
    context = ProcessorContext(as_of=datetime.now(UTC), timezone=recipe.meta.timezone)
    names = []
    for i, spec in enumerate(recipe.meta.python_processors):
        where = recipe.where(field=f"python_processors[{i}]")
        processor = build_processor(spec.module, spec.params, context, where=where)
        if processor.name in names:
            raise RecipeError(f"{processor.name} is listed twice", where=where)
        names.append(processor.name)


def check_output_columns(recipe: Recipe) -> None:
    if recipe.lead_columns is None:
        # `SELECT *` in leads SQL: lead columns are unknown until it runs, so any
        # name could be one; the report step checks again against real columns.
        return
    produced = recipe.produced_columns()
    for i, column in enumerate(recipe.meta.output_columns):
        if column not in produced:
            hint = did_you_mean(column, produced)
            raise RecipeError(
                f"`{column}`: no processor, lead column or LLM field produces this column"
                + (f"; did you mean `{hint}`?" if hint else ""),
                where=recipe.where(field=f"output_columns[{i}]"),
                expected="one of " + ", ".join(sorted(produced)),
            )
