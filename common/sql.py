"""Reading recipe SQL (BigQuery dialect) without running it."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from common.errors import DataError


def parse(sql: str, *, where: str) -> exp.Expr:
    """Parse one BigQuery statement; errors name the file."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except sqlglot.errors.SqlglotError as err:
        raise DataError(f"SQL cannot be parsed as BigQuery SQL: {err}", where=where) from err
    if len(statements) != 1:
        raise DataError("expected exactly one SQL statement", where=where, found=len(statements))
    return statements[0]


def parameters(sql: str, *, where: str) -> set[str]:
    """Names of the ``@parameters`` the SQL uses."""
    return {p.name for p in parse(sql, where=where).find_all(exp.Parameter) if p.name}


def output_columns(sql: str, *, where: str) -> list[str] | None:
    """Column names of the outer SELECT, or None when it selects ``*`` (unknown)."""
    tree = parse(sql, where=where)
    names = tree.named_selects if isinstance(tree, exp.Query) else []
    return None if "*" in names or not names else list(names)


def check_parameters(sql: str, supplied: set[str], *, where: str) -> set[str]:
    """Return the parameters the SQL uses; raise if it uses one nobody supplies."""
    used = parameters(sql, where=where)
    missing = sorted(used - supplied)
    if missing:
        raise DataError(
            "SQL uses parameter(s) "
            + ", ".join("@" + m for m in missing)
            + " that are not supplied",
            where=where,
            expected="only " + (", ".join("@" + p for p in sorted(supplied)) or "no parameters"),
        )
    return used


LEAD_KEYS = "lead_keys"
"""The parameter through which conversations SQL names the leads to read."""


def scan_sql(sql: str, *, leads_table: str, shard_column: str, where: str) -> str:
    """The conversations SQL rewritten to read every lead of a run at once, tagged by shard.

    The recipe's SQL stays what the user wrote (``lead_key IN
    UNNEST(@lead_keys)``); here ``IN UNNEST(@lead_keys)`` becomes a semi-join
    with the run's leads table (``IN (SELECT lead_key FROM leads_table)``) and
    any other use of ``@lead_keys`` becomes ``ARRAY(SELECT lead_key FROM
    leads_table)``. The result is joined with that table to add each row's
    shard, so the shard is decided in SQL, by the same table the leads were
    split with. The recipe's ORDER BY is dropped (meaningless in a subquery;
    the processors order each lead's messages themselves).

    Args:
        sql: The recipe's conversations SQL (BigQuery dialect).
        leads_table: The run's leads table (``lead_key``, ``shard``) as a
            BigQuery table name, e.g. ``proj.dataset.t`` or ``_run_leads``.
        shard_column: Name of the added shard column.
        where: The SQL's origin, for errors.

    Returns:
        BigQuery-dialect SQL selecting the recipe's columns plus ``shard_column``.

    Raises:
        DataError: the SQL cannot be parsed, or has no ``lead_key`` column to join on.
    """
    tree = parse(sql, where=where)
    if not isinstance(tree, exp.Query):
        raise DataError("conversations SQL must be a query", where=where, found=tree.key)
    table = exp.to_table(leads_table, dialect="bigquery")
    for part in table.parts:
        part.set("quoted", True)  # project ids may hold dashes

    def keys_subquery() -> exp.Select:
        return exp.select("lead_key").from_(table.copy())

    for node in list(tree.find_all(exp.In)):
        unnest = node.args.get("unnest")
        if isinstance(unnest, exp.Unnest) and _is_lead_keys(unnest.expressions):
            node.set("unnest", None)
            node.set("query", exp.Subquery(this=keys_subquery()))
    for param in list(tree.find_all(exp.Parameter)):
        if param.name == LEAD_KEYS:
            param.replace(exp.Array(expressions=[keys_subquery()]))
    names = tree.named_selects
    if "*" not in names and "lead_key" not in names:
        raise DataError(
            "conversations SQL selects no `lead_key` column",
            where=where,
            expected="a `lead_key` column to split the messages by lead",
            found=names,
        )
    tree.set("order", None)
    scan = (
        exp.select("c.*")
        .select(exp.column("shard", table="l").as_(shard_column))
        .from_(exp.Subquery(this=tree, alias=exp.TableAlias(this=exp.to_identifier("c"))))
        .join(
            exp.alias_(table.copy(), "l", table=True),
            on=exp.EQ(
                this=exp.column("lead_key", table="c"), expression=exp.column("lead_key", table="l")
            ),
        )
    )
    return scan.sql(dialect="bigquery")


def _is_lead_keys(expressions: list[exp.Expr]) -> bool:
    return (
        len(expressions) == 1
        and isinstance(expressions[0], exp.Parameter)
        and expressions[0].name == LEAD_KEYS
    )
