"""The batch poller: collect ended provider batches and re-deliver their waiting shards.

For every run still ``running`` (or one run), each step mark ``waiting`` on an
``llm_batch`` points at its shard's batch state (`common.llm.batch`). For each
of the shard's batches not yet collected, the provider is asked how it stands;
an ended batch (completed, expired, failed, cancelled) has its items written to
``round-N.results.jsonl`` beside the state. A shard whose batches have all
been collected gets its message published again on the summarize topic; the
shard then settles the answers (validation, online repair, cache) and
finishes, or resubmits what a batch left unanswered.

Idempotent: results are deterministic overwrites, and a shard re-published
twice meets its own claim (the second delivery finds it done, or waiting on
the next batch). `lead-recovery batches poll` runs it; in the cloud a Cloud
Scheduler job calls the ``poll-batches`` function; the local runner runs it
while its run has waiting shards.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from common import chain
from common.errors import LeadRecoveryError
from common.llm.batch import ShardBatches, results_key
from common.messages import ShardMessage
from common.steps.context import StepContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollAction:
    """What the poller saw or did for one shard."""

    run_id: str
    shard: int
    what: str
    """``waiting`` (a batch still runs), ``collected`` (results written, shard re-published),
    ``redelivered`` (already collected, re-published again) or ``skipped``."""
    detail: str

    def line(self) -> str:
        """One line for people (`lead-recovery batches poll`)."""
        return f"{self.run_id}  shard {self.shard}  {self.what:<11} {self.detail}"


def poll_batches(
    ctx: StepContext, *, run_id: str | None = None, limit: int = 500
) -> list[PollAction]:
    """Poll the waiting shards of every running run (or of ``run_id``); returns what it did."""
    state = ctx.backends.state
    if run_id is not None:
        run_ids = [run_id]
    else:
        run_ids = [str(r["run_id"]) for r in state.list_runs(limit=limit, status="running")]
    actions: list[PollAction] = []
    for rid in run_ids:
        for mark in state.list_steps(rid, status="waiting"):
            waiting = mark.get("waiting") or {}
            if waiting.get("kind") != "llm_batch":
                continue
            try:
                actions.append(_poll_shard(ctx, rid, int(mark["shard"]), waiting))
            except LeadRecoveryError as err:
                # One shard's provider trouble must not stop the others; the next poll retries.
                log.warning("batch poll failed for %s shard %s: %s", rid, mark.get("shard"), err)
                actions.append(PollAction(rid, int(mark["shard"]), "skipped", str(err)))
    for action in actions:
        log.info("batches: %s", action.line())
    return actions


def _poll_shard(ctx: StepContext, run_id: str, shard: int, waiting: dict[str, Any]) -> PollAction:
    blobs = ctx.backends.blobs
    prefix = str(waiting["state"]).rsplit("/", 1)[0] + "/"
    batches = ShardBatches.load(blobs, prefix)
    if batches is None:
        return PollAction(run_id, shard, "skipped", f"no batch state at {prefix}")
    pending = batches.pending(blobs)
    collected = []
    if pending:
        provider = _provider(ctx, batches)
        for round_ in pending:
            status = provider.fetch(round_["batch_id"], key_id=round_.get("key_id") or None)
            if not status.ended:
                continue
            lines = [json.dumps(item.as_dict()) for item in status.items or []]
            blobs.put_bytes(
                results_key(prefix, round_["round"]), ("\n".join(lines) + "\n").encode()
            )
            collected.append(f"{round_['batch_id']} {status.state} ({len(lines)} items)")
        if len(collected) < len(pending):
            return PollAction(
                run_id, shard, "waiting", ", ".join(r["batch_id"] for r in pending) + " running"
            )
    message = ShardMessage.model_validate(batches.message)
    ctx.backends.bus.publish(chain.BY_NAME["summarize"].topic, message)
    if collected:
        return PollAction(run_id, shard, "collected", "; ".join(collected))
    return PollAction(run_id, shard, "redelivered", "every batch collected before")


def _provider(ctx: StepContext, batches: ShardBatches) -> Any:
    from common.llm.batch.providers import build_batch_provider
    from common.llm.factory import effective_provider_model

    recipe = ctx.recipe(batches.message["recipe"])
    assert recipe.llm is not None
    provider, model = effective_provider_model(ctx.settings, recipe.llm.provider, recipe.llm.model)
    config = recipe.llm.model_copy(update={"provider": provider, "model": model})
    return build_batch_provider(batches.provider, config=config, settings=ctx.settings)
