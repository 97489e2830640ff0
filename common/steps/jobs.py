"""Labels and cost guards for every warehouse job a step runs."""

from __future__ import annotations

import re

from common.ports.warehouse import JobOptions
from common.recipe import Recipe
from common.settings import Settings

_LABEL_VALUE = re.compile(r"[^a-z0-9_-]")


def label_value(value: str) -> str:
    """A BigQuery label value: lowercase letters, digits, ``_`` and ``-``, at most 63 characters."""
    return _LABEL_VALUE.sub("_", value.lower())[:63]


def job_options(settings: Settings, recipe: Recipe, *, run_id: str, step: str) -> JobOptions:
    """The labels (``recipe``, ``run_id``, ``step``) and bytes-billed cap of a recipe's jobs.

    The cap is the recipe's ``maximum_bytes_billed``, else the deployment's
    ``LR_BIGQUERY_MAXIMUM_BYTES_BILLED``, else none.
    """
    return JobOptions(
        labels={
            "app": "lead-recovery",
            "recipe": label_value(recipe.name),
            "run_id": label_value(run_id),
            "step": label_value(step),
        },
        maximum_bytes_billed=recipe.meta.maximum_bytes_billed
        or settings.bigquery_maximum_bytes_billed,
    )
