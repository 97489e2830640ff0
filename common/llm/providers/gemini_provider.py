"""Gemini on Vertex AI through ``google-genai`` (``genai.Client(vertexai=True, ...)``).

Two ways to authenticate, as google-genai 3.x implements them:

- **Express mode** (an API key): ``Client(vertexai=True, api_key=...)`` sends
  ``x-goog-api-key`` and calls
  ``{base}/v1beta1/publishers/google/models/{model}:generateContent``.
- **Service account** (no key): ``Client(vertexai=True, project=..., location=...)``
  sends ``Authorization: Bearer <ADC token>`` and calls
  ``{base}/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent``.

``{base}`` is ``https://{location}-aiplatform.googleapis.com`` (or
``https://aiplatform.googleapis.com`` for ``global`` and express mode) unless
``base_url`` overrides it (tests point it at a local server). The SDK's own
retries are switched off (one attempt): `LLMClient` owns retries and key rotation.

The recipe's schema goes out untouched as ``responseJsonSchema`` (the raw
JSON Schema field; ``response_schema`` would first be converted to Vertex's
OpenAPI subset, which drops ``additionalProperties`` and friends).
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from typing import TYPE_CHECKING, Any

import pydantic
from google.auth import exceptions as auth_exceptions
from google.genai import Client, errors, types

from common.llm.keys import fingerprint, redact
from common.llm.providers.base import (
    LLMRequest,
    LLMResponse,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from common.retry import retry_after_from_headers

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

DEFAULT_MODEL = "gemini-2.5-flash"
"""Model used when neither the request nor the recipe names one."""

_MAX_ERROR_CHARS = 300
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions of whichever HTTP stack google-genai runs on that mean "try again"."""
    found: list[type[BaseException]] = [TimeoutError, ConnectionError]
    for module, name in (
        ("httpx2", "TransportError"),
        ("httpx", "TransportError"),
        ("aiohttp", "ClientError"),
        ("google.auth.exceptions", "TransportError"),
    ):
        try:
            found.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()
"""Connection-level failures of the Gemini/Vertex clients (retried as unavailable)."""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def retry_delay_from_details(details: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` entry (``"retryDelay": "12s"``) in an error body."""
    error = details.get("error", details) if isinstance(details, dict) else None
    entries = error.get("details") if isinstance(error, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION.match(str(entry.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


class GeminiProvider:
    """Structured generation with Gemini on Vertex AI."""

    name = "gemini"

    def __init__(
        self,
        project: str | None,
        location: str = "us-central1",
        base_url: str | None = None,
        timeout: float = 60.0,
        *,
        default_model: str = DEFAULT_MODEL,
        credentials: Credentials | None = None,
    ) -> None:
        """Configure the provider; clients are built lazily per key.

        Args:
            project: Google Cloud project (used without an API key).
            location: Vertex AI region (used without an API key).
            base_url: Endpoint override, e.g. ``http://127.0.0.1:8123`` in tests.
            timeout: Seconds the SDK waits for one HTTP response.
            default_model: Model used when a request names none.
            credentials: Explicit credentials for keyless calls; None means
                application default credentials.
        """
        self.project = project
        self.location = location
        self.base_url = base_url
        self.timeout = timeout
        self.default_model = default_model
        self.credentials = credentials
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str | None, Client]
        ] = weakref.WeakKeyDictionary()

    def _http_options(self) -> types.HttpOptions:
        return types.HttpOptions(
            base_url=self.base_url,
            timeout=max(1, int(self.timeout * 1000)),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),
        )

    def _client(self, api_key: str | None) -> Client:
        loop = asyncio.get_running_loop()
        per_loop = self._clients.setdefault(loop, {})
        client = per_loop.get(api_key)
        if client is None:
            try:
                if api_key:
                    client = Client(
                        vertexai=True, api_key=api_key, http_options=self._http_options()
                    )
                else:
                    client = Client(
                        vertexai=True,
                        project=self.project,
                        location=self.location,
                        credentials=self.credentials,
                        http_options=self._http_options(),
                    )
            except ValueError as err:
                # Only configuration problems land here (no project, both key and
                # credentials); the key itself is never part of these messages.
                raise ProviderRejected(
                    f"gemini: cannot build a Vertex AI client: {redact(str(err), [api_key])}",
                    expected="LR_GEMINI_API_KEYS, or LR_PROJECT with application default credentials",
                ) from None
            per_loop[api_key] = client
        return client

    async def generate(self, request: LLMRequest, *, api_key: str | None) -> LLMResponse:
        """Ask for one structured answer.

        Args:
            request: What to ask; ``request.json_schema`` is sent as ``responseJsonSchema``.
            api_key: A Vertex AI express-mode key, or None for service-account auth.

        Returns:
            The answer text (JSON that should match the schema) and token usage.

        Raises:
            RateLimited: HTTP 429 / RESOURCE_EXHAUSTED.
            ProviderUnavailable: 5xx, 408, timeout, connection failure.
            ProviderRejected: Any other 4xx, missing credentials, or a blocked prompt.
        """
        model = request.model or self.default_model
        key_id = fingerprint(api_key) if api_key else None
        where = f"model {model}" + (f", key {key_id}" if key_id else "")
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            response_mime_type="application/json",
            response_json_schema=request.json_schema,
            temperature=request.temperature,
            max_output_tokens=request.max_output_tokens,
        )
        try:
            response = await self._client(api_key).aio.models.generate_content(
                model=model, contents=request.user, config=config
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
            # A 200 whose body is not a GenerateContentResponse (a proxy's page).
            raise ProviderUnavailable(
                "gemini: the response is not a generateContent answer", where=where
            ) from err
        except (auth_exceptions.DefaultCredentialsError, auth_exceptions.RefreshError) as err:
            # Keyless calls fetch an ADC token first; no usable credentials is a
            # configuration problem unless google-auth says the refresh may recover.
            if getattr(err, "retryable", False):
                raise ProviderUnavailable(
                    f"gemini: token refresh failed ({type(err).__name__})", where=where
                ) from err
            raise ProviderRejected(
                f"gemini: no usable credentials ({type(err).__name__})",
                where=where,
                expected="LR_GEMINI_API_KEYS, or application default credentials",
            ) from err
        return _to_response(response, model=model)

    async def aclose(self) -> None:
        """Close the clients opened on the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for client in self._clients.pop(loop, {}).values():
            await client.aio.aclose()


def _to_response(response: types.GenerateContentResponse, *, model: str) -> LLMResponse:
    candidates = response.candidates or []
    if not candidates:
        feedback = response.prompt_feedback
        reason = getattr(feedback, "block_reason", None) if feedback else None
        if reason:
            raise ProviderRejected(
                f"gemini: the prompt was blocked ({reason})", where=f"model {model}"
            )
        raise ProviderUnavailable("gemini: the response has no candidates", where=f"model {model}")
    content = candidates[0].content
    parts = (content.parts if content else None) or []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    usage = response.usage_metadata
    output = 0
    if usage is not None:
        output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    return LLMResponse(
        text=text,
        input_tokens=(usage.prompt_token_count or 0) if usage is not None else 0,
        output_tokens=output,
        model=response.model_version or model,
    )


def map_api_error(
    err: errors.APIError, *, api_key: str | None, key_id: str | None, where: str
) -> Exception:
    """The pipeline's error for a google-genai API error (generation and embeddings alike).

    429 → `RateLimited` (Retry-After or the RetryInfo delay), 5xx/408 → unavailable,
    the rest → rejected; the key never appears in the message.
    """
    code = int(err.code or 0)
    detail = _short(redact(str(err.message or err.status or ""), [api_key]))
    if code == 429:
        headers = getattr(err.response, "headers", None)
        retry_after = retry_after_from_headers(headers)
        if retry_after is None:
            retry_after = retry_delay_from_details(err.details)
        return RateLimited(
            f"gemini: throttled (429 {err.status or ''}): {detail}".replace(" )", ")"),
            retry_after=retry_after,
            key_id=key_id,
            where=where,
        )
    if code >= 500 or code == 408:
        return ProviderUnavailable(f"gemini: server error {code}: {detail}", where=where)
    return ProviderRejected(
        f"gemini: request rejected ({code} {err.status or ''}): {detail}".replace(" )", ")"),
        where=where,
        status=code,
    )
