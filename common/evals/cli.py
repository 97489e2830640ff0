"""``lead-recovery eval``: score a recipe's LLM step on its eval sets; gate CI on thresholds.

Registered on the main group by `common.cli` (``main.add_command(eval_command)``).
Exit codes: 0 thresholds met (or none set), 1 a threshold not met or the run
failed, 2 invalid input (recipe, eval set, prompt file, settings).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from common.errors import ConfigError, LeadRecoveryError, RecipeError

EXIT_FAILED = 1
EXIT_INVALID = 2
SHOWN_METRICS = ("tokens", "cache", "latency", "retries")
"""Lines of `metrics_rows` printed per variant."""


def _read_prompt(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RecipeError(f"cannot read the prompt file: {err}", where=str(path)) from err
    if not text.strip():
        raise RecipeError("the prompt file is empty", where=str(path))
    return text


def _fail(err: LeadRecoveryError) -> None:
    click.secho(f"error: {err}", fg="red", err=True)
    invalid = isinstance(err, RecipeError | ConfigError) or "settings" in str(err.where)
    sys.exit(EXIT_INVALID if invalid else EXIT_FAILED)


@click.command("eval")
@click.option("--recipe", "-r", required=True, help="Recipe folder name under the recipes dir.")
@click.option("--model", help="Model of variant A (default: LR_LLM_MODEL or the recipe's).")
@click.option(
    "--prompt",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Prompt file of variant A (default: the recipe's prompt.txt).",
)
@click.option(
    "--compare",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    metavar="PROMPT_B",
    help="Also run this prompt file as variant B and compare field by field.",
)
@click.option("--compare-model", metavar="MODEL_B", help="Variant B uses this model.")
@click.option(
    "--judge/--no-judge",
    default=True,
    show_default=True,
    help="Grade judged fields (the sets' rubrics) with an LLM judge.",
)
@click.option("--judge-model", help="The judge's model (default: LR_LLM_MODEL or the recipe's).")
@click.option(
    "--set", "set_names", multiple=True, metavar="NAME", help="Only this eval set (repeatable)."
)
@click.option(
    "--limit", type=click.IntRange(min=1), help="Only the first N cases of each set (a quick try)."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the CSVs and report.html (default: output_run/evals/<recipe>/<time>/).",
)
@click.option(
    "--no-cache", is_flag=True, help="Ask the LLM again instead of reading cached answers."
)
@click.option(
    "--recipes-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Recipes folder (default: LR_RECIPES_DIR or recipes/).",
)
def eval_command(
    recipe: str,
    model: str | None,
    prompt: Path | None,
    compare: Path | None,
    compare_model: str | None,
    judge: bool,
    judge_model: str | None,
    set_names: tuple[str, ...],
    limit: int | None,
    out: Path | None,
    no_cache: bool,
    recipes_dir: Path | None,
) -> None:
    """Score the recipe's LLM answers on its eval sets (recipes/NAME/evals/).

    Runs the recipe's processors and LLM step over every case (through the
    cache), scores each expected field (accuracy and confusion for categories,
    mean absolute error for numbers, text checks, an optional LLM judge), writes
    CSV files and report.html, and exits 1 when a set's eval_thresholds are
    not met. --compare / --compare-model add a variant B and print per-field
    differences (the thresholds gate variant A).
    """
    try:
        code = _run(
            recipe=recipe,
            model=model,
            prompt=prompt,
            compare=compare,
            compare_model=compare_model,
            judge=judge,
            judge_model=judge_model,
            set_names=set_names,
            limit=limit,
            out=out,
            no_cache=no_cache,
            recipes_dir=recipes_dir,
        )
    except LeadRecoveryError as err:
        _fail(err)
        return
    sys.exit(code)


def _run(
    *,
    recipe: str,
    model: str | None,
    prompt: Path | None,
    compare: Path | None,
    compare_model: str | None,
    judge: bool,
    judge_model: str | None,
    set_names: tuple[str, ...],
    limit: int | None,
    out: Path | None,
    no_cache: bool,
    recipes_dir: Path | None,
) -> int:
    from common.evals.fields import load_eval_sets, output_fields
    from common.evals.model import Variant
    from common.evals.report import write_report
    from common.evals.report_text import text_comparison, text_gates, text_scores
    from common.evals.runner import run_eval
    from common.observability.metrics import metrics_rows
    from common.recipe.loader import load_recipe
    from common.settings import Settings
    from common.steps.context import StepContext

    overrides: dict[str, Any] = {"recipes_dir": recipes_dir} if recipes_dir else {}
    try:
        settings = Settings(**overrides)
    except ValueError as err:  # pydantic's ValidationError
        raise ConfigError(f"invalid settings: {err}", where="settings") from err
    loaded = load_recipe(recipe, settings.recipes_dir)
    fields = output_fields(loaded)
    sets = load_eval_sets(loaded, set_names)
    variant_a = Variant(
        "A",
        prompt=_read_prompt(prompt) if prompt else None,
        prompt_name=prompt.name if prompt else "prompt.txt",
        model=model,
    )
    variants = [variant_a]
    if compare or compare_model:
        variants.append(
            Variant(
                "B",
                prompt=_read_prompt(compare) if compare else variant_a.prompt,
                prompt_name=compare.name if compare else variant_a.prompt_name,
                model=compare_model or model,
            )
        )
    ctx = StepContext.from_settings(settings)
    run = run_eval(
        ctx,
        loaded,
        sets,
        variants,
        fields=fields,
        read_cache=not no_cache,
        judge=judge,
        judge_model=judge_model,
        limit=limit,
    )
    counts = ", ".join(
        f"{s.name} {sum(1 for p in run.prepared.cases if p.set_name == s.name)}" for s in sets
    )
    click.echo(f"eval {loaded.name}: {len(run.prepared.cases)} cases ({counts})")
    for result in run.variants:
        click.echo(f"  {result.label}")
    if run.baseline is not None:
        click.echo(
            "  rules: llm.rules alone (rules acc/mae; a case no rule matches counts as wrong)"
        )
    first = run.variants[0]
    click.echo("")
    click.echo(text_scores(run, first))
    if len(run.variants) > 1:
        click.echo("")
        click.echo(f"comparison: {run.variants[0].label}  vs  {run.variants[1].label}")
        click.echo(text_comparison(run))
    click.echo("")
    for result in run.variants:
        metrics = result.metrics(settings.llm_prices)
        for label, text in metrics_rows(metrics):
            if label in SHOWN_METRICS:
                click.echo(f"{result.variant.name} {label:<8} {text}")
        if "judge" in metrics:
            for label, text in metrics_rows(metrics["judge"]):
                if label in ("tokens", "cache"):
                    click.echo(f"{result.variant.name} judge {label:<6} {text}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder = out or settings.data_dir / "output_run" / "evals" / loaded.name / stamp
    paths = write_report(run, folder, settings.llm_prices)
    click.echo(f"wrote {folder / 'report.html'} (+ {', '.join(p.name for p in paths[:-1])})")
    click.echo("")
    click.echo(f"thresholds ({first.variant.name}):")
    click.echo(text_gates(run, first))
    failed = [g for g in run.gates(first) if not g.passed]
    if failed:
        click.secho(f"{len(failed)} threshold(s) not met", fg="red", err=True)
        return EXIT_FAILED
    return 0
