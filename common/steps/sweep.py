"""The sweeper: finish runs whose shards are stuck, so no run stays `running` forever.

A shard can stop without anyone counting it: its worker was killed (out of
memory, a timeout) and left its claim ``running``; its message ran out of
delivery attempts outside any step; or it was never delivered at all. For each
run still ``running``, a shard not yet counted by the fan-in is *stuck* when it
holds no live claim and has shown no progress for ``older_than``:

- its latest step mark is ``running`` with an expired lease, started before the cutoff;
- its latest mark is ``retrying`` and was last failed before the cutoff;
- its latest mark is ``done`` but the next per-shard step never started (finished
  before the cutoff), or it has no mark at all (the run started before the cutoff);
- its latest mark is ``failed`` (for good) but the fan-in never counted it.

The sweeper claims the stuck step with `StateStore.begin_step` (a live worker's
claim answers BUSY and is left alone; a step that finished meanwhile answers
DONE), records it as failed for good (a `StuckError` carrying the last error
seen), and counts the shard with `fanin.shard_failed`: the shard that completes
the fan-in publishes the run-level message, the report runs and the run ends
``partial``. A run whose shards are all counted but whose run-level stage never
started (the completing shard died before publishing) gets that message
published again; the stage's own claim makes a duplicate harmless. Running the
sweeper again does nothing more: it is idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common import chain
from common.errors import LeadRecoveryError, StuckError
from common.messages import RunMessage, RunOptions, ShardMessage
from common.ports import StepKey, StepStatus
from common.ports.statestore import RUN_LEVEL
from common.steps.context import StepContext
from common.steps.fanin import shard_failed, shard_finished

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepAction:
    """One thing the sweeper did."""

    run_id: str
    what: str
    """``failed`` (a stuck shard), ``counted`` (a failed shard nobody counted),
    ``republished`` (a run-level stage that never started) or ``skipped``."""
    step: str
    shard: int
    reason: str

    def line(self) -> str:
        """One line for people (`lead-recovery runs sweep`)."""
        where = self.step if self.shard == RUN_LEVEL else f"{self.step} shard {self.shard}"
        return f"{self.run_id}  {self.what:<11} {where}: {self.reason}"


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _last_error(mark: dict[str, Any] | None) -> str:
    error = (mark or {}).get("error") or {}
    return f"; last error: {error.get('message')}" if error.get("message") else ""


def sweep_runs(
    ctx: StepContext, *, older_than: timedelta, now: datetime | None = None, limit: int = 500
) -> list[SweepAction]:
    """Sweep every run still ``running`` (newest ``limit``); returns what was done."""
    now = now or datetime.now(UTC)
    actions: list[SweepAction] = []
    for run in ctx.backends.state.list_runs(limit=limit, status="running"):
        actions.extend(sweep_run(ctx, run, older_than=older_than, now=now))
    return actions


def sweep_run(
    ctx: StepContext, run: dict[str, Any], *, older_than: timedelta, now: datetime
) -> list[SweepAction]:
    """Fail and count the stuck shards of one run (see the module docstring)."""
    run_id = str(run["run_id"])
    if "shard_count" not in run:
        return []  # fetch_leads has not split the run yet: its own redelivery owns it
    shard_count = int(run["shard_count"])
    try:
        recipe = ctx.recipe(run["recipe"])
    except LeadRecoveryError as err:
        return [SweepAction(run_id, "skipped", "run", RUN_LEVEL, f"recipe does not load: {err}")]
    state = ctx.backends.state
    cutoff = now - older_than
    stages = [s.name for s in chain.enabled(recipe) if s.per_shard]
    marks = {(m.get("step"), int(m.get("shard", RUN_LEVEL))): m for m in state.list_steps(run_id)}
    counted = state.counted_shards(run_id, chain.FAN_IN)
    options = RunOptions.model_validate({**(run.get("options") or {}), "as_of": run.get("as_of")})
    started = _time(run.get("started_at")) or _time(run.get("created_at")) or now
    actions: list[SweepAction] = []
    for shard in range(shard_count):
        if shard in counted:
            continue
        message = ShardMessage(
            run_id=run_id,
            recipe=recipe.name,
            shard_index=shard,
            shard_count=shard_count,
            options=options,
        )
        action = _sweep_shard(ctx, recipe, message, stages, marks, cutoff, now, started)
        if action is not None:
            actions.append(action)
    if not actions and len(counted) >= shard_count:
        actions.extend(_restart_run_level(ctx, recipe, run, marks, cutoff, now, options))
    for action in actions:
        log.warning("sweep: %s", action.line())
    return actions


def _sweep_shard(
    ctx: StepContext,
    recipe: Any,
    message: ShardMessage,
    stages: list[str],
    marks: dict[tuple[Any, int], dict[str, Any]],
    cutoff: datetime,
    now: datetime,
    started: datetime,
) -> SweepAction | None:
    shard = message.shard_index
    latest = max(
        (i for i, step in enumerate(stages) if (step, shard) in marks), default=None
    )  # the furthest per-shard step this shard reached
    mark = marks[(stages[latest], shard)] if latest is not None else None
    status = (mark or {}).get("status")
    if latest is None:
        step, since, why = stages[0], started, "never started"
    elif status == "failed":
        step = stages[latest]
        shard_failed(ctx, message)
        return SweepAction(message.run_id, "counted", step, shard, "failed for good, uncounted")
    elif status == "done":
        if latest == len(stages) - 1:
            # Finished and published, but not counted: count it as the success it is.
            shard_finished(ctx, recipe, stages[latest], message)
            return SweepAction(message.run_id, "counted", stages[latest], shard, "done, uncounted")
        step = stages[latest + 1]
        since = _time((mark or {}).get("finished_at")) or started
        why = f"{stages[latest]} finished, {step} never started"
    elif status == "running":
        step = stages[latest]
        lease = _time((mark or {}).get("lease_until"))
        if lease is not None and lease > now:
            return None  # a live worker holds it
        since = _time((mark or {}).get("started_at")) or started
        why = "claim left running past its lease"
    elif status == "waiting":  # on a provider batch: the batch poller re-delivers it
        step = stages[latest]
        until = _time(((mark or {}).get("waiting") or {}).get("wait_until"))
        if until is None or until > now:
            return None
        since, why = until, "waiting on a batch past its deadline"
    else:  # retrying, or a mark without status
        step = stages[latest]
        since = _time((mark or {}).get("failed_at")) or started
        why = "retrying, never redelivered"
    if since > cutoff:
        return None  # not stuck long enough
    key = StepKey(message.run_id, step, shard)
    claim = ctx.backends.state.begin_step(key, ctx.lease_seconds)
    if claim in (StepStatus.BUSY, StepStatus.DONE):
        return None  # someone took it up (or finished it) meanwhile
    if claim is StepStatus.RUN:
        error = StuckError(f"stuck: {why}{_last_error(mark)}", where=key.doc_id)
        ctx.backends.state.fail_step(key, error.to_record(), terminal=True)
    shard_failed(ctx, message)
    return SweepAction(message.run_id, "failed", step, shard, why + _last_error(mark))


def _restart_run_level(
    ctx: StepContext,
    recipe: Any,
    run: dict[str, Any],
    marks: dict[tuple[Any, int], dict[str, Any]],
    cutoff: datetime,
    now: datetime,
    options: RunOptions,
) -> list[SweepAction]:
    """Every shard is counted, yet the run is still running: publish its run-level stage again."""
    stages = chain.enabled(recipe)
    last_shard_stage = [s for s in stages if s.per_shard][-1]
    for stage in stages[stages.index(last_shard_stage) + 1 :]:
        mark = marks.get((stage.name, RUN_LEVEL)) or {}
        if mark.get("status") == "done":
            continue
        lease = _time(mark.get("lease_until"))
        if mark.get("status") == "running" and lease is not None and lease > now:
            return []  # running now
        if mark.get("status") == "failed":
            return []  # the run failed there (and says so)
        latest = max(
            (
                t
                for m in marks.values()
                for t in (_time(m.get("finished_at")), _time(m.get("failed_at")))
                if t is not None
            ),
            default=None,
        )
        if latest is not None and latest > cutoff:
            return []  # recent progress: the message may still be on its way
        ctx.backends.bus.publish(
            stage.topic, RunMessage(run_id=run["run_id"], recipe=recipe.name, options=options)
        )
        return [
            SweepAction(
                str(run["run_id"]), "republished", stage.name, RUN_LEVEL, "every shard counted"
            )
        ]
    return []
