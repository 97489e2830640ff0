"""`lead-recovery recipes`: list, validate, scaffold recipes; sync their columns; print the schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from common.cli._shared import EXIT_INVALID, friendly, load_settings, recipes_dir_option
from common.errors import LeadRecoveryError, RecipeError
from common.recipe.loader import META, NAME_PATTERN, list_recipes, load_recipe, validate_all
from common.recipe.model import RecipeMeta


@click.group()
def recipes() -> None:
    """List, validate, scaffold recipes, and print the meta.yml JSON Schema."""


@recipes.command("list")
@recipes_dir_option
@friendly
def recipes_list(recipes_dir: Path | None) -> None:
    """List recipes with their description and schedule."""
    folder = load_settings(recipes_dir=recipes_dir).recipes_dir
    for name in list_recipes(folder):
        try:
            recipe = load_recipe(name, folder)
        except LeadRecoveryError:
            click.echo(f"{name:<24} (invalid: run `lead-recovery recipes validate {name}`)")
            continue
        schedule = recipe.meta.schedule
        when = f"[{schedule.cron} {schedule.timezone}]" if schedule else "[manual]"
        click.echo(f"{name:<24} {when:<34} {recipe.meta.description.strip().splitlines()[0][:80]}")


@recipes.command("validate")
@click.argument("name", required=False)
@recipes_dir_option
@friendly
def recipes_validate(name: str | None, recipes_dir: Path | None) -> None:
    """Validate one recipe (or all): keys, files, SQL parameters, processors, columns."""
    folder = load_settings(recipes_dir=recipes_dir).recipes_dir
    if name:
        load_recipe(name, folder)
        click.echo(f"ok  {name}")
        return
    results = validate_all(folder)
    for recipe, error in results.items():
        click.echo(f"ok  {recipe}" if error is None else f"ERR {recipe}: {error}")
    if any(results.values()):
        sys.exit(EXIT_INVALID)


@recipes.command("new")
@click.argument("name")
@recipes_dir_option
@friendly
def recipes_new(name: str, recipes_dir: Path | None) -> None:
    """Create recipes/NAME with a valid meta.yml, SQL files and a prompt to edit."""
    folder = load_settings(recipes_dir=recipes_dir).recipes_dir
    if not NAME_PATTERN.match(name):
        raise RecipeError(
            "invalid recipe name",
            where=name,
            expected="lowercase letters, digits and _ (starting with a letter)",
        )
    target = folder / name
    if target.exists():
        raise RecipeError("a recipe with this name exists", where=str(target))
    from common.recipe.scaffold import write_scaffold

    write_scaffold(target)
    load_recipe(name, folder)
    click.echo(
        f"created {target}/ ({META}, leads.sql, conversations.sql, prompt.txt); edit, then run `lead-recovery recipes validate {name}`"
    )


@recipes.command("sync-columns")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show the changes without writing meta.yml.")
@recipes_dir_option
@friendly
def recipes_sync_columns(name: str, dry_run: bool, recipes_dir: Path | None) -> None:
    """Update output_columns from the configured processors (NAME or `update-all`).

    Adds the columns of configured processors that are missing, removes those
    of processors the recipe no longer configures, keeps every other column.
    """
    from common.recipe.columns import apply, plan

    folder = load_settings(recipes_dir=recipes_dir).recipes_dir
    names = list_recipes(folder) if name == "update-all" else [name]
    for recipe_name in names:
        recipe = load_recipe(recipe_name, folder, check_columns=False)
        sync = plan(recipe)
        if not sync.changed:
            click.echo(f"{recipe_name}: up to date")
            continue
        click.echo(
            f"{recipe_name}: +{', +'.join(sync.added) or ' nothing'}; -{', -'.join(sync.removed) or ' nothing'}"
        )
        if not dry_run:
            apply(recipe, sync)
            load_recipe(recipe_name, folder)  # the result must still validate


@recipes.command("schema")
def recipes_schema() -> None:
    """Print the JSON Schema of meta.yml (for editor completion)."""
    schema = RecipeMeta.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Lead Recovery recipe meta.yml"
    click.echo(json.dumps(schema, indent=2))
