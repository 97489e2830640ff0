"""A real HTTP server that speaks the OpenAI and Vertex AI Gemini wire protocols.

It runs in a background thread on ``127.0.0.1`` (free port) with the standard
library only, so the real SDKs (``openai``, ``google-genai``) are exercised end
to end: URL building, headers, JSON shapes, error mapping, timeouts.

Endpoints:

- OpenAI Chat Completions: ``POST /v1/chat/completions`` (also ``/chat/completions``).
- Gemini ``generateContent`` as google-genai sends it for Vertex AI:
  ``POST /v1beta1/publishers/google/models/{model}:generateContent`` (express
  mode, key in ``x-goog-api-key``) and
  ``POST /v1beta1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent``
  (service account, ``Authorization: Bearer``); ``v1`` and ``v1beta`` prefixes
  are accepted too.
- The OpenAI Batch API (``/v1/files``, ``/v1/batches``: `_BatchAPI`) and Vertex AI
  batch prediction jobs (``/v1beta1/projects/{p}/locations/{l}/batchPredictionJobs``,
  input and output on the Cloud Storage emulator: `_VertexBatchAPI`), with an
  OAuth token endpoint (``POST /token``) for keyless Vertex clients.

Answers are valid JSON derived deterministically from the request's JSON
Schema and prompt (`default_answer`). Tests steer the server with:

- ``latency_s``: delay before every answer;
- faults (`Fault`): 429 with ``Retry-After``, any HTTP error, a hang longer
  than the client's timeout, a malformed answer (not JSON), a schema-violating
  answer, a body that is not JSON at all; injected in order (`enqueue`), for
  prompts matching a predicate (`inject(..., when=...)`), or for one API key
  (`fail_key`);
- ``valid_keys``: when set, any other key gets 401;
- `limit_rate`: at most R requests a minute per key (a token bucket of R/60 a
  second holding ``burst_s`` seconds of it); beyond it, 429 with
  ``Retry-After``. Throttled requests are still counted in `requests`.

And observe it through `requests` (one `Received` per request, with arrival
time, path, key fingerprint, raw key, body and prompt), `count`, `by_path`,
`by_key` and `max_in_flight`.

The 401 answer deliberately echoes the key it received, the way careless
gateways do, so tests prove that the providers redact provider messages.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_PATHS = ("/v1/chat/completions", "/chat/completions")
GEMINI_PATH = re.compile(
    r"^/(?:v1|v1beta|v1beta1)/"
    r"(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"(?:publishers/(?P<publisher>[^/]+)/)?models/(?P<model>[^/:]+):generateContent$"
)

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_OPENAI_TYPE = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}


def fingerprint(key: str) -> str:
    """The key's id as the project logs it (first 8 hex digits of SHA-256)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


# --- deterministic answers ------------------------------------------------------------


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


def _deref(node: Any, root: Mapping[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and seen < 32:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return dict(node) if isinstance(node, Mapping) else {}


def _type_of(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if kind is None:
        if "properties" in node:
            return "object"
        if "items" in node:
            return "array"
        return "string"
    return str(kind).lower()


def _words(prompt: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:[-'][^\W_]+)*", prompt) or ["answer"]


def _text(node: Mapping[str, Any], prompt: str, path: str) -> str:
    fmt = node.get("format")
    if fmt == "date":
        return "2024-01-31"
    if fmt == "date-time":
        return "2024-01-31T12:00:00Z"
    words = _words(prompt)
    start = _hash(prompt, path) % len(words)
    text = " ".join((words[start:] + words[:start])[:12])
    max_len = node.get("maxLength")
    if isinstance(max_len, int):
        text = text[:max_len].rstrip() or text[:max_len]
    min_len = node.get("minLength")
    if isinstance(min_len, int) and len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    return text


def _bounds(node: Mapping[str, Any], integer: bool) -> tuple[float, float]:
    step = 1.0 if integer else 1e-6
    lo: float | None = None
    hi: float | None = None
    if node.get("minimum") is not None:
        lo = float(node["minimum"])
    elif node.get("exclusiveMinimum") is not None:
        lo = float(node["exclusiveMinimum"]) + step
    if node.get("maximum") is not None:
        hi = float(node["maximum"])
    elif node.get("exclusiveMaximum") is not None:
        hi = float(node["exclusiveMaximum"]) - step
    if lo is None and hi is None:
        return 0.0, 100.0
    if lo is None:
        assert hi is not None
        return min(0.0, hi), hi
    if hi is None:
        return lo, max(lo + 100.0, 100.0)
    return lo, hi


def _gen(node: Any, root: Mapping[str, Any], prompt: str, path: str) -> Any:
    node = _deref(node, root)
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        values = node["enum"]
        return values[_hash(prompt, path) % len(values)]
    for union in ("anyOf", "oneOf"):
        variants = node.get(union)
        if isinstance(variants, list) and variants:
            usable = [v for v in variants if _type_of(_deref(v, root)) != "null"] or variants
            return _gen(usable[0], root, prompt, path)
    all_of = node.get("allOf")
    if isinstance(all_of, list):
        merged: dict[str, Any] = {}
        for part in all_of:
            merged.update(_deref(part, root))
        merged.update({k: v for k, v in node.items() if k != "allOf"})
        return _gen(merged, root, prompt, path)
    kind = _type_of(node)
    h = _hash(prompt, path)
    if kind == "object":
        props = node.get("properties") or {}
        return {name: _gen(sub, root, prompt, f"{path}.{name}") for name, sub in props.items()}
    if kind == "array":
        fewest = int(node.get("minItems", 0))
        most = int(node.get("maxItems", max(fewest, 2)))
        n = max(fewest, min(2, most))
        return [_gen(node.get("items", {}), root, prompt, f"{path}[{i}]") for i in range(n)]
    if kind == "integer":
        lo, hi = _bounds(node, True)
        lo_i, hi_i = int(lo), int(hi)
        return lo_i + h % (hi_i - lo_i + 1) if hi_i >= lo_i else lo_i
    if kind == "number":
        lo, hi = _bounds(node, False)
        return round(lo + (h % 1000) / 1000 * (hi - lo), 3)
    if kind == "boolean":
        return h % 2 == 0
    if kind == "null":
        return None
    return _text(node, prompt, path)


def default_answer(schema: Mapping[str, Any] | None, prompt: str) -> Any:
    """A valid answer for ``schema``, derived deterministically from ``prompt``.

    Enums pick a value by hash of the prompt and field path; integers and
    numbers stay within their bounds; strings are words of the prompt cut to
    ``maxLength``; arrays hold two items (within ``minItems``/``maxItems``);
    nullable fields get their non-null type; ``$ref`` is resolved. Without a
    schema the answer is ``{"answer": <words of the prompt>}``.
    """
    if not schema:
        return {"answer": _text({}, prompt, "$.answer")}
    return _gen(schema, schema, prompt, "$")


def violating_answer(schema: Mapping[str, Any] | None, prompt: str) -> Any:
    """An answer that parses as JSON but breaks ``schema``.

    The first enum field gets a value outside its enum; failing that, the first
    bounded integer goes past its maximum; failing that, an extra key is added
    (which ``additionalProperties: false`` forbids).
    """
    answer = default_answer(schema, prompt)
    if not isinstance(answer, dict) or not schema:
        return {"unexpected": answer}
    props = _deref(schema, schema).get("properties") or {}
    for name, sub in props.items():
        node = _deref(sub, schema)
        variants = [node] + [_deref(v, schema) for v in node.get("anyOf", [])]
        if any(isinstance(v.get("enum"), list) for v in variants):
            answer[name] = "NOT-AN-ALLOWED-VALUE"
            return answer
    for name, sub in props.items():
        node = _deref(sub, schema)
        if _type_of(node) == "integer" and node.get("maximum") is not None:
            answer[name] = int(node["maximum"]) + 1000
            return answer
    answer["unexpected_field"] = "not in the schema"
    return answer


# --- faults ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One misbehaviour of the server for one request."""

    kind: str
    """``status`` (an HTTP error), ``hang``, ``malformed``, ``violating`` or ``garbage``."""
    status: int = 200
    retry_after: float | None = None
    """Sent as ``Retry-After`` (seconds) when set."""
    retry_after_ms: int | None = None
    """Sent as ``retry-after-ms`` when set (OpenAI's header)."""
    seconds: float = 0.0
    """How long a ``hang`` lasts (released early when the server stops)."""
    fields: dict[str, Any] | None = None
    """What an ``override`` answer sets over the schema-built one."""

    @classmethod
    def throttle(
        cls, retry_after: float | None = None, *, retry_after_ms: int | None = None
    ) -> Fault:
        """HTTP 429, optionally with ``Retry-After`` / ``retry-after-ms``."""
        return cls("status", 429, retry_after=retry_after, retry_after_ms=retry_after_ms)

    @classmethod
    def error(cls, status: int, *, retry_after: float | None = None) -> Fault:
        """HTTP ``status`` with the API's error body (e.g. 500, 503, 400, 401, 403, 404)."""
        return cls("status", status, retry_after=retry_after)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        """Say nothing for ``seconds`` (longer than the client's timeout), then answer."""
        return cls("hang", seconds=seconds)

    @classmethod
    def malformed(cls) -> Fault:
        """A well-formed envelope whose answer text is not JSON."""
        return cls("malformed")

    @classmethod
    def violating(cls) -> Fault:
        """A well-formed envelope whose answer is JSON that breaks the schema."""
        return cls("violating")

    @classmethod
    def override(cls, **fields: Any) -> Fault:
        """A valid answer with these fields' values (e.g. a message addressed to ``<NAME>``)."""
        return cls("override", fields=fields)

    @classmethod
    def garbage(cls) -> Fault:
        """HTTP 200 whose body is not JSON at all (a proxy's HTML page)."""
        return cls("garbage")


@dataclass
class _Rule:
    fault: Fault
    times: int | None
    when: Callable[[str], bool] | None
    api_key: str | None
    api: str | None

    def matches(self, received: Received) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.api is not None and received.api != self.api:
            return False
        if self.api_key is not None and received.raw_key != self.api_key:
            return False
        return self.when is None or bool(self.when(received.user))


@dataclass
class Received:
    """One request as the server saw it."""

    at: float
    """`time.monotonic()` when the body had been read."""
    api: str
    """``openai``, ``gemini`` or ``unknown``."""
    path: str
    key_id: str | None
    """`fingerprint` of the key or bearer token sent (None: none sent)."""
    raw_key: str | None = field(repr=False)
    """The key exactly as sent. Tests may compare it; never print it."""
    body: Any = field(repr=False)
    model: str = ""
    system: str = field(default="", repr=False)
    user: str = field(default="", repr=False)
    schema: Any = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    status: int = 0
    fault: str | None = None


# --- the server -----------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # A real API accepts many connections at once; the default backlog (5) made
    # concurrent clients see connection resets under load.
    request_queue_size = 256
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeLLM


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
    # algorithm and delayed ACKs add ~40 ms to every response on loopback.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Silence the default stderr access log (it would print request lines)."""

    def do_GET(self) -> None:
        if self.server.fake._batch_api(self, "GET"):
            return
        if self.server.fake._vertex_batch_api(self, "GET"):
            return
        self._send_json(200, {"status": "ok"})

    def do_POST(self) -> None:
        if self.server.fake._batch_api(self, "POST"):
            return
        if self.server.fake._vertex_batch_api(self, "POST"):
            return
        self.server.fake._handle(self)

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client gave up (timeout): nothing to do


# --- OpenAI Batch API (files + batches) ---------------------------------------------------

BATCH_PATH = re.compile(r"^/(?:v1/)?batches(?:/(?P<id>[^/]+))?$")
FILES_PATH = re.compile(r"^/(?:v1/)?files(?:/(?P<id>[^/]+?)(?P<content>/content)?)?$")


@dataclass
class _BatchState:
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    expire: list[int] = field(default_factory=list)
    """For each of the next batches: how many of its items are answered before it expires."""
    polls_to_finish: int = 1
    items: list[Received] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Vertex AI batch prediction jobs by id (`_VertexBatchAPI`)."""
    fail_jobs: list[str] = field(default_factory=list)
    """Messages of the next Vertex jobs to fail as a whole."""


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        parts[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return parts


def _batch_object(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


class _BatchAPI:
    """Mixin of `FakeLLM`: the OpenAI Batch API over the same answers as chat completions.

    ``POST /v1/files`` (multipart, ``purpose=batch``) stores a JSONL file;
    ``POST /v1/batches`` creates a batch over it; ``GET /v1/batches/{id}``
    reports ``in_progress`` until it has been asked `batch_polls_to_finish`
    times, then answers every line as ``/v1/chat/completions`` would (faults
    injected with ``api="batch"`` apply per line: an HTTP error becomes an
    error line, ``violating``/``malformed`` an invalid answer) and reports
    ``completed`` (or ``expired`` with part of the lines answered, see
    `expire_next_batch`); ``GET /v1/files/{id}/content`` returns the output
    and error files. Every request is in `requests` (api ``openai-batch``);
    each line a batch answered is in `batch_items` (api ``batch``).
    """

    _lock: threading.Lock
    _batch: _BatchState
    _requests: list[Received]

    @property
    def batch_polls_to_finish(self) -> int:
        """How many ``GET /v1/batches/{id}`` a batch takes to end (1: the first poll)."""
        return self._batch.polls_to_finish

    @batch_polls_to_finish.setter
    def batch_polls_to_finish(self, value: int) -> None:
        self._batch.polls_to_finish = max(1, int(value))

    def expire_next_batch(self, answered: int = 0) -> None:
        """The next batch to end expires after answering only its first ``answered`` lines."""
        with self._lock:
            self._batch.expire.append(answered)

    @property
    def batches(self) -> list[dict[str, Any]]:
        """Every batch object created, oldest first."""
        with self._lock:
            return [_batch_object(b) for b in self._batch.batches.values()]

    @property
    def batch_items(self) -> list[Received]:
        """Every line a batch answered (or failed), in order."""
        with self._lock:
            return list(self._batch.items)

    def _batch_api(self, handler: _Handler, method: str) -> bool:
        path = handler.path.split("?", 1)[0]
        batch_match = BATCH_PATH.match(path)
        file_match = FILES_PATH.match(path)
        if not batch_match and not file_match:
            return False
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        key = headers.get("authorization", "")[7:].strip() or None
        received = Received(
            at=time.monotonic(),
            api="openai-batch",
            path=path,
            key_id=fingerprint(key) if key else None,
            raw_key=key,
            body=None,
            headers=headers,
        )
        with self._lock:
            self._requests.append(received)
        state = self._batch
        if file_match and method == "POST" and not file_match.group("id"):
            parts = _multipart(headers.get("content-type", ""), raw)
            filename, data = parts.get("file", (None, b""))
            file_id = "file-" + hashlib.sha256(data + str(time.time_ns()).encode()).hexdigest()[:20]
            with self._lock:
                state.files[file_id] = (filename or "upload.jsonl", data)
            handler._send_json(
                200, self._file_object(file_id, parts.get("purpose", (None, b""))[1])
            )
        elif file_match and method == "GET" and file_match.group("id"):
            entry = state.files.get(file_match.group("id") or "")
            if entry is None:
                handler._send_json(404, _error_body("openai", 404, "No such File object"))
            elif file_match.group("content"):
                handler._send(200, entry[1], "application/octet-stream")
            else:
                handler._send_json(200, self._file_object(file_match.group("id") or "", b"batch"))
        elif batch_match and method == "POST" and not batch_match.group("id"):
            body = json.loads(raw or b"{}")
            if body.get("input_file_id") not in state.files:
                handler._send_json(400, _error_body("openai", 400, "input_file_id not found"))
                return True
            batch_id = f"batch_{len(state.batches) + 1:04d}_{time.time_ns() % 10**6:06d}"
            batch = {
                "id": batch_id,
                "object": "batch",
                "endpoint": body.get("endpoint"),
                "errors": None,
                "input_file_id": body["input_file_id"],
                "completion_window": body.get("completion_window", "24h"),
                "status": "in_progress",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": int(time.time()),
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
            }
            with self._lock:
                state.batches[batch_id] = batch
            handler._send_json(200, _batch_object(batch))
        elif batch_match and method == "GET" and batch_match.group("id"):
            batch_id = batch_match.group("id") or ""
            if batch_id not in state.batches:
                handler._send_json(404, _error_body("openai", 404, "No such batch"))
                return True
            with self._lock:
                state.polls[batch_id] = state.polls.get(batch_id, 0) + 1
                due = (
                    state.batches[batch_id]["status"] == "in_progress"
                    and state.polls[batch_id] >= state.polls_to_finish
                )
                expire = state.expire.pop(0) if due and state.expire else None
            if due:
                self._finish_batch(state.batches[batch_id], expire)
            handler._send_json(200, _batch_object(state.batches[batch_id]))
        else:
            handler._send_json(404, _error_body("openai", 404, "not found"))
        return True

    def _file_object(self, file_id: str, purpose: bytes) -> dict[str, Any]:
        name, data = self._batch.files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose.decode() or "batch",
            "status": "processed",
        }

    def _finish_batch(self, batch: dict[str, Any], expire_after: int | None) -> None:
        lines = [
            json.loads(line)
            for line in self._batch.files[batch["input_file_id"]][1].decode().splitlines()
            if line.strip()
        ]
        out: list[str] = []
        errors: list[str] = []
        for n, line in enumerate(lines):
            custom_id = line.get("custom_id")
            if expire_after is not None and n >= expire_after:
                error = {
                    "code": "batch_expired",
                    "message": "This request could not be executed "
                    "before the completion window expired.",
                }
                errors.append(
                    json.dumps(
                        {"id": f"req_{n}", "custom_id": custom_id, "response": None, "error": error}
                    )
                )
                continue
            item = Received(
                at=time.monotonic(),
                api="batch",
                path=str(line.get("url")),
                key_id=None,
                raw_key=None,
                body=line.get("body"),
            )
            _read_openai(item)
            fault = self._take_fault(item)  # type: ignore[attr-defined]
            item.fault = fault.kind if fault else None
            with self._lock:
                self._batch.items.append(item)
            if fault is not None and fault.kind == "status":
                item.status = fault.status
                body = _error_body("openai", fault.status, _error_message(fault.status, item))
                errors.append(
                    json.dumps(
                        {
                            "id": f"req_{n}",
                            "custom_id": custom_id,
                            "response": {
                                "status_code": fault.status,
                                "request_id": f"req_{n}",
                                "body": body,
                            },
                            "error": None,
                        }
                    )
                )
                continue
            text = json.dumps(default_answer(item.schema, item.user), ensure_ascii=False)
            if fault is not None and fault.kind == "violating":
                text = json.dumps(violating_answer(item.schema, item.user), ensure_ascii=False)
            elif fault is not None and fault.kind == "malformed":
                text = '{"answer": "this is not JSON'
            item.status = 200
            out.append(
                json.dumps(
                    {
                        "id": f"req_{n}",
                        "custom_id": custom_id,
                        "response": {
                            "status_code": 200,
                            "request_id": f"req_{n}",
                            "body": _openai_completion(item, text),
                        },
                        "error": None,
                    }
                )
            )
        with self._lock:
            for kind, rows in (("output_file_id", out), ("error_file_id", errors)):
                if rows:
                    file_id = f"file-{batch['id']}-{kind.split('_')[0]}"
                    self._batch.files[file_id] = (
                        f"{kind}.jsonl",
                        ("\n".join(rows) + "\n").encode(),
                    )
                    batch[kind] = file_id
            batch["status"] = "expired" if expire_after is not None else "completed"
            batch["request_counts"] = {
                "total": len(lines),
                "completed": len(out),
                "failed": len(errors),
            }


# --- Vertex AI batch prediction (google-genai `client.batches` with vertexai=True) ----------

VERTEX_JOBS_PATH = re.compile(
    r"^/(?:v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/batchPredictionJobs(?:/(?P<id>[^/:]+))?$"
)
TOKEN_PATH = "/token"


def _gcs_split(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


def _rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


class _VertexBatchAPI:
    """Mixin of `FakeLLM`: Vertex AI batch prediction over Cloud Storage, and an OAuth token endpoint.

    What google-genai calls with ``Client(vertexai=True, project=..., location=...)``:
    ``POST /v1beta1/projects/{p}/locations/{l}/batchPredictionJobs`` (``inputConfig``
    ``gcsSource.uris``: a JSONL of ``{"request": <GenerateContentRequest>}``;
    ``outputConfig.gcsDestination.outputUriPrefix``) creates a job;
    ``GET .../batchPredictionJobs/{id}`` reports ``JOB_STATE_RUNNING`` until it
    has been asked `batch_polls_to_finish` times, then reads the input from the
    Cloud Storage emulator (`storage_host`, default ``STORAGE_EMULATOR_HOST``),
    answers every line as ``generateContent`` would and writes
    ``{prefix}/prediction-model-<time>/predictions.jsonl``: one line per request
    reached, each echoing its ``request`` with ``status`` (empty, or the error of
    a failed line) and ``response``, as Vertex AI does. The same knobs as the
    OpenAI batches apply: faults injected with ``api="batch"`` per line,
    `expire_next_batch` (the job ends ``JOB_STATE_EXPIRED`` and the lines it never
    reached are absent), `batch_polls_to_finish`; `fail_next_vertex_job` ends a
    job ``JOB_STATE_FAILED`` without output. Every line answered is in
    `batch_items`; every job request in `requests` (api ``vertex-batch``).

    ``POST /token`` is an OAuth 2.0 token endpoint (any refresh token or
    assertion gets a bearer token) for credentials whose ``token_uri`` is this
    server; its requests are in `requests` too (api ``oauth``).
    """

    _lock: threading.Lock
    _batch: _BatchState
    _requests: list[Received]
    storage_host: str | None = None
    """The Cloud Storage emulator's URL (``http://127.0.0.1:P``); None: ``STORAGE_EMULATOR_HOST``."""

    @property
    def vertex_jobs(self) -> list[dict[str, Any]]:
        """Every Vertex batch prediction job created, oldest first."""
        with self._lock:
            return [json.loads(json.dumps(j)) for j in self._batch.jobs.values()]

    def fail_next_vertex_job(self, message: str = "Internal error occurred.") -> None:
        """The next Vertex job to end fails as a whole (``JOB_STATE_FAILED``, no output)."""
        with self._lock:
            self._batch.fail_jobs.append(message)

    def _vertex_batch_api(self, handler: _Handler, method: str) -> bool:
        path = handler.path.split("?", 1)[0]
        match = VERTEX_JOBS_PATH.match(path)
        if not match and not (path == TOKEN_PATH and method == "POST"):
            return False
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        key = headers.get("x-goog-api-key")
        if key is None and headers.get("authorization", "").lower().startswith("bearer "):
            key = headers["authorization"][7:].strip()
        received = Received(
            at=time.monotonic(),
            api="oauth" if match is None else "vertex-batch",
            path=path,
            key_id=fingerprint(key) if key else None,
            raw_key=key,
            body=None,
            headers=headers,
        )
        with self._lock:
            self._requests.append(received)
        if match is None:
            token = (
                "ya29.fake-" + hashlib.sha256(raw + str(time.time_ns()).encode()).hexdigest()[:16]
            )
            handler._send_json(
                200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
            )
            return True
        if not key:
            handler._send_json(401, _error_body("gemini", 401, "Missing credentials."))
            return True
        parent = f"projects/{match.group('project')}/locations/{match.group('location')}"
        job_id = match.group("id")
        state = self._batch
        if method == "POST" and job_id is None:
            body = json.loads(raw or b"{}")
            uris = (body.get("inputConfig") or {}).get("gcsSource", {}).get("uris") or []
            prefix = ((body.get("outputConfig") or {}).get("gcsDestination") or {}).get(
                "outputUriPrefix"
            )
            if len(uris) != 1 or not str(uris[0]).startswith("gs://") or not prefix:
                handler._send_json(
                    400,
                    _error_body("gemini", 400, "gcsSource.uris and outputUriPrefix are required"),
                )
                return True
            with self._lock:
                new_id = str(1000 + len(state.jobs))
                job = {
                    "name": f"{parent}/batchPredictionJobs/{new_id}",
                    "displayName": body.get("displayName", ""),
                    "model": body.get("model", ""),
                    "inputConfig": body.get("inputConfig"),
                    "outputConfig": body.get("outputConfig"),
                    "state": "JOB_STATE_PENDING",
                    "createTime": _rfc3339(),
                    "updateTime": _rfc3339(),
                }
                state.jobs[new_id] = job
            handler._send_json(200, job)
        elif method == "GET" and job_id is not None:
            if job_id not in state.jobs:
                handler._send_json(404, _error_body("gemini", 404, "Batch job not found."))
                return True
            with self._lock:
                state.polls[job_id] = state.polls.get(job_id, 0) + 1
                job = state.jobs[job_id]
                due = (
                    job["state"] in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING")
                    and state.polls[job_id] >= state.polls_to_finish
                )
                if not due and job["state"] == "JOB_STATE_PENDING":
                    job["state"] = "JOB_STATE_RUNNING"
                failure = state.fail_jobs.pop(0) if due and state.fail_jobs else None
                expire = state.expire.pop(0) if due and failure is None and state.expire else None
            if due:
                self._finish_vertex_job(job, expire, failure)
            handler._send_json(200, job)
        else:
            handler._send_json(404, _error_body("gemini", 404, "not found"))
        return True

    def _gcs(self, method: str, uri: str, data: bytes | None = None) -> bytes:
        import os
        import urllib.parse
        import urllib.request

        host = (self.storage_host or os.environ.get("STORAGE_EMULATOR_HOST", "")).rstrip("/")
        if not host:
            raise RuntimeError(
                "no Cloud Storage emulator: set storage_host or STORAGE_EMULATOR_HOST"
            )
        bucket, name = _gcs_split(uri)
        if method == "GET":
            url = f"{host}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media"
            request = urllib.request.Request(url)
        else:
            query = urllib.parse.urlencode({"uploadType": "media", "name": name})
            url = f"{host}/upload/storage/v1/b/{bucket}/o?{query}"
            request = urllib.request.Request(
                url, data=data, method="POST", headers={"Content-Type": "application/jsonl"}
            )
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def _finish_vertex_job(
        self, job: dict[str, Any], expire_after: int | None, failure: str | None
    ) -> None:
        if failure is not None:
            with self._lock:
                job["state"] = "JOB_STATE_FAILED"
                job["error"] = {"code": 13, "message": failure}
                job["updateTime"] = job["endTime"] = _rfc3339()
            return
        source = job["inputConfig"]["gcsSource"]["uris"][0]
        lines = [
            json.loads(line) for line in self._gcs("GET", source).decode().splitlines() if line
        ]
        model = str(job.get("model", "")).rsplit("/", 1)[-1]
        out: list[str] = []
        failed = 0
        for n, line in enumerate(lines):
            if expire_after is not None and n >= expire_after:
                continue  # never reached: absent from the output, as Vertex AI leaves it
            request = line.get("request") or {}
            item = Received(
                at=time.monotonic(),
                api="batch",
                path=f"{job['name']}#{n}",
                key_id=None,
                raw_key=None,
                body=request,
                model=model,
            )
            _read_gemini(item)
            fault = self._take_fault(item)  # type: ignore[attr-defined]
            item.fault = fault.kind if fault else None
            with self._lock:
                self._batch.items.append(item)
            row: dict[str, Any] = {"status": "", "processed_time": _rfc3339(), "request": request}
            if fault is not None and fault.kind == "status":
                item.status = fault.status
                failed += 1
                error = _error_body("gemini", fault.status, _error_message(fault.status, item))
                row["status"] = f"Request failed: {json.dumps(error)}"
                out.append(json.dumps(row))
                continue
            text = json.dumps(default_answer(item.schema, item.user), ensure_ascii=False)
            if fault is not None and fault.kind == "violating":
                text = json.dumps(violating_answer(item.schema, item.user), ensure_ascii=False)
            elif fault is not None and fault.kind == "malformed":
                text = '{"answer": "this is not JSON'
            item.status = 200
            row["response"] = _gemini_response(item, text)
            out.append(json.dumps(row, ensure_ascii=False))
        prefix = job["outputConfig"]["gcsDestination"]["outputUriPrefix"].rstrip("/")
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**6:06d}Z"
        )
        directory = f"{prefix}/prediction-model-{stamp}"
        self._gcs("POST", f"{directory}/predictions.jsonl", ("\n".join(out) + "\n").encode())
        with self._lock:
            job["state"] = (
                "JOB_STATE_EXPIRED" if expire_after is not None else "JOB_STATE_SUCCEEDED"
            )
            job["outputInfo"] = {"gcsOutputDirectory": directory}
            job["completionStats"] = {
                "successfulCount": str(len(out) - failed),
                "failedCount": str(failed),
                "incompleteCount": str(len(lines) - len(out)),
            }
            job["updateTime"] = job["endTime"] = _rfc3339()


class FakeLLM(_BatchAPI, _VertexBatchAPI):
    """The fake OpenAI + Gemini server; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind (not start) the server; ``port=0`` picks a free port."""
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._rules: list[_Rule] = []
        self._requests: list[Received] = []
        self._latency_s = 0.0
        self._in_flight = 0
        self._max_in_flight = 0
        self.valid_keys: set[str] | None = None
        """When set, requests with any other key (or none) get 401."""
        self._rate: tuple[float, float] | None = None  # (per second, capacity), see limit_rate
        self._buckets: dict[str | None, tuple[float, float]] = {}  # key id -> (tokens, at)
        self._host = host
        self._batch = _BatchState()
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the Gemini ``base_url``."""
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def openai_base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: the OpenAI ``base_url``."""
        return f"{self.url}/v1"

    def start(self) -> FakeLLM:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the socket."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget faults, counters, latency and valid keys; release hanging requests."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()
            self._rules.clear()
            self._requests.clear()
            self._latency_s = 0.0
            self._max_in_flight = self._in_flight
            self.valid_keys = None
            self._rate = None
            self._buckets.clear()

    # --- controls -------------------------------------------------------------------

    @property
    def latency_s(self) -> float:
        """Seconds every answer waits before it is sent."""
        with self._lock:
            return self._latency_s

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        with self._lock:
            self._latency_s = max(0.0, float(value))

    def inject(
        self,
        fault: Fault,
        *,
        times: int | None = 1,
        when: str | Callable[[str], bool] | None = None,
        api_key: str | None = None,
        api: str | None = None,
    ) -> None:
        """Apply ``fault`` to the next ``times`` matching requests (None: to all of them).

        Args:
            fault: What to do instead of answering normally.
            times: How many requests it applies to; None for every matching request.
            when: Only requests whose user message contains this text, or for
                which this predicate (given the user message) is true.
            api_key: Only requests sent with this key.
            api: Only ``openai`` or ``gemini`` requests.

        Rules are tried in the order they were added; the first that matches
        (and has uses left) applies.
        """
        predicate: Callable[[str], bool] | None
        if isinstance(when, str):
            needle = when

            def predicate(user: str) -> bool:
                return needle in user
        else:
            predicate = when
        with self._lock:
            self._rules.append(_Rule(fault, times, predicate, api_key, api))

    def enqueue(self, *faults: Fault) -> None:
        """The next requests, in arrival order, get these faults (one each)."""
        for fault in faults:
            self.inject(fault, times=1)

    def fail_key(self, api_key: str, fault: Fault | None = None) -> None:
        """Every request with ``api_key`` gets ``fault`` (default: 429 without Retry-After)."""
        self.inject(fault or Fault.throttle(), times=None, api_key=api_key)

    def limit_rate(self, rpm: float | None, *, burst_s: float = 1.0) -> None:
        """Allow each key ``rpm`` requests a minute (None: unlimited), as a provider does.

        Each key has a token bucket refilling at ``rpm / 60`` a second and holding
        ``burst_s`` seconds of that (at least one request), full at first; a
        request finding it empty gets 429 with the seconds until the next token
        as ``Retry-After``. Injected faults and 401s take no token.
        """
        with self._lock:
            self._rate = None if rpm is None else (rpm / 60.0, max(1.0, rpm / 60.0 * burst_s))
            self._buckets.clear()

    def _rate_fault(self, received: Received) -> Fault | None:
        """429 when ``received``'s key has no token left (call under the lock)."""
        if self._rate is None:
            return None
        rate, capacity = self._rate
        tokens, at = self._buckets.get(received.key_id, (capacity, received.at))
        tokens = min(capacity, tokens + (received.at - at) * rate)
        if tokens >= 1.0:
            self._buckets[received.key_id] = (tokens - 1.0, received.at)
            return None
        self._buckets[received.key_id] = (tokens, received.at)
        return Fault.throttle(retry_after=round((1.0 - tokens) / rate, 3))

    def pending_faults(self) -> int:
        """Injected faults with uses left (rules without a limit count once)."""
        with self._lock:
            return sum(1 for r in self._rules if r.times is None or r.times > 0)

    # --- observations ---------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        """Every request received since the last reset, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def count(self) -> int:
        """Number of requests received."""
        with self._lock:
            return len(self._requests)

    @property
    def by_path(self) -> Counter[str]:
        """Requests per URL path."""
        return Counter(r.path for r in self.requests)

    @property
    def by_key(self) -> Counter[str | None]:
        """Requests per key fingerprint (None: sent without a key)."""
        return Counter(r.key_id for r in self.requests)

    @property
    def raw_keys(self) -> set[str]:
        """The keys exactly as received (to assert that keys were sent)."""
        return {r.raw_key for r in self.requests if r.raw_key}

    @property
    def bodies(self) -> list[Any]:
        """Parsed JSON bodies of the requests, in arrival order."""
        return [r.body for r in self.requests]

    @property
    def max_in_flight(self) -> int:
        """Most requests being handled at once since the last reset."""
        with self._lock:
            return self._max_in_flight

    # --- handling -------------------------------------------------------------------

    def _parse(self, handler: _Handler) -> Received:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = None
        path = handler.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in handler.headers.items()}
        key = headers.get("x-goog-api-key")
        if key is None and headers.get("authorization", "").lower().startswith("bearer "):
            key = headers["authorization"][7:].strip()
        received = Received(
            at=time.monotonic(),
            api="unknown",
            path=path,
            key_id=fingerprint(key) if key else None,
            raw_key=key,
            body=body,
            headers=headers,
        )
        if path in OPENAI_PATHS:
            received.api = "openai"
            _read_openai(received)
        elif match := GEMINI_PATH.match(path):
            received.api = "gemini"
            received.model = match.group("model")
            _read_gemini(received)
        return received

    def _handle(self, handler: _Handler) -> None:
        received = self._parse(handler)
        with self._lock:
            self._requests.append(received)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            release = self._release
            latency = self._latency_s
        try:
            if received.api == "unknown" or received.body is None:
                status = 404 if received.api == "unknown" else 400
                received.status = status
                handler._send_json(status, _error_body(received.api, status, "not found"))
                return
            fault = self._take_fault(received)  # at arrival, so `enqueue` follows arrival order
            if latency:
                release.wait(latency)
            self._respond(handler, received, fault, release)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _take_fault(self, received: Received) -> Fault | None:
        with self._lock:
            if self.valid_keys is not None and received.raw_key not in self.valid_keys:
                return Fault.error(401)
            for rule in self._rules:
                if rule.matches(received):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
            return self._rate_fault(received)

    def _respond(
        self, handler: _Handler, received: Received, fault: Fault | None, release: threading.Event
    ) -> None:
        received.fault = fault.kind if fault else None
        prompt = received.user
        answer: Any = default_answer(received.schema, prompt)
        text = json.dumps(answer, ensure_ascii=False)
        if fault is not None and fault.kind == "status":
            headers: dict[str, str] = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            if fault.retry_after_ms is not None:
                headers["retry-after-ms"] = str(fault.retry_after_ms)
            message = _error_message(fault.status, received)
            received.status = fault.status
            handler._send_json(
                fault.status, _error_body(received.api, fault.status, message), headers
            )
            return
        if fault is not None and fault.kind == "hang":
            release.wait(fault.seconds)
        elif fault is not None and fault.kind == "garbage":
            received.status = 200
            handler._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        elif fault is not None and fault.kind == "malformed":
            text = '{"answer": "this is not JSON'
        elif fault is not None and fault.kind == "violating":
            text = json.dumps(violating_answer(received.schema, prompt), ensure_ascii=False)
        elif fault is not None and fault.kind == "override" and isinstance(answer, dict):
            text = json.dumps({**answer, **(fault.fields or {})}, ensure_ascii=False)
        received.status = 200
        if received.api == "openai":
            handler._send_json(200, _openai_completion(received, text))
        else:
            handler._send_json(200, _gemini_response(received, text))


# --- wire formats -----------------------------------------------------------------------


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return ""


def _read_openai(received: Received) -> None:
    body = received.body if isinstance(received.body, dict) else {}
    received.model = str(body.get("model", ""))
    for message in body.get("messages") or []:
        role = message.get("role")
        text = _content_text(message.get("content"))
        if role in ("system", "developer"):
            received.system += text
        elif role == "user":
            received.user += text
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        received.schema = (fmt.get("json_schema") or {}).get("schema")


def _parts_text(content: Any) -> str:
    if isinstance(content, dict):
        return "".join(p.get("text", "") for p in content.get("parts") or [])
    return ""


def _read_gemini(received: Received) -> None:
    body = received.body if isinstance(received.body, dict) else {}
    received.system = _parts_text(body.get("systemInstruction") or body.get("system_instruction"))
    received.user = "".join(
        _parts_text(c) for c in body.get("contents") or [] if c.get("role", "user") == "user"
    )
    config = body.get("generationConfig") or {}
    received.schema = config.get("responseJsonSchema") or config.get("responseSchema")


def _tokens(text: str) -> int:
    return len(text) // 4 + 1


def _openai_completion(received: Received, text: str) -> dict[str, Any]:
    prompt_tokens = _tokens(received.system + received.user)
    completion_tokens = _tokens(text)
    digest = hashlib.sha256(f"{received.at}{received.user}".encode()).hexdigest()[:24]
    return {
        "id": f"chatcmpl-{digest}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": received.model or "fake-model",
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _gemini_response(received: Received, text: str) -> dict[str, Any]:
    prompt_tokens = _tokens(received.system + received.user)
    output_tokens = _tokens(text)
    digest = hashlib.sha256(f"{received.at}{received.user}".encode()).hexdigest()[:20]
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": "STOP",
                "avgLogprobs": -0.05,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
            "trafficType": "ON_DEMAND",
        },
        "modelVersion": received.model or "fake-gemini",
        "createTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
        "responseId": digest,
    }


def _error_message(status: int, received: Received) -> str:
    if status == 401:
        # Deliberately echo the key, like a careless gateway would.
        return f"Incorrect API key provided: {received.raw_key or '(none)'}."
    if status == 429:
        return "Rate limit reached for requests. Please try again later."
    if status == 404:
        return f"The model `{received.model}` does not exist or you do not have access to it."
    if status >= 500:
        return "The server had an error while processing your request."
    return f"Request failed with status {status}."


def _error_body(api: str, status: int, message: str) -> dict[str, Any]:
    if api == "openai":
        return {
            "error": {
                "message": message,
                "type": _OPENAI_TYPE.get(status, "server_error" if status >= 500 else "error"),
                "param": None,
                "code": "rate_limit_exceeded" if status == 429 else None,
            }
        }
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }
