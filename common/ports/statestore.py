"""StateStore port: run documents, step claims (idempotency) and shard fan-in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

RUN_LEVEL = -1  # shard index of run-level steps (fetch_leads, cluster, report)


@dataclass(frozen=True)
class StepKey:
    """Identifies one unit of work: a step of a run, for one shard (or the whole run)."""

    run_id: str
    step: str
    shard: int = RUN_LEVEL

    @property
    def doc_id(self) -> str:
        """Stable document id of this step's mark."""
        return f"{self.step}-{'run' if self.shard == RUN_LEVEL else f'{self.shard:05d}'}"


class StepStatus(StrEnum):
    """What `StateStore.begin_step` decided."""

    RUN = "run"  # claimed: do the work
    DONE = "done"  # finished before: acknowledge, do nothing
    FAILED = "failed"  # failed for good before: acknowledge (after redoing any bookkeeping)
    BUSY = "busy"  # another worker holds a live claim: retry later


class StateStore(Protocol):
    """Durable, transactional state shared by every function of a deployment."""

    def create_run(self, run_id: str, doc: dict[str, Any]) -> bool:
        """Create the run document unless it exists; True when this call created it."""
        ...

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run document, or None."""
        ...

    def update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        """Merge top-level ``fields`` into the run document."""
        ...

    def list_runs(
        self, recipe: str | None = None, limit: int = 50, *, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest runs first (optionally of one recipe, or only those with ``status``)."""
        ...

    def begin_step(self, key: StepKey, lease_seconds: int) -> StepStatus:
        """Claim ``key`` in a transaction (see `StepStatus`); an expired claim is taken over."""
        ...

    def finish_step(self, key: StepKey, result: dict[str, Any]) -> None:
        """Mark ``key`` done with a small result (counts, timings)."""
        ...

    def fail_step(self, key: StepKey, error: dict[str, Any], *, terminal: bool) -> None:
        """Record a failure on the step's own mark (with ``failed_at``), never on the run document.

        Terminal failures count as done (redeliveries are acknowledged); a
        transient one releases the claim so the redelivery can run. Readers of
        a run's failures query the marks (``list_steps(run_id, status="failed")``),
        so N shards failing at once write N documents, not one.
        """
        ...

    def wait_step(self, key: StepKey, record: dict[str, Any]) -> None:
        """Release the claim and mark ``key`` ``waiting`` on work outside (a provider batch).

        ``record`` (what it waits for) goes to the mark's ``waiting`` field. A
        waiting step is neither done nor failed: the next delivery claims it
        (`begin_step` answers RUN) and the sweeper leaves it alone until
        ``record["wait_until"]``.
        """
        ...

    def list_steps(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """Every step mark of a run (for `runs show`), or only those with ``status``."""
        ...

    def complete_shard(self, run_id: str, stage: str, shard: int, shard_count: int) -> bool:
        """Count ``shard`` as having finished ``stage``, once, without a hot document.

        Returns True when, after this call, every one of ``shard_count`` shards
        has finished the stage: the caller then starts the next run-level step.
        Among first deliveries exactly one call returns True; a redelivered
        shard (already counted) returns True too once the stage is complete,
        and finishes any counting its first delivery left undone. It never
        returns True before every shard is counted. Work is linear in shards.
        """
        ...

    def counted_shards(self, run_id: str, stage: str) -> set[int]:
        """The shards `complete_shard` has counted for ``stage`` (the sweeper, tests)."""
        ...


def fan_in_groups(shard_count: int) -> int:
    """How many counter groups a fan-in of ``shard_count`` shards uses: ceil(sqrt(n)).

    Each group counter then takes about sqrt(n) increments and the run's root
    counter one per group (45 each at 2,000 shards), instead of one document
    taking all n.
    """
    return max(1, math.isqrt(max(shard_count, 1) - 1) + 1)


def fan_in_group_size(group: int, groups: int, shard_count: int) -> int:
    """How many of ``shard_count`` shards fall in ``group`` (shard % groups == group)."""
    return len(range(group, shard_count, groups))
