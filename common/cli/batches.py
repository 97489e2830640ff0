"""`lead-recovery batches`: collect the provider batches of recipes with `llm.batch`."""

from __future__ import annotations

import click

from common.cli._shared import backend_option, friendly, load_settings


@click.group()
def batches() -> None:
    """Provider batches of recipes with `llm.batch` (answers within 24 h, half price)."""


@batches.command("poll")
@backend_option
@click.option("--run", "run_id", help="Only this run's batches (default: every running run).")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(min=1))
@friendly
def batches_poll(backend: str | None, run_id: str | None, limit: int) -> None:
    """Collect ended provider batches and re-deliver their waiting shards.

    Idempotent; prints one line per waiting shard. In the cloud a Cloud Scheduler
    job runs it; the local runner runs it while its run waits.
    """
    from common.steps.batches import poll_batches
    from common.steps.context import StepContext

    settings = load_settings(backend)
    ctx = StepContext.from_settings(settings)
    actions = poll_batches(ctx, run_id=run_id, limit=limit)
    for action in actions:
        click.echo(action.line())
    if settings.backend == "local" and any(a.what in ("collected", "redelivered") for a in actions):
        from common.local_runner import drain

        drain(ctx)  # the local bus has no functions behind it: run the shards (and report) here
    if not actions:
        click.echo("no shard waits for a batch")
