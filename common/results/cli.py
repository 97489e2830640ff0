"""``lead-recovery leads show`` and ``lead-recovery results kpis|views``: the results tables.

Registered on the main group by `common.cli` (``register(main)``, one line).
"""

from __future__ import annotations

import sys
from typing import Any

import click
import polars as pl

from common.errors import LeadRecoveryError

SHOWN = (
    "run_id",
    "run_started_at",
    "current_state",
    "current_reason",
    "current_score",
    "change",
    "call_attempts",
    "call_disposition",
    "ignore_reason",
)
"""Columns `leads show` prints per run (then any ``cluster*`` column)."""


def _context(backend: str | None) -> tuple[Any, Any, Any]:
    from common.backends import build_backends
    from common.results.tables import ResultsTables
    from common.settings import Settings

    overrides: dict[str, Any] = {"backend": backend} if backend else {}
    settings = Settings(**overrides)
    return build_backends(settings).warehouse, ResultsTables.from_settings(settings), settings


def _fail(err: LeadRecoveryError) -> None:
    click.secho(f"error: {err}", fg="red", err=True)
    sys.exit(1)


def lead_trajectory(warehouse: Any, tables: Any, lead_key: str, recipe: str | None) -> pl.DataFrame:
    """Every results row of one lead (analysed and ignored), oldest run first."""
    frames = []
    params: dict[str, Any] = {"lead_key": lead_key}
    condition = "lead_key = @lead_key"
    if recipe:
        condition += " AND recipe = @recipe"
        params["recipe"] = recipe
    for table in (tables.analysis, tables.ignored):
        if warehouse.has_table(table):
            rows = warehouse.query(
                f"SELECT * FROM {table.sql_name} WHERE {condition}",  # noqa: S608 - identifiers from settings
                params,
                where=f"results {table.name}",
            )
            frame = pl.from_arrow(rows)
            assert isinstance(frame, pl.DataFrame)
            frames.append(frame)
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed").sort(["run_started_at", "run_id"])


def format_trajectory(frame: pl.DataFrame) -> str:
    """One block per recipe, one line per run: state, reason, score, cluster, change, calls."""
    lines = []
    for (recipe,), group in frame.group_by(["recipe"], maintain_order=True):
        lines.append(f"recipe {recipe}")
        clusters = [c for c in group.columns if c.startswith("cluster")]
        for row in group.iter_rows(named=True):
            parts = [f"  {row['run_id']}", f"{row['run_started_at']:%Y-%m-%d %H:%M}"]
            labels = {
                "state": row.get("current_state"),
                "reason": row.get("current_reason"),
                "score": row.get("current_score"),
                **{c: row.get(c) for c in clusters},
                "change": row.get("change"),
                "calls": row.get("call_attempts") or 0,
                "disposition": row.get("call_disposition"),
                "ignored": row.get("ignore_reason"),
            }
            parts += [f"{k}={v}" for k, v in labels.items() if v is not None]
            lines.append("  ".join(parts))
    return "\n".join(lines)


@click.group("leads")
def leads_group() -> None:
    """A lead's history across runs (the results tables)."""


@leads_group.command("show")
@click.argument("lead_key")
@click.option("--recipe", "-r", help="Only this recipe's runs.")
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
def leads_show(lead_key: str, recipe: str | None, backend: str | None) -> None:
    """Print LEAD_KEY's trajectory: state, LLM reason and score, cluster, calls, per run."""
    try:
        warehouse, tables, _ = _context(backend)
        frame = lead_trajectory(warehouse, tables, lead_key, recipe)
    except LeadRecoveryError as err:
        _fail(err)
    if frame.is_empty():
        click.secho(f"no results rows for lead {lead_key}", fg="yellow", err=True)
        sys.exit(1)
    click.echo(format_trajectory(frame))


@click.group("results")
def results_group() -> None:
    """The results tables' KPIs and views (see README: Results tables)."""


@results_group.command("kpis")
@click.option("--recipe", "-r", help="Only this recipe's runs.")
@click.option(
    "--by",
    type=click.Choice(["run", "dimension"]),
    default="run",
    show_default=True,
    help="Per run, or per run by stall reason, conversation state and call disposition.",
)
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
def results_kpis(recipe: str | None, by: str, backend: str | None) -> None:
    """Recovery KPIs (the `recovery_kpis` views) as CSV."""
    from common.results.views import query_view

    try:
        warehouse, tables, _ = _context(backend)
        name = "recovery_kpis" if by == "run" else "recovery_kpis_by_dimension"
        frame = pl.from_arrow(query_view(warehouse, name, tables, recipe=recipe))
    except LeadRecoveryError as err:
        _fail(err)
    assert isinstance(frame, pl.DataFrame)
    click.echo(frame.write_csv(), nl=False)


@results_group.command("views")
@click.option("--apply", is_flag=True, help="CREATE OR REPLACE the views in BigQuery.")
@click.option("--project", help="Project of the results dataset (default: LR_PROJECT).")
def results_views(apply: bool, project: str | None) -> None:
    """Print the views' SQL (BigQuery), or create them with --apply."""
    from common.results.views import VIEWS, create_views, view_sql

    try:
        warehouse, tables, settings = _context("gcp" if apply else None)
        project = project or settings.project
        if apply:
            for made in create_views(warehouse, tables, project=str(project)):
                click.echo(f"created {made}")
            return
        for name in VIEWS:
            click.echo(f"-- view {tables.analysis.dataset}.{name}")
            click.echo(view_sql(name, tables, project=project))
    except LeadRecoveryError as err:
        _fail(err)


def register(group: click.Group) -> None:
    """Add ``leads`` and ``results`` to the main command group."""
    for command in (leads_group, results_group):
        group.add_command(command)
