"""The documented SQL views over the results tables (``views/*.sql``, BigQuery dialect).

Each file reads ``{analysis}``, ``{ignored}`` and ``{runs}``: `view_sql` puts
the tables' names in. The same text runs on BigQuery and, transpiled, on the
local DuckDB warehouse (`common.results.cli`: ``lead-recovery results kpis``).
On BigQuery `create_views` makes them real views (``CREATE OR REPLACE VIEW``)
for a Looker Studio data source; Terraform creates the same views from the same
files (infra/bigquery.tf).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

import pyarrow as pa

from common.errors import ConfigError

if TYPE_CHECKING:
    from common.ports.warehouse import JobOptions, Warehouse
    from common.results.tables import ResultsTables

VIEWS = ("recovery_kpis", "recovery_kpis_by_dimension", "lead_history")


def view_sql(name: str, tables: ResultsTables, *, project: str | None = None) -> str:
    """The view's SELECT with the tables' names (``project.`` in front when given)."""
    if name not in VIEWS:
        raise ConfigError(
            "unknown view", where="results views", expected=", ".join(VIEWS), found=name
        )
    text = resources.files("common.results").joinpath(f"views/{name}.sql").read_text("utf-8")
    prefix = f"{project}." if project else ""
    for placeholder, table in (
        ("{analysis}", tables.analysis),
        ("{ignored}", tables.ignored),
        ("{runs}", tables.runs),
    ):
        text = text.replace(placeholder, f"`{prefix}{table.dataset}.{table.name}`")
    return text


def query_view(
    warehouse: Warehouse,
    name: str,
    tables: ResultsTables,
    *,
    recipe: str | None = None,
    job: JobOptions | None = None,
) -> pa.Table:
    """Run one view's SELECT (optionally for one recipe), ordered by run start."""
    body = view_sql(name, tables)
    lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
    sql = f"SELECT * FROM ({chr(10).join(lines)}) AS v"  # noqa: S608 - identifiers from settings
    params: dict[str, str] = {}
    if recipe is not None:
        sql += " WHERE recipe = @recipe"
        params["recipe"] = recipe
    sql += " ORDER BY run_started_at, run_id"
    return warehouse.query(sql, params, where=f"results view {name}", job=job)


def create_views(warehouse: Warehouse, tables: ResultsTables, *, project: str) -> list[str]:
    """``CREATE OR REPLACE VIEW`` each view in the results dataset (BigQuery)."""
    made = []
    for name in VIEWS:
        body = view_sql(name, tables, project=project)
        target = f"`{project}.{tables.analysis.dataset}.{name}`"
        warehouse.query(f"CREATE OR REPLACE VIEW {target} AS\n{body}", {}, where=f"view {name}")
        made.append(target)
    return made
