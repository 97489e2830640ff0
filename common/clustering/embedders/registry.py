"""The registry of embedding providers by the name a recipe uses.

Provider modules are imported only when their name is asked for, so the local
model never imports an SDK and a remote provider never imports onnxruntime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from common.clustering.embedders._base import Embedder, missing_package
from common.errors import ConfigError

if TYPE_CHECKING:
    from common.clustering.config import EmbeddingConfig
    from common.settings import Settings


def _build_local(config: EmbeddingConfig, settings: Settings) -> Embedder:
    from common.clustering.embedders.local import LocalEmbedder

    return LocalEmbedder(model=config.model_name(), batch_size=config.batch_size)


def _build_openai(config: EmbeddingConfig, settings: Settings) -> Embedder:
    from common.clustering.embedders.openai import OpenAIEmbedder
    from common.llm.keys import KeyPool
    from common.llm.providers.registry import api_keys

    if not settings.openai_api_keys and not settings.openai_base_url:
        raise ConfigError(
            "embedding provider `openai` needs an API key",
            where="clustering.embedding",
            expected="LR_OPENAI_API_KEYS (comma-separated), or LR_OPENAI_BASE_URL for an "
            "OpenAI-compatible endpoint that needs no key",
        )
    return OpenAIEmbedder(
        model=config.model_name(),
        dimensions=config.dimensions,
        batch_size=config.batch_size,
        limits=config.limits,
        keys=KeyPool(api_keys("openai", settings)),
        base_url=settings.openai_base_url,
    )


def _build_gemini(config: EmbeddingConfig, settings: Settings) -> Embedder:
    from common.clustering.embedders.vertex import VertexEmbedder
    from common.llm.keys import KeyPool
    from common.llm.providers.registry import api_keys

    if not settings.gemini_api_keys and not settings.project:
        raise ConfigError(
            "embedding provider `gemini` needs an API key or a Google Cloud project",
            where="clustering.embedding",
            expected="LR_GEMINI_API_KEYS (Vertex AI express mode), or LR_PROJECT with "
            "application default credentials",
        )
    return VertexEmbedder(
        model=config.model_name(),
        dimensions=config.dimensions,
        batch_size=config.batch_size,
        limits=config.limits,
        keys=KeyPool(api_keys("gemini", settings)),
        project=settings.project,
        location=settings.gemini_location,
        base_url=settings.gemini_base_url,
    )


_BUILDERS: dict[str, Callable[[EmbeddingConfig, Settings], Embedder]] = {
    "local": _build_local,
    "openai": _build_openai,
    "gemini": _build_gemini,
}
PROVIDERS = tuple(_BUILDERS)
"""Valid embedding provider names."""


def build_embedder(config: EmbeddingConfig, settings: Settings) -> Embedder:
    """The embedder ``config.provider`` names, configured from the recipe and settings.

    Raises:
        ConfigError: unknown provider, missing credentials, or its packages are
            not installed (the message says what to install).
    """
    builder = _BUILDERS.get(config.provider)
    if builder is None:
        raise ConfigError(
            f"unknown embedding provider `{config.provider}`",
            where="clustering.embedding.provider",
            expected="one of " + ", ".join(PROVIDERS),
        )
    try:
        return builder(config, settings)
    except ImportError as err:
        raise missing_package(config.provider, err) from err
