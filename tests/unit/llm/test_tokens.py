"""Offline token counting with tiktoken's o200k_base."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken.registry

from common.llm import tokens
from common.llm.tokens import CACHE_FILE_NAME, count_tokens, count_tokens_batch, encoding


@pytest.fixture
def fresh_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty cache directory, no loaded encoding anywhere, and no network at all."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.delitem(tiktoken.registry.ENCODINGS, "o200k_base", raising=False)
    tokens._reset_for_tests()
    yield tmp_path
    tokens._reset_for_tests()


def test_cache_file_name_is_tiktokens_key() -> None:
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    assert CACHE_FILE_NAME == hashlib.sha1(url.encode()).hexdigest()
    assert CACHE_FILE_NAME == "fb374d419588a4632f3f557e76b4b70aebbca790"


def test_loads_offline_into_the_configured_cache_dir(fresh_load: Path) -> None:
    enc = encoding()

    assert enc.name == "o200k_base"
    assert (fresh_load / CACHE_FILE_NAME).is_file()
    # Known o200k_base ids (tiktoken's own tests): the vocabulary is the real one.
    assert enc.encode("hello world") == [24912, 2375]
    assert encoding() is enc


def test_a_corrupt_cached_file_is_replaced_without_the_network(fresh_load: Path) -> None:
    (fresh_load / CACHE_FILE_NAME).write_bytes(b"not a vocabulary")

    assert count_tokens("hello world") == 2
    assert hashlib.sha256((fresh_load / CACHE_FILE_NAME).read_bytes()).hexdigest() == (
        tokens._BPE_SHA256
    )


def test_the_environment_is_left_as_it_was(
    fresh_load: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    monkeypatch.setenv("HOME", str(home))

    encoding()

    assert "TIKTOKEN_CACHE_DIR" not in os.environ
    assert (home / ".cache" / "lead-recovery" / "tiktoken" / CACHE_FILE_NAME).is_file()


def test_count_tokens() -> None:
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    assert count_tokens("¿Sigue disponible el depa? 🏠") > 5


def test_special_token_text_is_counted_as_plain_text() -> None:
    # Conversation text is data: a literal "<|endoftext|>" must neither raise
    # nor collapse into one control token.
    assert count_tokens("<|endoftext|>") > 1


def test_batch_matches_single_counts() -> None:
    texts = ["hola", "", "[2026-11-20 14:03] user: ¿precio?", "🙂" * 10]

    assert count_tokens_batch(texts) == [count_tokens(t) for t in texts]
    assert count_tokens_batch([]) == []
