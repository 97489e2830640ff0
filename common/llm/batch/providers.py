"""Provider batch interfaces: submit many generation requests at once, collect them later.

A `BatchProvider` submits ``(custom_id, LLMRequest)`` pairs as one provider
batch and returns its id; `fetch` asks how it stands and, once the provider
has ended it (completed, expired, failed or cancelled), returns one
`BatchItem` per answered or failed request. Items the batch never reached
(an expired batch's unfinished requests) are simply absent: the caller treats
them as unanswered.

- **OpenAI** (`OpenAIBatch`): the Batch API through the official ``openai``
  client. The requests become a JSONL file uploaded to ``/v1/files``
  (``purpose=batch``), a ``/v1/batches`` job runs them against
  ``/v1/chat/completions`` within 24 h, and its output and error files are
  read back. Each line's body is exactly what the online provider sends
  (`openai_provider.chat_body`), so answers match the online mode's.
- **Gemini** (`common.llm.batch.gemini.GeminiBatch`): Vertex AI batch
  prediction jobs through ``google-genai``, input and output as JSONL in the
  run's bucket (Vertex AI reads batches only from Cloud Storage or BigQuery);
  needs ``LR_PROJECT`` and ``LR_BUCKET`` (express-mode keys cannot create jobs).

The batch and its files belong to the key that created them: the key's
fingerprint is recorded with the batch and the same key fetches it.
"""

from __future__ import annotations

import io
import json
from typing import Any

from common.errors import ConfigError, TransientError
from common.llm.batch.base import ENDED, BatchItem, BatchProvider, BatchStatus
from common.llm.keys import fingerprint, redact
from common.llm.providers.base import LLMRequest


def _key_for(keys: list[str], key_id: str | None) -> str | None:
    if key_id is None:
        return keys[0] if keys else None
    for key in keys:
        if fingerprint(key) == key_id:
            return key
    raise ConfigError(
        f"the key that submitted this batch ({key_id}) is no longer configured",
        where="batch",
        expected="the same LR_OPENAI_API_KEYS as when the batch was submitted",
    )


class OpenAIBatch:
    """The OpenAI Batch API (``/v1/files`` + ``/v1/batches``) with the official client."""

    name = "openai"

    def __init__(
        self, *, keys: list[str], base_url: str | None, default_model: str, timeout: float = 60.0
    ) -> None:
        """Configure; the client is built per key on use.

        Args:
            keys: The provider's API keys (the first submits).
            base_url: OpenAI-compatible endpoint (``.../v1``); None for api.openai.com.
            default_model: Model used when a request names none.
            timeout: Seconds one HTTP call may take.
        """
        self.keys = keys
        self.base_url = base_url
        self.default_model = default_model
        self.timeout = timeout

    def _client(self, key: str | None) -> Any:
        import openai

        from common.llm.providers.openai_provider import KEYLESS_PLACEHOLDER

        return openai.OpenAI(
            api_key=key or KEYLESS_PLACEHOLDER,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=3,
        )

    def _call(self, what: str, key: str | None, fn: Any) -> Any:
        import openai

        try:
            return fn()
        except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError) as err:
            raise TransientError(f"openai batch: {what}: {type(err).__name__}") from err
        except openai.APIStatusError as err:
            detail = redact(str(err.message), [key or ""])
            if err.status_code >= 500:
                raise TransientError(f"openai batch: {what}: {detail}") from err
            raise ConfigError(
                f"openai batch: {what} rejected ({err.status_code}): {detail}"
            ) from err

    def submit(
        self, requests: list[tuple[str, LLMRequest]], *, label: str, prefix: str | None = None
    ) -> tuple[str, str]:
        """Upload the requests as JSONL and create a 24 h batch for chat completions.

        ``prefix`` is unused: the input goes to ``/v1/files``.
        """
        from common.llm.providers.openai_provider import chat_body

        key = _key_for(self.keys, None)
        lines = [
            json.dumps(
                {
                    "custom_id": custom_id,
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": chat_body(request, self.default_model),
                },
                ensure_ascii=False,
            )
            for custom_id, request in requests
        ]
        data = ("\n".join(lines) + "\n").encode()
        client = self._client(key)
        upload = self._call(
            "upload",
            key,
            lambda: client.files.create(file=(f"{label}.jsonl", io.BytesIO(data)), purpose="batch"),
        )
        batch = self._call(
            "create",
            key,
            lambda: client.batches.create(
                input_file_id=upload.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={"lead_recovery": label[:500]},
            ),
        )
        return str(batch.id), fingerprint(key) if key else ""

    def fetch(self, batch_id: str, *, key_id: str | None) -> BatchStatus:
        """The batch's state; once it ended, its output and error files as items."""
        key = _key_for(self.keys, key_id or None)
        client = self._client(key)
        batch = self._call("retrieve", key, lambda: client.batches.retrieve(batch_id))
        state = str(batch.status)
        if state not in ENDED:
            return BatchStatus(batch_id, "running")
        items: list[BatchItem] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                text = self._call("download", key, lambda f=file_id: client.files.content(f).text)
                items.extend(_openai_item(json.loads(line)) for line in text.splitlines() if line)
        if state == "failed" and not items:
            errors = getattr(getattr(batch, "errors", None), "data", None) or []
            why = "; ".join(str(getattr(e, "message", e)) for e in errors) or "batch failed"
            return BatchStatus(batch_id, state, [BatchItem("*", error=f"batch failed: {why}")])
        return BatchStatus(batch_id, state, items)


def _openai_item(line: dict[str, Any]) -> BatchItem:
    custom_id = str(line.get("custom_id"))
    response = line.get("response") or {}
    error = line.get("error")
    if error:
        code = error.get("code") or "error"
        return BatchItem(custom_id, error=f"{code}: {error.get('message') or ''}".strip())
    body = response.get("body") or {}
    if int(response.get("status_code") or 0) != 200:
        message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        return BatchItem(
            custom_id, error=f"http {response.get('status_code')}: {message or 'request failed'}"
        )
    choices = body.get("choices") or []
    if not choices:
        return BatchItem(custom_id, error="the response has no choices")
    usage = body.get("usage") or {}
    return BatchItem(
        custom_id,
        text=(choices[0].get("message") or {}).get("content") or "",
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
    )


def build_batch_provider(provider: str, *, config: Any, settings: Any) -> BatchProvider:
    """The batch interface of ``provider`` (the effective one: `LR_LLM_PROVIDER` applied).

    Raises:
        ConfigError: the provider has no batch interface here, or no credentials.
    """
    from common.llm.providers.registry import api_keys

    if provider == "openai":
        from common.llm.providers.openai_provider import DEFAULT_MODEL

        base_url = settings.openai_base_url or config.base_url
        keys = api_keys("openai", settings)
        if not keys and not base_url:
            raise ConfigError("provider `openai` needs an API key", expected="LR_OPENAI_API_KEYS")
        return OpenAIBatch(
            keys=keys,
            base_url=base_url,
            default_model=config.model or DEFAULT_MODEL,
            timeout=config.limits.timeout_seconds,
        )
    if provider == "gemini":
        return _gemini_batch(config, settings)
    raise ConfigError(
        f"provider `{provider}` has no batch interface here",
        where="llm.batch",
        expected="provider `openai` or `gemini`, or `llm.batch: never`",
    )


def _gemini_batch(config: Any, settings: Any) -> BatchProvider:
    from common.llm.batch.gemini import GeminiBatch
    from common.llm.providers.gemini_provider import DEFAULT_MODEL

    if not settings.project:
        raise ConfigError(
            "gemini batch mode needs a Google Cloud project: Vertex AI batch prediction jobs "
            "run in a project (express-mode API keys cannot create them)",
            where="llm.batch",
            expected="LR_PROJECT with application default credentials (roles/aiplatform.user), "
            "or `llm.batch: never`",
        )
    if not settings.bucket:
        raise ConfigError(
            "gemini batch mode needs a Cloud Storage bucket: Vertex AI reads batch input from "
            "and writes its output to Cloud Storage",
            where="llm.batch",
            expected="LR_BUCKET (the run's bucket; Vertex AI's service agent must read and "
            "write it)",
        )
    return GeminiBatch(
        project=settings.project,
        location=settings.gemini_location,
        bucket=settings.bucket,
        base_url=settings.gemini_base_url,
        default_model=config.model or DEFAULT_MODEL,
        timeout=config.limits.timeout_seconds,
    )
