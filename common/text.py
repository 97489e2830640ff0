"""Small text helpers shared by the layers that word error messages (recipes, LLM, evals)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate, ignoring case (column styles differ: `hours_since…` vs `HOURS_SINCE…`)."""
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None
