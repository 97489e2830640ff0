"""``lead-recovery privacy check``: what a run would send to the LLM, for a few leads."""

from __future__ import annotations

from datetime import UTC, datetime

import click


@click.group("privacy")
def privacy_command() -> None:
    """What leaves the machine: masked prompts (docs/privacy.md)."""


@privacy_command.command("check")
@click.option("--recipe", "recipe_name", required=True, help="Recipe name (a folder of recipes/).")
@click.option("--limit", default=3, show_default=True, type=click.IntRange(1, 100))
def check(recipe_name: str, limit: int) -> None:
    """Print the requests a run of RECIPE would send for its first leads, as they would leave."""
    import polars as pl

    from common.llm.factory import effective_provider_model
    from common.llm.modes import get_mode
    from common.llm.preview import read_conversations
    from common.messages import RunOptions, RunRequest
    from common.privacy.config import build_masker
    from common.processors.base import LEAD_KEY, normalize_messages
    from common.settings import Settings
    from common.steps.context import StepContext
    from common.steps.fetch_leads import _read_leads
    from common.steps.jobs import job_options
    from common.steps.process import compute_features

    ctx = StepContext.from_settings(Settings())
    recipe = ctx.recipe(recipe_name)
    if recipe.llm is None:
        raise click.ClickException(f"recipe `{recipe_name}` has no llm section: it sends nothing")
    provider, model = effective_provider_model(ctx.settings, recipe.llm.provider, recipe.llm.model)
    masker = build_masker(recipe.meta.privacy, provider, project=ctx.settings.project)
    click.echo(
        f"recipe {recipe_name}: provider {provider}, model {model}, masking "
        + (f"ON ({', '.join(sorted(masker.kinds))})" if masker else "OFF (offline provider)")
    )
    as_of = datetime.now(UTC)
    options = RunOptions(as_of=as_of, limit=limit)
    request = RunRequest(recipe=recipe_name, options=options)
    job = job_options(ctx.settings, recipe, run_id="privacy-check", step="privacy_check")
    leads = _read_leads(ctx, recipe, request, as_of, "privacy-check").head(limit)
    messages = read_conversations(ctx, recipe, leads, as_of, job)
    features = compute_features(recipe, options, leads, messages)
    kept = features.filter(pl.col("ignore_reason").is_null()).drop("ignore_reason")
    normalized = normalize_messages(messages).filter(
        pl.col(LEAD_KEY).is_in(kept[LEAD_KEY].implode())
    )
    hook = getattr(get_mode(recipe.llm.mode), "plan", None)
    if hook is None:
        raise click.ClickException(f"mode `{recipe.llm.mode}` has no preview of its requests")
    plan = hook(
        recipe=recipe,
        settings=ctx.settings,
        cache=None,
        read_cache=False,
        kept=kept,
        messages=normalized,
    )
    for i, req in enumerate(plan.requests, 1):
        click.echo(f"\n--- request {i} of {len(plan.requests)} (system) ---\n{req.system}")
        click.echo(f"--- request {i} (user) ---\n{req.user}")
