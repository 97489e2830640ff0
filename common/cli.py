"""`lead-recovery`: run recipes, manage recipes, inspect runs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from common.errors import LeadRecoveryError, RecipeError
from common.recipe.loader import META, NAME_PATTERN, list_recipes, load_recipe, validate_all
from common.recipe.model import RecipeMeta

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_INVALID = 2


def _settings(backend: str | None = None, recipes_dir: Path | None = None):  # noqa: ANN202
    from common.settings import Settings

    overrides: dict[str, Any] = {}
    if backend:
        overrides["backend"] = backend
    if recipes_dir:
        overrides["recipes_dir"] = recipes_dir
    return Settings(**overrides)


# How long `runs list/show` wait for the state store before saying it is unreachable
# (the Firestore client otherwise retries for minutes, printing nothing).
BACKEND_TIMEOUT_S = float(os.environ.get("LR_CLI_BACKEND_TIMEOUT", "8"))

NO_CREDENTIALS = (
    "no Google credentials for the gcp backend: run `gcloud auth application-default "
    "login`, set GOOGLE_APPLICATION_CREDENTIALS, or point FIRESTORE_EMULATOR_HOST (and "
    "STORAGE_EMULATOR_HOST) at the emulators"
)


def _within(seconds: float, what: str, call: Callable[[], Any]) -> Any:
    """``call()``, or a one-line error if the backend has not answered within ``seconds``."""
    import threading

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


def _credentials_error(err: BaseException) -> bool:
    """google.auth's DefaultCredentialsError, without importing google.auth here."""
    kind = type(err)
    return kind.__name__ == "DefaultCredentialsError" and kind.__module__.startswith("google")


def _friendly(fn: F) -> F:
    """Turn our errors (and missing Google credentials) into one line on stderr."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LeadRecoveryError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            code = (
                EXIT_INVALID
                if isinstance(err, RecipeError) or "settings" in str(err.where)
                else EXIT_FAILED
            )
            sys.exit(code)
        except Exception as err:
            if not _credentials_error(err):
                raise
            click.secho(f"error: {NO_CREDENTIALS}", fg="red", err=True)
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


def _csv_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise click.BadParameter(
            f"expected ISO 8601 like 2026-11-20T18:00:00Z, got {value!r}"
        ) from err
    if parsed.tzinfo is None:
        raise click.BadParameter("add a time zone, e.g. 2026-11-20T18:00:00Z")
    return parsed


VERBOSE_FLAGS = ("-v", "--verbose")


class _Main(click.Group):
    """The top-level group: ``-v``/``--verbose`` is accepted anywhere before ``--``
    (``lead-recovery runs list -v`` as well as ``lead-recovery -v runs list``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        cut = args.index("--") if "--" in args else len(args)
        verbose = [a for a in args[:cut] if a in VERBOSE_FLAGS]
        if verbose:
            args = ["--verbose", *[a for a in args[:cut] if a not in VERBOSE_FLAGS], *args[cut:]]
        return super().parse_args(ctx, args)


def no_color() -> bool:
    """NO_COLOR (https://no-color.org) set to anything but empty: no ANSI colours at all."""
    return bool(os.environ.get("NO_COLOR"))


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="lead-recovery")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Log every step (INFO); default: warnings only. Also accepted after the subcommand.",
)
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Lead Recovery: find leads who showed interest and stalled, and say why.

    Settings come from LR_* environment variables or a .env file (LR_BACKEND,
    LR_PROJECT, LR_BUCKET, LR_RECIPES_DIR, ...); see the README. NO_COLOR=1
    turns colours off.
    """
    from common.logging import configure_logging

    if no_color():
        ctx.color = False  # every echo/secho below this context strips ANSI codes
    level = "INFO" if verbose else os.environ.get("LR_LOG_LEVEL", "WARNING")
    configure_logging(level, os.environ.get("LR_LOG_FORMAT", "text"))


from common.evals.cli import eval_command  # noqa: E402 - registered on the group defined above
from common.run_output import print_plan, sources_line  # noqa: E402

main.add_command(eval_command)
from common.privacy.cli import privacy_command  # noqa: E402

main.add_command(privacy_command)
from common.prune import prune_command  # noqa: E402

main.add_command(prune_command)  # lead-recovery prune: local retention
from common.results.cli import register as register_results  # noqa: E402

register_results(main)  # lead-recovery leads show, results kpis|views


# --------------------------------------------------------------------------- run
@main.command()
@click.option("--recipe", "-r", required=True, help="Recipe folder name under the recipes dir.")
@click.option(
    "--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND for this run."
)
@click.option(
    "--recipes-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Recipes folder (default: recipes/).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Process only the first N leads.")
@click.option(
    "--skip-leads-query", is_flag=True, help="Use the uploaded leads.csv instead of leads.sql."
)
@click.option(
    "--skip-processor",
    "skip_processors",
    multiple=True,
    metavar="NAME",
    help="Do not run this processor (repeatable); its columns stay, empty.",
)
@click.option(
    "--run-only-processor",
    "run_only",
    multiple=True,
    metavar="NAME",
    help="Run only these processors (repeatable).",
)
@click.option(
    "--include-columns",
    callback=_csv_list,
    metavar="A,B",
    help="Write only these output columns, in this order.",
)
@click.option(
    "--exclude-columns", callback=_csv_list, metavar="A,B", help="Leave these output columns out."
)
@click.option(
    "--as-of",
    callback=_as_of,
    metavar="ISO",
    help="Reference 'now' for time features (default: run start).",
)
@click.option("--run-id", help="Choose the run id (default: <recipe>-<time>-<random>).")
@click.option(
    "--no-cache", is_flag=True, help="Ask the LLM again instead of reading cached answers."
)
@click.option("--no-progress", is_flag=True, help="No progress bars (logs only).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what the run would read (BigQuery: bytes of a dry run; locally: rows) and how "
    "many shards it would make, then stop. The leads query runs; nothing else does.",
)
@_friendly
def run(
    recipe: str,
    backend: str | None,
    recipes_dir: Path | None,
    limit: int | None,
    skip_leads_query: bool,
    skip_processors: tuple[str, ...],
    run_only: tuple[str, ...],
    include_columns: tuple[str, ...],
    exclude_columns: tuple[str, ...],
    as_of: datetime | None,
    run_id: str | None,
    no_cache: bool,
    no_progress: bool,
    dry_run: bool,
) -> None:
    """Run a recipe end to end and print where its report is.

    With the local backend every step runs here, on DuckDB, a folder and
    SQLite. With --backend gcp the run request is published to the
    `recipe-runs` topic and the Cloud Functions do the work.
    """
    from common.messages import RunOptions, RunRequest
    from common.steps.options import check_run_options

    settings = _settings(backend, recipes_dir)
    loaded = load_recipe(recipe, settings.recipes_dir)  # validate before any work
    options = RunOptions(
        limit=limit,
        skip_leads_query=skip_leads_query,
        skip_processors=skip_processors,
        run_only_processors=run_only,
        include_columns=include_columns,
        exclude_columns=exclude_columns,
        as_of=as_of,
        no_cache=no_cache,
    )
    check_run_options(loaded, options)
    if dry_run:
        print_plan(settings, RunRequest(recipe=recipe, run_id=run_id, options=options))
        return
    if settings.backend == "gcp":
        from common import chain
        from common.backends import build_backends

        bus = build_backends(settings).bus
        request = RunRequest(recipe=recipe, run_id=run_id, options=options)
        message_id = bus.publish(chain.BY_NAME["fetch_leads"].topic, request)
        click.echo(
            f"published run request {message_id} for recipe {recipe} to {settings.topic_prefix}recipe-runs"
        )
        click.echo("follow it with: lead-recovery runs list --backend gcp")
        return

    from common.local_runner import run_recipe
    from common.steps.context import StepContext

    ctx = StepContext.from_settings(settings)
    summary = run_recipe(ctx, recipe, options, run_id=run_id, progress=not no_progress)
    click.echo("")
    click.echo(f"run        {summary.run_id}  ({summary.status})")
    click.echo(f"leads      {summary.leads} in {summary.shards} shard(s)")
    click.echo(f"messages   {summary.messages}")
    click.echo(f"rows       {summary.rows} written, {summary.ignored} ignored")
    if summary.llm:
        llm = summary.llm
        click.echo(
            f"llm        {llm.get('conversations', 0)} conversations: {llm.get('cache_hits', 0)} cached, "
            f"{llm.get('llm_calls', 0)} calls, {llm.get('input_tokens', 0)}+{llm.get('output_tokens', 0)} tokens"
        )
        click.echo(f"answers    {sources_line(llm.get('sources') or {})}")
    click.echo(f"time       {summary.seconds:.2f} s")
    for name, url in summary.outputs.items():
        click.echo(f"{name:<10} {url}")
    if summary.status != "succeeded":
        if summary.first_failure:
            click.secho(f"first failure: {summary.first_failure}", fg="red", err=True)
        click.secho(
            f"run did not succeed: {json.dumps(summary.failures, default=str)}", fg="red", err=True
        )
        sys.exit(EXIT_FAILED)


# ----------------------------------------------------------------------- recipes
@main.group()
def recipes() -> None:
    """List, validate, scaffold recipes, and print the meta.yml JSON Schema."""


_recipes_dir_option = click.option(
    "--recipes-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Recipes folder (default: LR_RECIPES_DIR or recipes/).",
)


@recipes.command("list")
@_recipes_dir_option
@_friendly
def recipes_list(recipes_dir: Path | None) -> None:
    """List recipes with their description and schedule."""
    folder = _settings(recipes_dir=recipes_dir).recipes_dir
    for name in list_recipes(folder):
        try:
            recipe = load_recipe(name, folder)
        except LeadRecoveryError:
            click.echo(f"{name:<24} (invalid: run `lead-recovery recipes validate {name}`)")
            continue
        schedule = recipe.meta.schedule
        when = f"[{schedule.cron} {schedule.timezone}]" if schedule else "[manual]"
        click.echo(f"{name:<24} {when:<34} {recipe.meta.description.strip().splitlines()[0][:80]}")


@recipes.command("validate")
@click.argument("name", required=False)
@_recipes_dir_option
@_friendly
def recipes_validate(name: str | None, recipes_dir: Path | None) -> None:
    """Validate one recipe (or all): keys, files, SQL parameters, processors, columns."""
    folder = _settings(recipes_dir=recipes_dir).recipes_dir
    if name:
        load_recipe(name, folder)
        click.echo(f"ok  {name}")
        return
    results = validate_all(folder)
    for recipe, error in results.items():
        click.echo(f"ok  {recipe}" if error is None else f"ERR {recipe}: {error}")
    if any(results.values()):
        sys.exit(EXIT_INVALID)


@recipes.command("new")
@click.argument("name")
@_recipes_dir_option
@_friendly
def recipes_new(name: str, recipes_dir: Path | None) -> None:
    """Create recipes/NAME with a valid meta.yml, SQL files and a prompt to edit."""
    folder = _settings(recipes_dir=recipes_dir).recipes_dir
    if not NAME_PATTERN.match(name):
        raise RecipeError(
            "invalid recipe name",
            where=name,
            expected="lowercase letters, digits and _ (starting with a letter)",
        )
    target = folder / name
    if target.exists():
        raise RecipeError("a recipe with this name exists", where=str(target))
    from common.recipe.scaffold import write_scaffold

    write_scaffold(target)
    load_recipe(name, folder)
    click.echo(
        f"created {target}/ ({META}, leads.sql, conversations.sql, prompt.txt); edit, then run `lead-recovery recipes validate {name}`"
    )


@recipes.command("sync-columns")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show the changes without writing meta.yml.")
@_recipes_dir_option
@_friendly
def recipes_sync_columns(name: str, dry_run: bool, recipes_dir: Path | None) -> None:
    """Update output_columns from the configured processors (NAME or `update-all`).

    Adds the columns of configured processors that are missing, removes those
    of processors the recipe no longer configures, keeps every other column.
    """
    from common.recipe.columns import apply, plan

    folder = _settings(recipes_dir=recipes_dir).recipes_dir
    names = list_recipes(folder) if name == "update-all" else [name]
    for recipe_name in names:
        recipe = load_recipe(recipe_name, folder, check_columns=False)
        sync = plan(recipe)
        if not sync.changed:
            click.echo(f"{recipe_name}: up to date")
            continue
        click.echo(
            f"{recipe_name}: +{', +'.join(sync.added) or ' nothing'}; -{', -'.join(sync.removed) or ' nothing'}"
        )
        if not dry_run:
            apply(recipe, sync)
            load_recipe(recipe_name, folder)  # the result must still validate


@recipes.command("schema")
def recipes_schema() -> None:
    """Print the JSON Schema of meta.yml (for editor completion)."""
    schema = RecipeMeta.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Lead Recovery recipe meta.yml"
    click.echo(json.dumps(schema, indent=2))


# -------------------------------------------------------------------------- runs
@main.group()
def runs() -> None:
    """Inspect runs recorded in the state store."""


@runs.command("list")
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
@click.option("--recipe", help="Only this recipe's runs.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="One JSON array of the run documents.")
@_friendly
def runs_list(backend: str | None, recipe: str | None, limit: int, as_json: bool) -> None:
    """Newest runs first: id, status, leads, rows, ignored, failed shards."""
    from common.backends import build_backends

    settings = _settings(backend)
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
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object: the run, its steps and metrics."
)
@_friendly
def runs_show(run_id: str, backend: str | None, as_json: bool) -> None:
    """The run document and every step's status, as YAML (or JSON)."""
    from common.backends import build_backends

    settings = _settings(backend)

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

    metrics = run.get("metrics") or run_metrics(run, run["steps"], _settings(backend).llm_prices)
    if as_json:
        click.echo(_json({**run, "metrics": metrics}))
        return
    click.echo(yaml.safe_dump(run, sort_keys=False, allow_unicode=True))
    # Commented, so the output stays valid YAML.
    click.echo(
        "\n".join("# " + line for line in ["metrics", *format_metrics(metrics).splitlines()])
    )


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


@runs.command("sweep")
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
@click.option(
    "--older-than",
    callback=_duration,
    help="How long a shard must show no progress (and hold no live claim) to count as stuck, "
    "e.g. 30m, 2h. Default: LR_SWEEP_GRACE_SECONDS (30m).",
)
@click.option("--limit", default=500, show_default=True, type=click.IntRange(min=1))
@_friendly
def runs_sweep(backend: str | None, older_than: int | None, limit: int) -> None:
    """Finish runs stuck in `running`: fail their stuck shards so the report runs (`partial`).

    Idempotent; prints what it did. In the cloud a Cloud Scheduler job runs it.
    """
    from datetime import timedelta

    from common.steps.context import StepContext
    from common.steps.sweep import sweep_runs

    settings = _settings(backend)
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


# ----------------------------------------------------------------------- batches
@main.group()
def batches() -> None:
    """Provider batches of recipes with `llm.batch` (answers within 24 h, half price)."""


@batches.command("poll")
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
@click.option("--run", "run_id", help="Only this run's batches (default: every running run).")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(min=1))
@_friendly
def batches_poll(backend: str | None, run_id: str | None, limit: int) -> None:
    """Collect ended provider batches and re-deliver their waiting shards.

    Idempotent; prints one line per waiting shard. In the cloud a Cloud Scheduler
    job runs it; the local runner runs it while its run waits.
    """
    from common.steps.batches import poll_batches
    from common.steps.context import StepContext

    settings = _settings(backend)
    ctx = StepContext.from_settings(settings)
    actions = poll_batches(ctx, run_id=run_id, limit=limit)
    for action in actions:
        click.echo(action.line())
    if settings.backend == "local" and any(a.what in ("collected", "redelivered") for a in actions):
        from common.local_runner import drain

        drain(ctx)  # the local bus has no functions behind it: run the shards (and report) here
    if not actions:
        click.echo("no shard waits for a batch")


# ---------------------------------------------------------------------- clusters
@main.group()
def clusters() -> None:
    """Manage the clusters a recipe keeps between runs (`clustering.refit: incremental`)."""


@clusters.command("refit")
@click.argument("name")
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
@_recipes_dir_option
@_friendly
def clusters_refit(name: str, backend: str | None, recipes_dir: Path | None) -> None:
    """Make NAME's next run fit its clusters from scratch instead of assigning to the stored ones."""
    from common.backends import build_backends
    from common.clustering.assign import request_refit

    settings = _settings(backend, recipes_dir)
    recipe = load_recipe(name, settings.recipes_dir)
    if not recipe.meta.clustering:
        raise RecipeError(
            "the recipe has no clustering section: nothing to refit",
            where=f"{name}/{META}",
            expected="a `clustering:` section",
        )
    request_refit(build_backends(settings).blobs, name)
    click.echo(f"{name}: the next run fits its clusters from scratch")


# ------------------------------------------------------------------------- cache
@main.group()
def cache() -> None:
    """Inspect and prune the LLM summary cache."""


@cache.command("stats")
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
@_friendly
def cache_stats(backend: str | None) -> None:
    """How many cached answers there are, and how many have expired."""
    from common.backends import build_backends

    counts = build_backends(_settings(backend)).cache.stats()
    click.echo(f"entries {counts['entries']}  expired {counts['expired']}")


@cache.command("prune")
@click.option("--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND.")
@_friendly
def cache_prune(backend: str | None) -> None:
    """Delete expired answers now (Firestore's TTL policy also does it, eventually)."""
    from common.backends import build_backends

    deleted = build_backends(_settings(backend)).cache.prune()
    click.echo(f"deleted {deleted} expired entries")


from common.dev.cli import register as register_dev  # noqa: E402

register_dev(main)  # lead-recovery runs wait


if __name__ == "__main__":  # pragma: no cover
    main()
