"""Fan-in: the last shard to finish the per-shard stages starts the run-level stages."""

from __future__ import annotations

import logging

from common import chain
from common.messages import RunMessage, ShardMessage
from common.recipe import Recipe
from common.steps.context import StepContext

log = logging.getLogger(__name__)


def shard_finished(ctx: StepContext, recipe: Recipe, step: str, message: ShardMessage) -> None:
    """Record the shard in a transaction; when it completes the set, publish the next stage.

    A crash between the transaction and the publish is healed by redelivery:
    the step is not marked done yet, so it runs again, sees the set complete
    and publishes; the run-level step's own claim makes a duplicate harmless.
    """
    complete = ctx.backends.state.complete_shard(
        message.run_id, chain.FAN_IN, message.shard_index, message.shard_count
    )
    if complete:
        nxt = chain.next_stage(recipe, step)
        log.info("last shard finished; starting %s", nxt.name)
        ctx.backends.bus.publish(
            nxt.topic,
            RunMessage(run_id=message.run_id, recipe=message.recipe, options=message.options),
        )


def shard_failed(ctx: StepContext, message: ShardMessage) -> None:
    """A shard failed for good: count it as finished so the run still reports.

    The failure itself is already on the run document (``failures``); the
    report leaves the shard's leads out and says so.
    """
    recipe = ctx.recipe(message.recipe)
    last_shard_stage = [s for s in chain.enabled(recipe) if s.per_shard][-1]
    shard_finished(ctx, recipe, last_shard_stage.name, message)
