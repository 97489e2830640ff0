"""The provider interface: one structured generation per call.

A provider turns an `LLMRequest` into the provider's wire protocol and returns
the raw text of the answer (JSON that *should* match the schema; validation is
the caller's job, so every provider's answers are validated the same way).

Errors a provider raises (all from `common.errors`):

- `RateLimited` (transient): HTTP 429 / quota; carries ``retry_after`` seconds
  when the server said so, and ``key_id`` of the key that was throttled.
- `ProviderUnavailable` (transient): 5xx, timeouts, connection errors.
- `ProviderRejected` (terminal): 400/401/403/404 — a bad request, model or key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from common.errors import TerminalError, TransientError


@dataclass(frozen=True)
class LLMRequest:
    """One structured generation."""

    system: str
    """Instructions (the recipe's prompt with its placeholders filled)."""
    user: str
    """The material: conversation digest, lead fields."""
    json_schema: dict[str, Any]
    """JSON Schema of the expected answer (from the recipe's output schema)."""
    schema_name: str = "answer"
    model: str = ""
    temperature: float = 0.0
    max_output_tokens: int = 512
    metadata: dict[str, str] = field(default_factory=dict)
    """Free labels (lead key, run id) for logs; never sent to the provider."""


@dataclass(frozen=True)
class LLMResponse:
    """The raw answer and its usage."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""


class RateLimited(TransientError):
    """The provider throttled this call (HTTP 429 or quota exhausted)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        key_id: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.key_id = key_id


class ProviderUnavailable(TransientError):
    """Server error, timeout or connection failure: worth retrying."""


class ProviderRejected(TerminalError):
    """The provider refused the request (bad request, unknown model, bad key)."""


class Provider(Protocol):
    """Async structured generation against one provider."""

    name: str

    async def generate(self, request: LLMRequest, *, api_key: str | None) -> LLMResponse:
        """Send ``request`` with ``api_key`` (None for keyless providers)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
