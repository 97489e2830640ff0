"""Cron expressions of recipe schedules, checked as Cloud Scheduler will read them.

Cloud Scheduler takes unix-cron: five fields (minute, hour, day of month,
month, day of week), each ``*``, numbers or three-letter names, with ranges
(``1-5``), lists (``1,3``) and steps (``*/15``). `croniter` checks each
field's values, so ``99 25 * * 9`` is refused when the recipe loads rather
than at ``terraform apply``; Quartz-only syntax (``L``, ``W``, ``#``, ``?``),
which croniter would take and Cloud Scheduler refuses, is refused too.
"""

from __future__ import annotations

import re

EXAMPLE = "0 10-18 * * 1-5"
FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day of week", "0-7 or SUN-SAT, 0 and 7 both Sunday"),
)
# One value of a field: `*`, a number or a three-letter name (between `,`, `-` and `/`).
_ATOM = re.compile(r"^(\*|\d+|[A-Za-z]{3})$")


def check_cron(expression: str) -> str:
    """``expression`` itself when Cloud Scheduler can run it.

    Raises:
        ValueError: not five fields, or which fields are wrong and the values each takes.
    """
    from croniter import croniter  # ~20 ms to import: only where a schedule is read

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"expected five cron fields (minute hour day-of-month month day-of-week) like "
            f"`{EXAMPLE}`, got {len(fields)} in {expression!r}"
        )
    wrong = []
    for index, ((name, valid), field) in enumerate(zip(FIELDS, fields, strict=True)):
        alone = ["*"] * 5
        alone[index] = field
        atoms = re.split(r"[,/-]", field)
        if not all(_ATOM.match(a) for a in atoms) or not croniter.is_valid(" ".join(alone)):
            wrong.append(f"{name} `{field}` (expected {valid})")
    if wrong:
        raise ValueError(f"invalid cron expression {expression!r}: " + "; ".join(wrong))
    if not croniter.is_valid(expression):  # pragma: no cover - each field alone was valid
        raise ValueError(f"invalid cron expression {expression!r}; expected e.g. `{EXAMPLE}`")
    return expression
