"""`lead-recovery runs`: list and show the runs in the state store, sweep stuck ones, wait for one."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import click
import yaml

from common.cli._shared import backend_option, friendly, load_settings
from common.dev.cli import wait_command
from common.errors import LeadRecoveryError

# How long `runs list/show` wait for the state store before saying it is unreachable
# (the Firestore client otherwise retries for minutes, printing nothing).
BACKEND_TIMEOUT_S = float(os.environ.get("LR_CLI_BACKEND_TIMEOUT", "8"))


def _within(seconds: float, what: str, call: Callable[[], Any]) -> Any:
    """``call()``, or a one-line error if the backend has not answered within ``seconds``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = err

    # A daemon thread: a call stuck in the client's retries does not hold the exit.
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        host = os.environ.get("FIRESTORE_EMULATOR_HOST")
        raise LeadRecoveryError(
            f"{what}: no answer within {seconds:g} s"
            + (f" from the Firestore emulator at {host}" if host else "")
            + "; is the backend reachable? (LR_CLI_BACKEND_TIMEOUT sets the wait)",
            where="backend",
        )
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _json(value: Any) -> str:
    """JSON for scripts: times as ISO 8601, anything else unknown as its text."""

    def default(obj: Any) -> Any:
        if isinstance(obj, datetime):
            return obj.isoformat()
        if hasattr(obj, "model_dump"):
            return obj.model_dump(mode="json")
        return str(obj)

    return json.dumps(value, default=default, ensure_ascii=False, indent=2)


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    """``90s``, ``15m``, ``2h``, ``1d`` (or plain seconds) → seconds."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError as err:
        raise click.BadParameter(
            f"expected a duration like 30m, 2h or 900s, got {value!r}"
        ) from err
    if seconds < 0:
        raise click.BadParameter("a duration cannot be negative")
    return int(seconds)


@click.group()
def runs() -> None:
    """Inspect runs recorded in the state store."""


runs.add_command(wait_command)  # lead-recovery runs wait


@runs.command("list")
@backend_option
@click.option("--recipe", help="Only this recipe's runs.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="One JSON array of the run documents.")
@friendly
def runs_list(backend: str | None, recipe: str | None, limit: int, as_json: bool) -> None:
    """Newest runs first: id, status, leads, rows, ignored, failed shards."""
    from common.backends import build_backends

    settings = load_settings(backend)
    runs_found = _within(
        BACKEND_TIMEOUT_S,
        f"listing runs ({settings.backend} backend)",
        lambda: list(build_backends(settings).state.list_runs(recipe, limit)),
    )
    if as_json:
        click.echo(_json(runs_found))
        return
    for run in runs_found:
        failed = len(run.get("failed_shards") or [])
        click.echo(
            f"{run.get('run_id', '?'):<48} {run.get('status', '?'):<10} "
            f"leads={run.get('leads', '-')} rows={run.get('rows', '-')} ignored={run.get('ignored', '-')}"
            + (f" failed_shards={failed}" if failed else "")
        )


@runs.command("show")
@click.argument("run_id")
@backend_option
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object: the run, its steps and metrics."
)
@friendly
def runs_show(run_id: str, backend: str | None, as_json: bool) -> None:
    """The run document and every step's status, as YAML (or JSON)."""
    from common.backends import build_backends

    settings = load_settings(backend)

    def read() -> tuple[dict[str, Any] | None, Any]:
        state = build_backends(settings).state
        found = state.get_run(run_id)
        return found, (state.list_steps(run_id) if found is not None else None)

    run, steps = _within(BACKEND_TIMEOUT_S, f"reading run {run_id}", read)
    if run is None:
        raise LeadRecoveryError("no such run", where=run_id)
    from common.steps.failures import failure_records, first_shard_failure

    run["steps"] = steps
    if "failures" not in run:  # not reported yet: the failures are on the step marks
        run["failures"] = failure_records(run_id, run["steps"])
    first = first_shard_failure(run["steps"])
    if first:  # the real cause first: later run-level errors are often its consequence
        run = {"first_failure": first, **run}
    from common.observability.metrics import format_metrics, run_metrics

    metrics = run.get("metrics") or run_metrics(run, run["steps"], settings.llm_prices)
    if as_json:
        click.echo(_json({**run, "metrics": metrics}))
        return
    click.echo(yaml.safe_dump(run, sort_keys=False, allow_unicode=True))
    # Commented, so the output stays valid YAML.
    click.echo(
        "\n".join("# " + line for line in ["metrics", *format_metrics(metrics).splitlines()])
    )


@runs.command("sweep")
@backend_option
@click.option(
    "--older-than",
    callback=_duration,
    help="How long a shard must show no progress (and hold no live claim) to count as stuck, "
    "e.g. 30m, 2h. Default: LR_SWEEP_GRACE_SECONDS (30m).",
)
@click.option("--limit", default=500, show_default=True, type=click.IntRange(min=1))
@friendly
def runs_sweep(backend: str | None, older_than: int | None, limit: int) -> None:
    """Finish runs stuck in `running`: fail their stuck shards so the report runs (`partial`).

    Idempotent; prints what it did. In the cloud a Cloud Scheduler job runs it.
    """
    from common.steps.context import StepContext
    from common.steps.sweep import sweep_runs

    settings = load_settings(backend)
    ctx = StepContext.from_settings(settings)
    grace = older_than if older_than is not None else settings.sweep_grace_seconds
    actions = sweep_runs(ctx, older_than=timedelta(seconds=grace), limit=limit)
    for action in actions:
        click.echo(action.line())
    if settings.backend == "local" and actions:
        from common.local_runner import drain

        drain(ctx)  # the local bus has no functions behind it: run the report here
    touched = sorted({a.run_id for a in actions})
    for run_id in touched:
        run = ctx.backends.state.get_run(run_id) or {}
        failed = len(run.get("failed_shards") or [])
        click.echo(f"{run_id}  now {run.get('status', '?')} (failed shards: {failed})")
    if not actions:
        click.echo("nothing stuck")
