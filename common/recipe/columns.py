"""`recipes sync-columns`: keep `output_columns` in step with the configured processors.

Columns of configured processors that are missing are appended; columns of
processors the recipe no longer configures are removed; every other column
(lead columns, LLM fields) stays where it is. The edit is made in the file's
text, so comments and layout elsewhere in meta.yml survive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from common.processors.registry import registry
from common.recipe.recipe import META, Recipe

# The key's line, then its items: indented lines, `- item` lines (also at column 0,
# as yaml.safe_dump writes them), blank lines and comments.
_BLOCK = re.compile(
    r"^output_columns:[^\n]*\n(?:[ \t]+[^\n]*\n|-[^\n]*\n|[ \t]*\n|#[^\n]*\n)*", re.MULTILINE
)


@dataclass(frozen=True)
class ColumnSync:
    """What a sync changes."""

    before: list[str]
    after: list[str]

    @property
    def added(self) -> list[str]:
        """Columns appended."""
        return [c for c in self.after if c not in self.before]

    @property
    def removed(self) -> list[str]:
        """Columns dropped."""
        return [c for c in self.before if c not in self.after]

    @property
    def changed(self) -> bool:
        """Whether the file needs rewriting."""
        return self.before != self.after


def plan(recipe: Recipe) -> ColumnSync:
    """The new `output_columns` for the recipe's configured processors."""
    configured = recipe.processor_classes()
    wanted = [c for cls in configured for c in cls.column_names()]
    foreign = {
        c
        for cls in registry().values()
        if cls not in configured
        for c in cls.column_names()
        if c not in wanted
    }
    before = list(recipe.meta.output_columns)
    kept = [c for c in before if c not in foreign]
    after = kept + [c for c in wanted if c not in kept]
    return ColumnSync(before, after)


def apply(recipe: Recipe, sync: ColumnSync) -> None:
    """Rewrite the `output_columns` block of meta.yml."""
    path: Path = recipe.path / META
    text = path.read_text(encoding="utf-8")
    block = "output_columns:\n" + "".join(f"  - {c}\n" for c in sync.after)
    match = _BLOCK.search(text)
    new = (
        text[: match.start()] + block + text[match.end() :]
        if match
        else text.rstrip("\n") + "\n" + block
    )
    path.write_text(new, encoding="utf-8")
