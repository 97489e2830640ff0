"""`lead-recovery clusters`: the clusters a recipe keeps between runs."""

from __future__ import annotations

from pathlib import Path

import click

from common.cli._shared import backend_option, friendly, load_settings, recipes_dir_option
from common.errors import RecipeError
from common.recipe.loader import META, load_recipe


@click.group()
def clusters() -> None:
    """Manage the clusters a recipe keeps between runs (`clustering.refit: incremental`)."""


@clusters.command("refit")
@click.argument("name")
@backend_option
@recipes_dir_option
@friendly
def clusters_refit(name: str, backend: str | None, recipes_dir: Path | None) -> None:
    """Make NAME's next run fit its clusters from scratch instead of assigning to the stored ones."""
    from common.backends import build_backends
    from common.clustering.assign import request_refit

    settings = load_settings(backend, recipes_dir)
    recipe = load_recipe(name, settings.recipes_dir)
    if not recipe.meta.clustering:
        raise RecipeError(
            "the recipe has no clustering section: nothing to refit",
            where=f"{name}/{META}",
            expected="a `clustering:` section",
        )
    request_refit(build_backends(settings).blobs, name)
    click.echo(f"{name}: the next run fits its clusters from scratch")
