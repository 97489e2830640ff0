"""Gemini batch jobs: Vertex AI batch prediction through ``google-genai``, over Cloud Storage.

Our Gemini provider always builds ``genai.Client(vertexai=True, ...)``. On
Vertex AI, ``client.batches`` creates *batch prediction jobs*, whose input and
output must be in Cloud Storage (or BigQuery): google-genai refuses inline
requests and uploaded files there (those are the Gemini Developer API's).
Vertex AI in express mode (an API key, no project) serves ``generateContent``
and ``countTokens`` only, so batch mode needs the service-account path:
``LR_PROJECT`` with application default credentials, and ``LR_BUCKET``.

One batch:

1. **Submit.** Each request becomes one line ``{"request": <GenerateContentRequest>}``
   whose body is what the online provider sends (system instruction, user
   message, ``responseMimeType: application/json``, ``responseJsonSchema``,
   temperature, max output tokens), so answers match the online mode's. The
   line's ``request.labels.lr_item`` is its position. The JSONL goes to
   ``gs://<LR_BUCKET>/<prefix>gemini-input.jsonl`` (prefix: the shard's batch
   folder, ``runs/<run_id>/batches/summarize-shard-N/round-R/``) and the custom
   ids, in the same order, to ``gemini-ids.json`` beside it; then
   ``client.batches.create(model=..., src="gs://...input.jsonl",
   config={"dest": "gs://.../output"})``. The job's resource name is the batch id.
2. **Fetch.** ``client.batches.get`` gives the state (``JOB_STATE_*``). Once it
   has ended, every ``*.jsonl`` under the job's ``output_info.gcs_output_directory``
   is read: Vertex AI writes one line per request it reached, echoing the
   ``request`` (labels included) beside ``response`` (a
   ``GenerateContentResponse``) or a non-empty ``status`` (the row's error).
   ``request.labels.lr_item`` maps a line back to its custom id; should the
   labels not come back, the digest of the echoed contents and system
   instruction does. Requests an expired job never reached are absent.

The job's service agent (``service-<project number>@gcp-sa-aiplatform.iam.gserviceaccount.com``)
must be able to read and write the bucket (docs/deploy.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from common.errors import ConfigError, TransientError
from common.llm.batch.base import BatchItem, BatchStatus
from common.llm.providers.base import LLMRequest

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

    from common.ports.blobstore import BlobStore

INPUT = "gemini-input.jsonl"
IDS = "gemini-ids.json"
LABEL = "lr_item"
"""The request label carrying a line's position (Vertex AI echoes the request back)."""

_STATES = {
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
_CODE = re.compile(r'"code"\s*:\s*(\d{3})')
_MESSAGE = re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"')
_MAX_ERROR_CHARS = 300


def request_body(request: LLMRequest) -> dict[str, Any]:
    """The ``GenerateContentRequest`` (REST, camelCase) the online provider sends for ``request``."""
    config: dict[str, Any] = {"responseMimeType": "application/json"}
    if request.json_schema is not None:
        config["responseJsonSchema"] = request.json_schema
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.max_output_tokens is not None:
        config["maxOutputTokens"] = request.max_output_tokens
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": request.user}]}],
        "generationConfig": config,
    }
    if request.system:
        body["systemInstruction"] = {"role": "user", "parts": [{"text": request.system}]}
    return body


def content_digest(body: dict[str, Any]) -> str:
    """What identifies a request whatever labels it carries: its texts, in order."""

    def texts(content: Any) -> list[str]:
        parts = content.get("parts") if isinstance(content, dict) else None
        return [str(p.get("text", "")) for p in parts or [] if isinstance(p, dict)]

    system = body.get("systemInstruction") or body.get("system_instruction")
    user = [t for c in body.get("contents") or [] for t in texts(c)]
    blob = json.dumps([texts(system), user], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _gs(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


def row_error(status: Any) -> str:
    """A short reason from a failed row's ``status`` (``http <code>: <message>`` when it says)."""
    text = " ".join(str(status or "").split()) or "no response"
    code, message = _CODE.search(text), _MESSAGE.search(text)
    if code and message:
        text = f"http {code.group(1)}: {message.group(1)}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


class GeminiBatch:
    """Vertex AI batch prediction jobs for Gemini, input and output in the run's bucket."""

    name = "gemini"

    def __init__(
        self,
        *,
        project: str,
        location: str,
        bucket: str,
        base_url: str | None,
        default_model: str,
        timeout: float = 60.0,
        credentials: Credentials | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        """Configure; the client and the bucket's store are built on use.

        Args:
            project: Google Cloud project the jobs run in.
            location: Vertex AI region (``LR_GEMINI_LOCATION``).
            bucket: Bucket of the input and output (``LR_BUCKET``); Vertex AI
                reads and writes it with its service agent.
            base_url: Endpoint override (tests); None for Vertex AI.
            default_model: Model used when a request names none.
            timeout: Seconds one HTTP call may take.
            credentials: Explicit credentials; None: application default credentials.
            blobs: The store of ``bucket`` (default: a Cloud Storage store of it).
        """
        self.project = project
        self.location = location
        self.bucket = bucket
        self.base_url = base_url
        self.default_model = default_model
        self.timeout = timeout
        self.credentials = credentials
        self._blobs = blobs
        self._client_: Any = None

    def _store(self, bucket: str) -> BlobStore:
        if bucket == self.bucket and self._blobs is not None:
            return self._blobs
        from common.adapters.gcp.gcs_blobstore import GCSBlobStore

        store = GCSBlobStore(bucket, self.project)
        if bucket == self.bucket:
            self._blobs = store
        return store

    def _client(self) -> Any:
        if self._client_ is None:
            from google.genai import Client, types

            self._client_ = Client(
                vertexai=True,
                project=self.project,
                location=self.location,
                credentials=self.credentials,
                http_options=types.HttpOptions(
                    base_url=self.base_url,
                    timeout=max(1, int(self.timeout * 1000)),  # milliseconds
                    retry_options=types.HttpRetryOptions(attempts=3),
                ),
            )
        return self._client_

    def _call(self, what: str, fn: Any) -> Any:
        from google.auth import exceptions as auth_exceptions
        from google.genai import errors

        from common.llm.providers.gemini_provider import TRANSPORT_ERRORS

        where = f"gemini batch, project {self.project}, {self.location}"
        try:
            return fn()
        except errors.APIError as err:
            code = int(err.code or 0)
            detail = " ".join(str(err.message or err.status or "").split())[:_MAX_ERROR_CHARS]
            if code in (408, 429) or code >= 500:
                raise TransientError(f"gemini batch: {what}: {code} {detail}", where=where) from err
            raise ConfigError(
                f"gemini batch: {what} rejected ({code} {err.status or ''}): {detail}",
                where=where,
            ) from err
        except TRANSPORT_ERRORS as err:
            raise TransientError(
                f"gemini batch: {what}: no response ({type(err).__name__})", where=where
            ) from err
        except (auth_exceptions.DefaultCredentialsError, auth_exceptions.RefreshError) as err:
            if getattr(err, "retryable", False):
                raise TransientError(
                    f"gemini batch: {what}: token refresh failed", where=where
                ) from err
            raise ConfigError(
                f"gemini batch: {what}: no usable credentials ({type(err).__name__})",
                where=where,
                expected="application default credentials of a service account with "
                "roles/aiplatform.user",
            ) from err

    def submit(
        self, requests: list[tuple[str, LLMRequest]], *, label: str, prefix: str | None = None
    ) -> tuple[str, str]:
        """Write the requests as JSONL to the bucket and create one batch prediction job.

        Args:
            requests: ``(custom id, request)`` pairs; one model for all.
            label: Names the job (its display name).
            prefix: Object folder of this batch's files (ends with ``/``); default
                ``batches/<label>/``.

        Returns:
            The job's resource name and an empty key id (the project's credentials submit).
        """
        models = {request.model or self.default_model for _, request in requests}
        if len(models) != 1:
            raise ConfigError(
                "a Gemini batch job runs one model",
                where="llm.batch",
                found=", ".join(sorted(models)),
            )
        model = models.pop()
        folder = prefix or f"batches/{label.strip('/')}/"
        lines = []
        for n, (_, request) in enumerate(requests):
            body = request_body(request)
            body["labels"] = {LABEL: str(n)}
            lines.append(json.dumps({"request": body}, ensure_ascii=False))
        ids = {
            "custom_ids": [custom_id for custom_id, _ in requests],
            "digests": [content_digest(request_body(request)) for _, request in requests],
        }
        store = self._store(self.bucket)
        store.put_bytes(folder + IDS, json.dumps(ids).encode())
        store.put_bytes(folder + INPUT, ("\n".join(lines) + "\n").encode())
        client = self._client()
        job = self._call(
            "create",
            lambda: client.batches.create(
                model=model,
                src=f"gs://{self.bucket}/{folder}{INPUT}",
                config={
                    "display_name": f"lead-recovery {label}"[:128],
                    "dest": f"gs://{self.bucket}/{folder}output",
                },
            ),
        )
        return str(job.name), ""

    def fetch(self, batch_id: str, *, key_id: str | None) -> BatchStatus:
        """The job's state; once it ended, its predictions as items."""
        client = self._client()
        job = self._call("get", lambda: client.batches.get(name=batch_id))
        raw = getattr(job.state, "value", job.state)
        state = _STATES.get(str(raw))
        if state is None:
            return BatchStatus(batch_id, "running")
        sources = (job.src.gcs_uri if job.src else None) or []
        if len(sources) != 1:
            raise ConfigError(
                "gemini batch: the job's input is not one Cloud Storage file",
                where=batch_id,
                found=str(sources),
            )
        in_bucket, in_name = _gs(sources[0])
        folder = in_name.rsplit("/", 1)[0] + "/" if "/" in in_name else ""
        ids = json.loads(self._store(in_bucket).get_bytes(folder + IDS))
        output = (job.output_info.gcs_output_directory if job.output_info else None) or (
            job.dest.gcs_uri if job.dest else None
        )
        items: list[BatchItem] = []
        if output:
            out_bucket, out_prefix = _gs(output)
            store = self._store(out_bucket)
            for name in sorted(store.list(out_prefix.rstrip("/") + "/")):
                if name.endswith(".jsonl"):
                    text = store.get_bytes(name).decode()
                    items.extend(
                        _item(json.loads(line), ids) for line in text.splitlines() if line.strip()
                    )
        if state == "failed" and not items:
            why = (job.error.message if job.error else None) or "batch failed"
            return BatchStatus(batch_id, state, [BatchItem("*", error=f"batch failed: {why}")])
        return BatchStatus(batch_id, state, items)


def _item(line: dict[str, Any], ids: dict[str, list[str]]) -> BatchItem:
    """One prediction row as an item of its request's custom id."""
    from google.genai import types

    from common.llm.providers.base import ProviderRejected, ProviderUnavailable
    from common.llm.providers.gemini_provider import _to_response

    request = line.get("request") or {}
    custom_ids = ids["custom_ids"]
    position = str((request.get("labels") or {}).get(LABEL, ""))
    if position.isdigit() and int(position) < len(custom_ids):
        custom_id = custom_ids[int(position)]
    else:
        digest = content_digest(request)
        matches = [c for c, d in zip(custom_ids, ids["digests"], strict=True) if d == digest]
        custom_id = matches[0] if matches else f"unknown:{digest[:16]}"
    response = line.get("response")
    if not response:
        return BatchItem(custom_id, error=row_error(line.get("status")))
    try:
        parsed = types.GenerateContentResponse.model_validate(response)
        answer = _to_response(parsed, model=str(response.get("modelVersion") or ""))
    except (ProviderRejected, ProviderUnavailable, ValueError) as err:
        return BatchItem(custom_id, error=str(err))
    return BatchItem(
        custom_id,
        text=answer.text,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
    )
