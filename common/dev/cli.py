"""`lead-recovery runs wait`: follow a run to its end (added to the `runs` group by `common.cli.runs`)."""

from __future__ import annotations

import time
from typing import Any

import click

from common import chain
from common.errors import LeadRecoveryError

ENDED = ("succeeded", "partial")
BUSY = ("running", "retrying", "waiting")


def progress(run: dict[str, Any], steps: list[dict[str, Any]]) -> str:
    """One line: the run's status and, per step in chain order, shards done / shards."""
    shards = run.get("shard_count")
    parts = [str(run.get("status", "?"))]
    for stage in chain.STAGES:
        marks = [s for s in steps if s.get("step") == stage.name]
        if not marks:
            continue
        total = (shards if shards is not None else "?") if stage.per_shard else 1
        done = sum(1 for s in marks if s.get("status") == "done")
        failed = sum(1 for s in marks if s.get("status") == "failed")
        parts.append(f"{stage.name} {done}/{total}" + (f" ({failed} failed)" if failed else ""))
    return "  ".join(parts)


def ended(run: dict[str, Any], steps: list[dict[str, Any]]) -> bool:
    """Whether the run is over: reported, or failed with no step left to run."""
    status = run.get("status")
    if status in ENDED:
        return True
    # A shard failing for good marks the run `failed` at once, but the report
    # still runs (and says `partial`): wait for it unless nothing is running.
    if status == "failed":
        if any(s.get("step") == "report" and s.get("status") in ("done", "failed") for s in steps):
            return True
        return not any(s.get("status") in BUSY for s in steps)
    return False


def _wait(
    run_id: str | None, recipe: str | None, backend: str | None, timeout: float, interval: float
) -> int:
    from common.backends import build_backends
    from common.settings import Settings

    overrides: dict[str, Any] = {"backend": backend} if backend else {}
    settings = Settings(**overrides)
    state = build_backends(settings).state
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        if run_id is None:
            newest = list(state.list_runs(recipe, 1))
            if newest:
                run_id = str(newest[0]["run_id"])
                click.echo(f"run {run_id}")
        run = state.get_run(run_id) if run_id else None
        if run is None and run_id and recipe is None:
            raise LeadRecoveryError("no such run", where=run_id)
        if run is not None:
            steps = state.list_steps(str(run_id))
            line = progress(run, steps)
            if line != last:
                click.echo(line)
                last = line
            if ended(run, steps):
                status = run.get("status")
                click.echo(f"run {run_id} {status}")
                return 0 if status == "succeeded" else 1
        if time.monotonic() > deadline:
            what = f"run {run_id}" if run_id else f"a run of recipe {recipe}"
            click.echo(f"{what}: not over after {timeout:g} s (--timeout)", err=True)
            return 1
        time.sleep(interval)


@click.command("wait")
@click.argument("run_id", required=False)
@click.option("--latest", is_flag=True, help="The newest run of --recipe (waits for one to start).")
@click.option("--recipe", help="With --latest: whose newest run.")
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
@click.option(
    "--timeout",
    default=1800.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait before giving up (exit 1).",
)
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between polls.",
)
def wait_command(
    run_id: str | None,
    latest: bool,
    recipe: str | None,
    backend: str | None,
    timeout: float,
    interval: float,
) -> None:
    """Follow a run to its end, printing shards done per step; exit 0 if it succeeded, else 1."""
    if latest == (run_id is not None):
        raise click.UsageError("give a RUN_ID, or --latest --recipe NAME")
    if latest and not recipe:
        raise click.UsageError("--latest needs --recipe")
    try:
        code = _wait(run_id, recipe if latest else None, backend, timeout, interval)
    except LeadRecoveryError as err:
        raise click.ClickException(str(err)) from err
    raise SystemExit(code)
