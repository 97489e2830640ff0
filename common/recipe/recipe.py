"""A loaded recipe (`Recipe`): its validated sections, its files' text, and who makes each column."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.clustering.config import ClusteringConfig
from common.clustering.config import produced_columns as clustering_columns
from common.llm.config import LLMConfig
from common.processors.base import LEAD_KEY, Processor
from common.processors.registry import resolve as resolve_processor
from common.recipe.model import RecipeMeta

META = "meta.yml"

PIPELINE_COLUMNS = {LEAD_KEY, "ignore_reason"}
"""Columns the pipeline itself adds, whatever the recipe."""


def display(path: Path) -> str:
    """``path`` as messages show it (relative to the working directory when under it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Recipe:
    """A validated recipe with its files read."""

    name: str
    path: Path
    meta: RecipeMeta
    conversations_sql: str
    leads_sql: str | None
    leads_csv: Path | None
    prompt: str | None
    lead_columns: tuple[str, ...] | None
    """Columns the leads source returns, when knowable without running it."""
    llm: LLMConfig | None = None
    """The validated `llm` section (None: the recipe has no LLM step)."""
    clustering: ClusteringConfig | None = None
    """The validated `clustering` section (None: the recipe has no cluster step)."""

    def where(self, file: str = META, field: str | None = None) -> str:
        """`recipes/<name>/<file>: <field>` for error messages."""
        location = display(self.path / file)
        return f"{location}: {field}" if field else location

    def processor_classes(self) -> list[type[Processor]]:
        """The configured processors' classes, in recipe order."""
        return [
            resolve_processor(spec.module, where=self.where(field=f"python_processors[{i}]"))
            for i, spec in enumerate(self.meta.python_processors)
        ]

    def produced_columns(self) -> dict[str, str]:
        """Column → who produces it (lead source, a processor, the LLM, the pipeline)."""
        produced = {c: "pipeline" for c in PIPELINE_COLUMNS}
        for column in self.lead_columns or ():
            produced[column] = "leads"
        for cls in self.processor_classes():
            for column in cls.column_names():
                produced[column] = cls.name
        if self.meta.calls is not None:
            from common.calls.report_join import OUTCOME_COLUMNS

            for column in OUTCOME_COLUMNS:
                produced[column] = "calls"
        if self.llm is not None:
            from common.llm.modes import get_mode

            for column in get_mode(self.llm.mode).columns(self.llm):
                produced[column] = "llm"
        if self.clustering is not None:
            for column in clustering_columns(self.clustering):
                produced[column] = "cluster"
        return produced
