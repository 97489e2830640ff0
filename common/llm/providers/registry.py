"""LLM providers by the name a recipe uses (``llm.provider``).

Each provider module is imported only when its name is asked for, so a
function that runs the local model never imports the OpenAI or Google SDKs.
"""

from __future__ import annotations

from collections.abc import Callable

from common.errors import ConfigError
from common.llm.config import LLMConfig
from common.llm.providers.base import Provider
from common.settings import Settings

_INSTALL_HINTS = {
    "openai": "pip install openai",
    "gemini": "pip install google-genai",
}


def _build_openai(config: LLMConfig, settings: Settings) -> Provider:
    from common.llm.providers.openai_provider import DEFAULT_MODEL, OpenAIProvider

    base_url = settings.openai_base_url or config.base_url
    if not settings.openai_api_keys and not base_url:
        raise ConfigError(
            "provider `openai` needs an API key",
            where="settings",
            expected="LR_OPENAI_API_KEYS (comma-separated), or LR_OPENAI_BASE_URL / the "
            "recipe's llm.base_url for an OpenAI-compatible endpoint that needs no key",
        )
    return OpenAIProvider(
        base_url=base_url,
        timeout=config.limits.timeout_seconds,
        default_model=config.model or DEFAULT_MODEL,
    )


def _build_gemini(config: LLMConfig, settings: Settings) -> Provider:
    from common.llm.providers.gemini_provider import DEFAULT_MODEL, GeminiProvider

    if not settings.gemini_api_keys and not settings.project:
        raise ConfigError(
            "provider `gemini` needs an API key or a Google Cloud project",
            where="settings",
            expected="LR_GEMINI_API_KEYS (Vertex AI express mode), or LR_PROJECT with "
            "application default credentials",
        )
    return GeminiProvider(
        project=settings.project,
        location=settings.gemini_location,
        base_url=settings.gemini_base_url,
        timeout=config.limits.timeout_seconds,
        default_model=config.model or DEFAULT_MODEL,
    )


def _build_local(config: LLMConfig, settings: Settings) -> Provider:
    # The bundled model is the only local one; its calls run one at a time, so
    # the client's per-call timeout also covers the wait behind other calls.
    from common.llm.providers.local import LocalProvider

    return LocalProvider()


_BUILDERS: dict[str, Callable[[LLMConfig, Settings], Provider]] = {
    "local": _build_local,
    "openai": _build_openai,
    "gemini": _build_gemini,
}

PROVIDERS = tuple(_BUILDERS)
"""Valid provider names."""


def build_provider(name: str, *, config: LLMConfig, settings: Settings) -> Provider:
    """The provider called ``name``, configured from the recipe and the settings.

    Settings win over the recipe for endpoints (``LR_OPENAI_BASE_URL``,
    ``LR_GEMINI_BASE_URL``); ``config.model`` is the model used when a request
    names none, and ``config.limits.timeout_seconds`` bounds each HTTP call.

    Args:
        name: ``local``, ``openai`` or ``gemini``.
        config: The recipe's ``llm`` section (with the effective model).
        settings: Process settings (keys, endpoints, project).

    Raises:
        ConfigError: Unknown name, missing credentials, or the provider's package
            is not installed.
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ConfigError(
            f"unknown LLM provider `{name}`",
            where="llm.provider",
            expected="one of " + ", ".join(PROVIDERS),
            found=name,
        )
    try:
        return builder(config, settings)
    except ImportError as err:
        hint = _INSTALL_HINTS.get(name, "pip install -e .")
        raise ConfigError(
            f"LLM provider `{name}` needs a package that is not installed "
            f"({err.name or err}); run `{hint}`",
            where="llm.provider",
        ) from err


def api_keys(name: str, settings: Settings) -> list[str]:
    """The plain API keys of provider ``name`` (empty for keyless providers).

    The strings are secrets: hand them to `common.llm.keys.KeyPool` and nothing else.

    Raises:
        ConfigError: Unknown provider name.
    """
    if name == "openai":
        return [k.get_secret_value() for k in settings.openai_api_keys]
    if name == "gemini":
        return [k.get_secret_value() for k in settings.gemini_api_keys]
    if name == "local":
        return []
    raise ConfigError(
        f"unknown LLM provider `{name}`",
        where="llm.provider",
        expected="one of " + ", ".join(PROVIDERS),
        found=name,
    )
