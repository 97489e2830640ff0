"""OpenAI embeddings (``POST /v1/embeddings``) through the official async SDK.

One `openai.AsyncOpenAI` per key for the duration of one `embed` call, built
with ``max_retries=0``: retries, backoff and key rotation belong to
`RemoteEmbedder`. Errors map like the chat provider's
(`common.llm.providers.openai_provider`): 429 → `RateLimited` with the
server's Retry-After, 5xx/timeouts/connection failures → `ProviderUnavailable`,
other 4xx → `ProviderRejected`, keys redacted from every message.
"""

from __future__ import annotations

from typing import Any

import openai

from common.clustering.embedders._remote import RemoteEmbedder
from common.llm.config import RateLimits
from common.llm.keys import KeyPool, fingerprint
from common.llm.providers.base import ProviderUnavailable
from common.llm.providers.openai_provider import KEYLESS_PLACEHOLDER, map_status_error


class OpenAIEmbedder(RemoteEmbedder):
    """Embeddings from OpenAI or an OpenAI-compatible server."""

    provider = "openai"

    def __init__(
        self,
        *,
        model: str,
        dimensions: int | None,
        batch_size: int,
        limits: RateLimits,
        keys: KeyPool,
        base_url: str | None = None,
    ) -> None:
        super().__init__(
            model=model, dimensions=dimensions, batch_size=batch_size, limits=limits, keys=keys
        )
        self.base_url = base_url
        self._clients: dict[str, openai.AsyncOpenAI] = {}

    def _client(self, api_key: str | None) -> openai.AsyncOpenAI:
        secret = api_key or KEYLESS_PLACEHOLDER
        if secret not in self._clients:
            self._clients[secret] = openai.AsyncOpenAI(
                api_key=secret,
                base_url=self.base_url,
                timeout=self.limits.timeout_seconds,
                max_retries=0,
            )
        return self._clients[secret]

    async def _close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()

    async def _call(self, texts: list[str], api_key: str | None) -> list[list[float]]:
        key_id = fingerprint(api_key) if api_key else None
        where = f"model {self.model}" + (f", key {key_id}" if key_id else "")
        extra: dict[str, Any] = {"dimensions": self.dimensions} if self.dimensions else {}
        try:
            response = await self._client(api_key).embeddings.create(
                model=self.model, input=texts, encoding_format="float", **extra
            )
        except openai.APIStatusError as err:
            raise map_status_error(err, api_key=api_key, key_id=key_id, where=where) from (
                None if err.status_code in (401, 403) else err
            )
        except (openai.APITimeoutError, openai.APIConnectionError) as err:
            raise ProviderUnavailable(
                f"openai: no response ({type(err).__name__})", where=where
            ) from err
        data = getattr(response, "data", None)
        if not isinstance(data, list):
            raise ProviderUnavailable("openai: the response is not an embedding list", where=where)
        return [list(d.embedding) for d in sorted(data, key=lambda d: d.index)]
