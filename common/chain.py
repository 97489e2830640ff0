"""The chain of steps and the Pub/Sub topics between them.

Each topic is named after the hop that normally feeds its consumer. When a
recipe turns a stage off, the step before it publishes straight to the next
enabled stage's input topic (a recipe without an LLM section goes from
`process` to `report` through ``clustered``).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.recipe import Recipe


@dataclass(frozen=True)
class Stage:
    """One step of the chain."""

    name: str
    topic: str
    """The topic this step consumes."""
    per_shard: bool
    available: bool = True
    """False for stages whose step is not part of this release yet."""


STAGES: tuple[Stage, ...] = (
    Stage("fetch_leads", "recipe-runs", per_shard=False),
    Stage("fetch_conversations", "leads-fetched", per_shard=True),
    Stage("process", "conversations-fetched", per_shard=True),
    Stage("summarize", "processed", per_shard=True),
    Stage("cluster", "summarized", per_shard=False),
    Stage("report", "clustered", per_shard=False),
)
BY_NAME = {s.name: s for s in STAGES}
BY_TOPIC = {s.topic: s for s in STAGES}
TOPICS = tuple(s.topic for s in STAGES)
DEAD_LETTER_SUFFIX = "-dead-letter"
FAN_IN = "shards"
"""Name of the run document's counter of shards that finished every per-shard stage."""


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of a hop."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"


def enabled(recipe: Recipe) -> list[Stage]:
    """The stages this recipe runs, in order."""
    wanted = {
        "summarize": recipe.meta.llm is not None,
        "cluster": recipe.meta.clustering is not None,
    }
    return [s for s in STAGES if s.available and wanted.get(s.name, True)]


def next_stage(recipe: Recipe, after: str) -> Stage:
    """The enabled stage that follows ``after`` for this recipe."""
    stages = enabled(recipe)
    names = [s.name for s in stages]
    return stages[names.index(after) + 1]


def is_last_shard_stage(recipe: Recipe, step: str) -> bool:
    """Whether ``step`` is the last per-shard stage (where the fan-in happens)."""
    return not next_stage(recipe, step).per_shard
