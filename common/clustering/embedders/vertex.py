"""Vertex AI embeddings through ``google-genai`` (``client.aio.models.embed_content``).

Authentication as the Gemini chat provider does it
(`common.llm.providers.gemini_provider`): an express-mode API key
(``x-goog-api-key``) or, without keys, a service account with ``project`` and
``location``. google-genai picks the endpoint from the model name:
``text-embedding-*`` / ``text-multilingual-embedding-*`` go to ``:predict``
(``instances[].content``); ``gemini-embedding-*`` to ``:batchEmbedContents``
(or ``:embedContent`` for a single text). Texts are sent with task type
``CLUSTERING`` and ``auto_truncate``. The SDK's own retries are off: retries,
backoff and key rotation belong to `RemoteEmbedder`.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from google.genai import Client, errors, types

from common.clustering.embedders._remote import RemoteEmbedder
from common.llm.config import RateLimits
from common.llm.keys import KeyPool, fingerprint, redact
from common.llm.providers.base import ProviderRejected, ProviderUnavailable
from common.llm.providers.gemini_provider import TRANSPORT_ERRORS, map_api_error

TASK_TYPE = "CLUSTERING"


class VertexEmbedder(RemoteEmbedder):
    """Embeddings from Vertex AI."""

    provider = "gemini"

    def __init__(
        self,
        *,
        model: str,
        dimensions: int | None,
        batch_size: int,
        limits: RateLimits,
        keys: KeyPool,
        project: str | None = None,
        location: str = "us-central1",
        base_url: str | None = None,
        credentials: Any = None,
    ) -> None:
        super().__init__(
            model=model, dimensions=dimensions, batch_size=batch_size, limits=limits, keys=keys
        )
        self.project = project
        self.location = location
        self.base_url = base_url
        self.credentials = credentials
        self._clients: dict[str | None, Client] = {}

    def _client(self, api_key: str | None) -> Client:
        client = self._clients.get(api_key)
        if client is None:
            http = types.HttpOptions(
                base_url=self.base_url,
                timeout=max(1, int(self.limits.timeout_seconds * 1000)),
                retry_options=types.HttpRetryOptions(attempts=1),
            )
            try:
                if api_key:
                    client = Client(vertexai=True, api_key=api_key, http_options=http)
                else:
                    client = Client(
                        vertexai=True,
                        project=self.project,
                        location=self.location,
                        credentials=self.credentials,
                        http_options=http,
                    )
            except ValueError as err:
                raise ProviderRejected(
                    f"gemini: cannot build a Vertex AI client: {redact(str(err), [api_key])}",
                    expected="LR_GEMINI_API_KEYS, or LR_PROJECT with application default credentials",
                ) from None
            self._clients[api_key] = client
        return client

    async def _close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aio.aclose()

    async def _call(self, texts: list[str], api_key: str | None) -> list[list[float]]:
        key_id = fingerprint(api_key) if api_key else None
        where = f"model {self.model}" + (f", key {key_id}" if key_id else "")
        config = types.EmbedContentConfig(
            task_type=TASK_TYPE,
            output_dimensionality=self.dimensions,
            auto_truncate=True,
        )
        contents: Any = texts  # a list of strings: one embedding per string
        try:
            response = await self._client(api_key).aio.models.embed_content(
                model=self.model, contents=contents, config=config
            )
        except errors.APIError as err:
            raise map_api_error(err, api_key=api_key, key_id=key_id, where=where) from (
                None if err.code in (401, 403) else err
            )
        except TRANSPORT_ERRORS as err:
            raise ProviderUnavailable(
                f"gemini: no response ({type(err).__name__})", where=where
            ) from err
        except (json.JSONDecodeError, pydantic.ValidationError) as err:
            raise ProviderUnavailable(
                "gemini: the response is not an embedding answer", where=where
            ) from err
        embeddings = response.embeddings or []
        return [list(e.values or []) for e in embeddings]
