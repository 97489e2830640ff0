"""Build an `Analyzer` for a recipe from settings: provider, key pool, limits, cache."""

from __future__ import annotations

from datetime import timedelta

from common.errors import ConfigError
from common.llm.analysis import Analyzer
from common.ports.summarycache import SummaryCache
from common.recipe import Recipe
from common.settings import Settings

DEFAULT_MODELS = {
    "local": "SmolLM2-135M-Instruct-Q4_1",
    "openai": "gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
}
"""Model used when neither the recipe nor LR_LLM_MODEL names one."""


def build_analyzer(
    recipe: Recipe, settings: Settings, cache: SummaryCache | None, *, read_cache: bool = True
) -> Analyzer:
    """The analyzer of ``recipe``; `LR_LLM_PROVIDER` / `LR_LLM_MODEL` override the recipe.

    Raises:
        ConfigError: the recipe has no llm section, or the provider cannot be built.
    """
    from common.llm.client import LLMClient
    from common.llm.keys import KeyPool
    from common.llm.providers.registry import api_keys, build_provider
    from common.llm.tokens import count_tokens

    config = recipe.llm
    if config is None or recipe.prompt is None:
        raise ConfigError("the recipe has no llm section", where=recipe.where(field="llm"))
    provider_name = settings.llm_provider or config.provider
    model = settings.llm_model or config.model or DEFAULT_MODELS[provider_name]
    if (
        settings.llm_provider
        and settings.llm_provider != config.provider
        and not settings.llm_model
    ):
        model = DEFAULT_MODELS[provider_name]  # the recipe's model belongs to its own provider
    effective = config.model_copy(update={"provider": provider_name, "model": model})
    provider = build_provider(provider_name, config=effective, settings=settings)
    client = LLMClient(
        provider,
        limits=config.limits,
        keys=KeyPool(api_keys(provider_name, settings)),
        count_tokens=count_tokens,
        backoff_initial=config.limits.backoff_initial_seconds,
        backoff_max=config.limits.backoff_max_seconds,
    )
    return Analyzer(
        config=effective,
        prompt=recipe.prompt,
        provider_name=provider_name,
        model=model,
        client=client,
        cache=cache if settings.llm_cache else None,
        ttl=timedelta(days=settings.llm_cache_ttl_days),
        read_cache=read_cache,
    )
