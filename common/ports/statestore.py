"""StateStore port: run documents, step claims (idempotency) and shard fan-in."""

from __future__ import annotations

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

    def list_runs(self, recipe: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest runs first (optionally of one recipe)."""
        ...

    def begin_step(self, key: StepKey, lease_seconds: int) -> StepStatus:
        """Claim ``key`` in a transaction (see `StepStatus`); an expired claim is taken over."""
        ...

    def finish_step(self, key: StepKey, result: dict[str, Any]) -> None:
        """Mark ``key`` done with a small result (counts, timings)."""
        ...

    def fail_step(self, key: StepKey, error: dict[str, Any], *, terminal: bool) -> None:
        """Record a failure on the step and on the run document.

        Terminal failures count as done (redeliveries are acknowledged); a
        transient one releases the claim so the redelivery can run.
        """
        ...

    def list_steps(self, run_id: str) -> list[dict[str, Any]]:
        """Every step mark of a run (for `runs show`)."""
        ...

    def complete_shard(self, run_id: str, stage: str, shard: int, shard_count: int) -> bool:
        """Record that ``shard`` finished ``stage``, in a transaction on the run document.

        Returns True when, after this call, every one of ``shard_count`` shards
        has finished the stage: the caller then starts the next run-level step.
        Recording the same shard twice is harmless.
        """
        ...
