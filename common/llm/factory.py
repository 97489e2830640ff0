"""Build an `Analyzer` for a recipe from settings: provider, key pool, limits, cache."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

from common.errors import ConfigError
from common.llm.analysis import Analyzer
from common.llm.items import Item
from common.llm.prompts import SYSTEM, Renderer, render_prompt
from common.ports.summarycache import SummaryCache
from common.privacy.config import PrivacySection
from common.settings import Settings

if TYPE_CHECKING:
    from common.llm.client import LLMClient
    from common.llm.config import LLMConfig

ProviderName = Literal["local", "openai", "gemini"]

DEFAULT_MODELS = {
    "local": "SmolLM2-135M-Instruct-Q4_1",
    "openai": "gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
}
"""Model used when neither the recipe nor LR_LLM_MODEL names one."""


class _RecipeMeta(Protocol):
    @property
    def privacy(self) -> PrivacySection: ...


class RecipeLike(Protocol):
    """What `build_analyzer` reads of a recipe (a `common.recipe.Recipe`).

    A protocol, so that the LLM layer does not import the recipe loader, which
    imports the LLM modes to validate a recipe.
    """

    @property
    def llm(self) -> LLMConfig | None: ...

    @property
    def prompt(self) -> str | None: ...

    @property
    def meta(self) -> _RecipeMeta: ...

    def where(self, file: str = ..., field: str | None = None) -> str:
        """Where in the recipe folder, for error messages."""
        ...


def effective_provider_model(
    settings: Settings, provider: ProviderName, model: str | None
) -> tuple[ProviderName, str]:
    """The provider and model to use: `LR_LLM_PROVIDER` / `LR_LLM_MODEL` win over the recipe.

    A provider override without a model override uses that provider's default
    model, since the recipe's model belongs to the recipe's own provider.
    """
    name = settings.llm_provider or provider
    if settings.llm_model:
        return name, settings.llm_model
    if settings.llm_provider and settings.llm_provider != provider:
        return name, DEFAULT_MODELS[name]
    return name, model or DEFAULT_MODELS[name]


def build_client(config: LLMConfig, settings: Settings) -> LLMClient:
    """The rate-limited, retrying client of ``config``'s provider, with its key pool.

    ``config`` is the effective one (`effective_provider_model` applied): its
    provider, model, base URL and ``limits`` are used. ``limits.rpm`` / ``tpm``
    hold per key across every process of the deployment (`budget_for`).

    Raises:
        ConfigError: the provider cannot be built (missing key or package).
    """
    from common.llm.budget import budget_for
    from common.llm.client import LLMClient
    from common.llm.keys import KeyPool
    from common.llm.providers.registry import api_keys, build_provider
    from common.llm.tokens import count_tokens

    provider = build_provider(config.provider, config=config, settings=settings)
    return LLMClient(
        provider,
        limits=config.limits,
        keys=KeyPool(api_keys(config.provider, settings)),
        count_tokens=count_tokens,
        backoff_initial=config.limits.backoff_initial_seconds,
        backoff_max=config.limits.backoff_max_seconds,
        budget=budget_for(settings),
    )


def _batch_router(config: LLMConfig, settings: Settings, model: str) -> Any:
    """The shard's batch side when the recipe batches and a summarize shard is running."""
    from common.llm.batch import BatchRouter, current_scope

    scope = current_scope()
    if config.batch == "never" or scope is None:
        return None
    from common.llm.batch.providers import build_batch_provider

    provider = build_batch_provider(config.provider, config=config, settings=settings)
    return BatchRouter(scope, provider, model=model)


def build_analyzer(
    recipe: RecipeLike,
    settings: Settings,
    cache: SummaryCache | None,
    *,
    read_cache: bool = True,
    prompt: str | None = None,
    answer_model: type[BaseModel] | None = None,
    system: str = SYSTEM,
    schema_name: str = "answer",
    render: Renderer = render_prompt,
    schema_for: Callable[[Item], dict[str, Any]] | None = None,
    offline: bool = False,
) -> Analyzer:
    """The analyzer of ``recipe``; `LR_LLM_PROVIDER` / `LR_LLM_MODEL` override the recipe.

    Args:
        recipe: The recipe (its ``llm`` section and prompt).
        settings: Provider, model, keys and cache settings.
        cache: Where answers are cached (None: no cache).
        read_cache: Use cached answers (False: ask again, still store).
        prompt: The prompt template; default: the recipe's prompt file.
        answer_model: The answer's model; default: built from ``llm.output_schema``.
        system: The system message.
        schema_name: The schema's name in the request.
        render: How the prompt and an item become the user message.
        schema_for: The schema sent for one item, when it narrows the answer model's.
        offline: Build no provider or client (no key needed): for requests, cache
            keys and lookups only (the `--dry-run` cost preview), never for calls.

    Raises:
        ConfigError: the recipe has no llm section (or, without ``answer_model``, no
            output schema), or the provider cannot be built.
    """
    config = recipe.llm
    if config is None or recipe.prompt is None:
        raise ConfigError("the recipe has no llm section", where=recipe.where(field="llm"))
    if answer_model is None and not config.output_schema:
        # score / extract recipes have no output schema: their modes pass the answer model.
        raise ConfigError(
            f"mode `{config.mode}` has no output schema to answer with",
            where=recipe.where(field="llm.output_schema"),
            expected="an `analyze` recipe, or the mode's own answer model",
        )
    provider_name, model = effective_provider_model(settings, config.provider, config.model)
    effective = config.model_copy(update={"provider": provider_name, "model": model})
    client = None if offline else build_client(effective, settings)
    from common.privacy.config import build_masker

    return Analyzer(
        masker=build_masker(recipe.meta.privacy, provider_name, project=settings.project),
        batch=_batch_router(effective, settings, model),
        config=effective,
        prompt=recipe.prompt if prompt is None else prompt,
        provider_name=provider_name,
        model=model,
        client=client,
        cache=cache if settings.llm_cache else None,
        ttl=timedelta(days=settings.llm_cache_ttl_days),
        read_cache=read_cache,
        answer_model=answer_model,
        system=system,
        schema_name=schema_name,
        render=render,
        schema_for=schema_for,
    )
