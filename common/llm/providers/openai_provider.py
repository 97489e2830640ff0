"""OpenAI (and OpenAI-compatible endpoints) through the official async SDK.

One `openai.AsyncOpenAI` per (event loop, api key), built with
``max_retries=0``: retries, backoff and key rotation belong to `LLMClient`.
Structured output uses Chat Completions with a strict ``json_schema`` response
format; `strict_json_schema` makes a recipe's schema acceptable to strict mode.

Errors map to the provider interface (`common.llm.providers.base`): 429 →
`RateLimited` (with the server's ``retry-after-ms`` / ``retry-after``), 5xx,
timeouts and connection failures → `ProviderUnavailable`, other 4xx →
`ProviderRejected`. No message carries the key: keys are named by fingerprint
and provider messages are passed through `redact`.
"""

from __future__ import annotations

import asyncio
import copy
import weakref
from typing import Any

import openai

from common.llm.keys import fingerprint, redact
from common.llm.providers.base import (
    LLMRequest,
    LLMResponse,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from common.retry import retry_after_from_headers

DEFAULT_MODEL = "gpt-4o-mini"
"""Model used when neither the request nor the recipe names one."""

KEYLESS_PLACEHOLDER = "EMPTY"
"""Sent as the key to an OpenAI-compatible endpoint that needs none (vLLM's convention)."""

_MAX_ERROR_CHARS = 300


def strict_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` that OpenAI's strict structured-output mode accepts.

    Every object gets ``additionalProperties: false`` and lists all its
    properties as required (optional fields must be nullable instead); this
    recurses through ``properties``, ``items``, ``prefixItems``, ``anyOf``,
    ``allOf`` and ``$defs``/``definitions``. A ``$ref`` with sibling keywords is
    inlined (strict mode refuses siblings) and ``"default": null`` is dropped.
    ``schema`` itself is not modified.

    Args:
        schema: A JSON Schema, e.g. a pydantic model's ``model_json_schema()``.

    Returns:
        The strict-compatible schema.
    """
    root = copy.deepcopy(schema)
    return _strict(root, root)


def _strict(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        resolved = _resolve_ref(root, ref)
        merged = {**copy.deepcopy(resolved), **{k: v for k, v in node.items() if k != "$ref"}}
        return _strict(merged, root)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _strict(sub, root) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "prefixItems", "not"):
            out[key] = _strict(value, root)
        else:
            out[key] = value
    if out.get("default", ...) is None:
        del out["default"]
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        del out["allOf"]
        out = {**all_of[0], **out}
    is_object = out.get("type") == "object" or (
        isinstance(out.get("type"), list) and "object" in out["type"]
    )
    if is_object or isinstance(out.get("properties"), dict):
        out["additionalProperties"] = False
        out["required"] = list((out.get("properties") or {}).keys())
        out.setdefault("properties", {})
    return out


def _resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref are supported, found {ref!r}")
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(target, dict):
        raise ValueError(f"$ref {ref!r} does not point at a schema object")
    return target


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def _upstream_message(err: openai.APIStatusError) -> str:
    """The provider's own error message (not the whole body), or the HTTP reason."""
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    if isinstance(err.message, str) and err.message:
        return err.message
    return err.response.reason_phrase or ""


def chat_body(request: LLMRequest, default_model: str) -> dict[str, Any]:
    """The Chat Completions body of ``request``: sent online, or as one line of a batch."""
    return {
        "model": request.model or default_model,
        "messages": [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.user},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": request.schema_name,
                "schema": strict_json_schema(request.json_schema),
                "strict": True,
            },
        },
        "temperature": request.temperature,
        "max_completion_tokens": request.max_output_tokens,
    }


class OpenAIProvider:
    """Structured generation with OpenAI Chat Completions (or a compatible server)."""

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float = 60.0,
        *,
        default_model: str = DEFAULT_MODEL,
    ) -> None:
        """Configure the provider; clients are built lazily per key.

        Args:
            base_url: OpenAI-compatible endpoint (``.../v1``); None for api.openai.com.
            timeout: Seconds the SDK waits for one HTTP response.
            default_model: Model used when a request names none.
        """
        self.base_url = base_url
        self.timeout = timeout
        self.default_model = default_model
        # httpx connection pools belong to the loop that opened them, and callers
        # run `asyncio.run` once per batch: keep clients per loop.
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, openai.AsyncOpenAI]
        ] = weakref.WeakKeyDictionary()

    def _client(self, api_key: str | None) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        per_loop = self._clients.setdefault(loop, {})
        secret = api_key or KEYLESS_PLACEHOLDER
        client = per_loop.get(secret)
        if client is None:
            client = openai.AsyncOpenAI(
                api_key=secret,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=0,
            )
            per_loop[secret] = client
        return client

    async def generate(self, request: LLMRequest, *, api_key: str | None) -> LLMResponse:
        """Ask for one structured answer.

        Args:
            request: What to ask; ``request.json_schema`` is made strict-compatible.
            api_key: The key for this attempt (None: keyless endpoint).

        Returns:
            The answer text (JSON that should match the schema) and token usage.

        Raises:
            RateLimited: HTTP 429.
            ProviderUnavailable: 5xx, 408/409, timeout, connection failure, or a
                response that is not a chat completion (a proxy's error page).
            ProviderRejected: Any other 4xx, or the model refused to answer.
        """
        model = request.model or self.default_model
        key_id = fingerprint(api_key) if api_key else None
        where = f"model {model}" + (f", key {key_id}" if key_id else "")
        try:
            completion = await self._client(api_key).chat.completions.create(
                **chat_body(request, model)
            )
        except openai.APIStatusError as err:
            raise map_status_error(err, api_key=api_key, key_id=key_id, where=where) from (
                None if err.status_code in (401, 403) else err
            )
        except openai.APITimeoutError as err:
            raise ProviderUnavailable(
                f"openai: no response within {self.timeout:g} s", where=where
            ) from err
        except openai.APIConnectionError as err:
            raise ProviderUnavailable(
                f"openai: connection failed ({type(err.__cause__ or err).__name__})",
                where=where,
            ) from err
        except openai.APIResponseValidationError as err:
            raise ProviderUnavailable(
                "openai: the response does not have the chat completion shape", where=where
            ) from err
        return _to_response(completion, model=model, where=where)

    async def aclose(self) -> None:
        """Close the clients opened on the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for client in self._clients.pop(loop, {}).values():
            await client.close()


def _to_response(completion: Any, *, model: str, where: str) -> LLMResponse:
    choices = getattr(completion, "choices", None)
    if not choices:
        # A 200 whose body is not a completion (an HTML page from a proxy, an
        # empty object): the SDK hands back a string or a model without choices.
        raise ProviderUnavailable(
            "openai: the response has no choices",
            where=where,
            found=_short(str(completion))[:120],
        )
    message = choices[0].message
    refusal = getattr(message, "refusal", None)
    if refusal and not message.content:
        raise ProviderRejected(f"openai: the model refused: {_short(redact(refusal))}", where=where)
    usage = getattr(completion, "usage", None)
    return LLMResponse(
        text=message.content or "",
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        model=getattr(completion, "model", None) or model,
    )


def map_status_error(
    err: openai.APIStatusError, *, api_key: str | None, key_id: str | None, where: str
) -> Exception:
    """The pipeline's error for an OpenAI-protocol HTTP error (chat and embeddings alike).

    429 → `RateLimited` (with Retry-After), 5xx/408/409 → `ProviderUnavailable`,
    the rest → `ProviderRejected`; the key never appears in the message.
    """
    status = err.status_code
    detail = _short(redact(_upstream_message(err), [api_key]))
    if status == 429:
        return RateLimited(
            f"openai: throttled (429): {detail}",
            retry_after=retry_after_from_headers(err.response.headers),
            key_id=key_id,
            where=where,
        )
    if status >= 500 or status in (408, 409):
        return ProviderUnavailable(f"openai: server error {status}: {detail}", where=where)
    return ProviderRejected(
        f"openai: request rejected ({status}): {detail}",
        where=where,
        status=status,
        request_id=err.request_id,
    )
