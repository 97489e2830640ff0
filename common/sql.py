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
