"""`lead-recovery run`: run a recipe end to end (here, or by publishing to the cloud)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from common.cli._shared import EXIT_FAILED, friendly, load_settings
from common.recipe.loader import load_recipe
from common.run_output import print_plan, sources_line


def _csv_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise click.BadParameter(
            f"expected ISO 8601 like 2026-11-20T18:00:00Z, got {value!r}"
        ) from err
    if parsed.tzinfo is None:
        raise click.BadParameter("add a time zone, e.g. 2026-11-20T18:00:00Z")
    return parsed


@click.command()
@click.option("--recipe", "-r", required=True, help="Recipe folder name under the recipes dir.")
@click.option(
    "--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND for this run."
)
@click.option(
    "--recipes-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Recipes folder (default: recipes/).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Process only the first N leads.")
@click.option(
    "--skip-leads-query", is_flag=True, help="Use the uploaded leads.csv instead of leads.sql."
)
@click.option(
    "--skip-processor",
    "skip_processors",
    multiple=True,
    metavar="NAME",
    help="Do not run this processor (repeatable); its columns stay, empty.",
)
@click.option(
    "--run-only-processor",
    "run_only",
    multiple=True,
    metavar="NAME",
    help="Run only these processors (repeatable).",
)
@click.option(
    "--include-columns",
    callback=_csv_list,
    metavar="A,B",
    help="Write only these output columns, in this order.",
)
@click.option(
    "--exclude-columns", callback=_csv_list, metavar="A,B", help="Leave these output columns out."
)
@click.option(
    "--as-of",
    callback=_as_of,
    metavar="ISO",
    help="Reference 'now' for time features (default: run start).",
)
@click.option("--run-id", help="Choose the run id (default: <recipe>-<time>-<random>).")
@click.option(
    "--no-cache", is_flag=True, help="Ask the LLM again instead of reading cached answers."
)
@click.option("--no-progress", is_flag=True, help="No progress bars (logs only).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what the run would read (BigQuery: bytes of a dry run; locally: rows) and how "
    "many shards it would make, then stop. The leads query runs; nothing else does.",
)
@friendly
def run(
    recipe: str,
    backend: str | None,
    recipes_dir: Path | None,
    limit: int | None,
    skip_leads_query: bool,
    skip_processors: tuple[str, ...],
    run_only: tuple[str, ...],
    include_columns: tuple[str, ...],
    exclude_columns: tuple[str, ...],
    as_of: datetime | None,
    run_id: str | None,
    no_cache: bool,
    no_progress: bool,
    dry_run: bool,
) -> None:
    """Run a recipe end to end and print where its report is.

    With the local backend every step runs here, on DuckDB, a folder and
    SQLite. With --backend gcp the run request is published to the
    `recipe-runs` topic and the Cloud Functions do the work.
    """
    from common.messages import RunOptions, RunRequest
    from common.steps.options import check_run_options

    settings = load_settings(backend, recipes_dir)
    loaded = load_recipe(recipe, settings.recipes_dir)  # validate before any work
    options = RunOptions(
        limit=limit,
        skip_leads_query=skip_leads_query,
        skip_processors=skip_processors,
        run_only_processors=run_only,
        include_columns=include_columns,
        exclude_columns=exclude_columns,
        as_of=as_of,
        no_cache=no_cache,
    )
    check_run_options(loaded, options)
    if dry_run:
        print_plan(settings, RunRequest(recipe=recipe, run_id=run_id, options=options))
        return
    if settings.backend == "gcp":
        from common import chain
        from common.backends import build_backends

        bus = build_backends(settings).bus
        request = RunRequest(recipe=recipe, run_id=run_id, options=options)
        message_id = bus.publish(chain.BY_NAME["fetch_leads"].topic, request)
        click.echo(
            f"published run request {message_id} for recipe {recipe} to {settings.topic_prefix}recipe-runs"
        )
        click.echo("follow it with: lead-recovery runs list --backend gcp")
        return

    from common.local_runner import run_recipe
    from common.steps.context import StepContext

    ctx = StepContext.from_settings(settings)
    summary = run_recipe(ctx, recipe, options, run_id=run_id, progress=not no_progress)
    click.echo("")
    click.echo(f"run        {summary.run_id}  ({summary.status})")
    click.echo(f"leads      {summary.leads} in {summary.shards} shard(s)")
    click.echo(f"messages   {summary.messages}")
    click.echo(f"rows       {summary.rows} written, {summary.ignored} ignored")
    if summary.llm:
        llm = summary.llm
        click.echo(
            f"llm        {llm.get('conversations', 0)} conversations: {llm.get('cache_hits', 0)} cached, "
            f"{llm.get('llm_calls', 0)} calls, {llm.get('input_tokens', 0)}+{llm.get('output_tokens', 0)} tokens"
        )
        click.echo(f"answers    {sources_line(llm.get('sources') or {})}")
    click.echo(f"time       {summary.seconds:.2f} s")
    for name, url in summary.outputs.items():
        click.echo(f"{name:<10} {url}")
    if summary.status != "succeeded":
        if summary.first_failure:
            click.secho(f"first failure: {summary.first_failure}", fg="red", err=True)
        click.secho(
            f"run did not succeed: {json.dumps(summary.failures, default=str)}", fg="red", err=True
        )
        sys.exit(EXIT_FAILED)
