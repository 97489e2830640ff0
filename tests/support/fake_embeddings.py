"""A real HTTP server that speaks the OpenAI and Vertex AI embedding protocols.

Like `tests.support.fake_llm`, it runs on ``127.0.0.1`` (free port) in a daemon
thread with the standard library only, so the real SDKs (``openai``,
``google-genai``) build the URLs, headers and bodies themselves.

Endpoints:

- OpenAI: ``POST /v1/embeddings`` (also ``/embeddings``): ``{"input": [...],
  "model", "dimensions"?, "encoding_format"?}`` → ``{"data": [{"index",
  "embedding"}], "usage"}``; ``encoding_format: base64`` answers little-endian
  float32 in base64, as the API does.
- Vertex AI, as google-genai calls it (``v1``, ``v1beta`` and ``v1beta1``,
  express mode ``/publishers/google/models/{m}`` or
  ``/projects/{p}/locations/{l}/publishers/google/models/{m}``):
  ``:predict`` (``instances[].content`` → ``predictions[].embeddings.values``,
  used for ``text-embedding-*``), ``:batchEmbedContents`` (``requests[].content``
  → ``embeddings[].values``) and ``:embedContent`` (``content`` →
  ``embedding.values``), used for ``gemini-embedding-*``.

Vectors are deterministic and meaningful enough to cluster: a hashed bag of
the text's lower-case words (signed feature hashing into ``dimensions``,
default 64), L2-normalised, so texts sharing words are near each other.

Steer it with `enqueue` (HTTP errors for the next requests, e.g. 429 with
Retry-After); observe it through `requests` (path, key, texts), `count`,
`texts` and `by_path`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_PATHS = ("/v1/embeddings", "/embeddings")
VERTEX_PATH = re.compile(
    r"^/(?:v1|v1beta|v1beta1)/"
    r"(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"(?:publishers/(?P<publisher>[^/]+)/)?models/(?P<model>[^/:]+)"
    r":(?P<method>predict|batchEmbedContents|embedContent)$"
)
DEFAULT_DIMENSIONS = 64
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED"}


def fake_vector(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The server's embedding of ``text``: signed hashed bag of words, unit length."""
    vector = [0.0] * dimensions
    words = re.findall(r"[^\W_]+", text.lower()) or [""]
    for word in words:
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "big") % dimensions
        vector[index] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


@dataclass(frozen=True)
class Fault:
    """An HTTP error answer."""

    status: int
    retry_after: float | None = None


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    key: str | None
    """``Authorization: Bearer`` (OpenAI) or ``x-goog-api-key`` (Vertex AI express mode)."""
    texts: list[str]
    body: dict[str, Any] = field(repr=False)
    status: int = 200


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeEmbeddings


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON"}})
            return
        self.server.owner._handle(self, self.path.split("?", 1)[0], body)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class FakeEmbeddings:
    """The embeddings server; use as a context manager or `start` / `stop`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: list[Received] = []

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the Vertex AI base URL)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        """The OpenAI SDK's ``base_url`` (``.../v1``)."""
        return f"{self.url}/v1"

    def start(self) -> FakeEmbeddings:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeEmbeddings:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def enqueue(self, *faults: Fault) -> None:
        """Answer the next requests with these errors, in order."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def requests(self) -> list[Received]:
        """Every request so far."""
        with self._lock:
            return list(self._requests)

    @property
    def count(self) -> int:
        """Requests answered with vectors."""
        return sum(1 for r in self.requests if r.status == 200)

    @property
    def texts(self) -> int:
        """Texts embedded (answered requests only)."""
        return sum(len(r.texts) for r in self.requests if r.status == 200)

    @property
    def by_path(self) -> Counter[str]:
        """Requests per path."""
        return Counter(r.path for r in self.requests)

    # --- answering ----------------------------------------------------------------

    def _handle(self, handler: _Handler, path: str, body: dict[str, Any]) -> None:
        bearer = handler.headers.get("authorization", "")
        key = handler.headers.get("x-goog-api-key") or (
            bearer.split(" ", 1)[1] if bearer.lower().startswith("bearer ") else None
        )
        vertex = VERTEX_PATH.match(path)
        if path in OPENAI_PATHS:
            raw = body.get("input", [])
            texts = [raw] if isinstance(raw, str) else [str(t) for t in raw]
        elif vertex:
            texts = _vertex_texts(vertex["method"], body)
        else:
            handler._send(404, {"error": {"message": f"no route {path}"}})
            return
        received = Received(path=path, key=key, texts=texts, body=body)
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            self._requests.append(received)
        if fault is not None:
            received.status = fault.status
            headers = (
                {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            )
            message = f"fake fault {fault.status}"
            if vertex:
                status = _STATUS.get(fault.status, "UNAVAILABLE")
                payload: Any = {
                    "error": {"code": fault.status, "message": message, "status": status}
                }
            else:
                payload = {"error": {"message": message, "type": "fake", "code": str(fault.status)}}
            handler._send(fault.status, payload, headers)
            return
        if vertex:
            handler._send(200, _vertex_answer(vertex["method"], body, texts))
        else:
            handler._send(200, _openai_answer(body, texts))


def _vertex_texts(method: str, body: dict[str, Any]) -> list[str]:
    def text_of(content: Any) -> str:
        if isinstance(content, str):
            return content
        parts = (content or {}).get("parts") or []
        return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))

    if method == "predict":
        return [text_of(i.get("content")) for i in body.get("instances", [])]
    if method == "batchEmbedContents":
        return [text_of(r.get("content")) for r in body.get("requests", [])]
    return [text_of(body.get("content"))]


def _vertex_answer(method: str, body: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    if method == "predict":
        dims = int((body.get("parameters") or {}).get("outputDimensionality") or DEFAULT_DIMENSIONS)
        return {
            "predictions": [
                {
                    "embeddings": {
                        "values": fake_vector(t, dims),
                        "statistics": {"token_count": len(t.split()), "truncated": False},
                    }
                }
                for t in texts
            ]
        }
    if method == "batchEmbedContents":
        requests = body.get("requests") or [{}]
        config = requests[0].get("embedContentConfig") or {}
        dims = int(config.get("outputDimensionality") or DEFAULT_DIMENSIONS)
        return {"embeddings": [{"values": fake_vector(t, dims)} for t in texts]}
    config = body.get("embedContentConfig") or {}
    dims = int(config.get("outputDimensionality") or DEFAULT_DIMENSIONS)
    return {
        "embedding": {"values": fake_vector(texts[0], dims)},
        "usageMetadata": {"promptTokenCount": len(texts[0].split())},
    }


def _openai_answer(body: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    dims = int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(texts):
        vector = fake_vector(text, dims)
        embedding: Any = (
            base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
        )
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = sum(len(t.split()) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", ""),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
