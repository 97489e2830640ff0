"""Pytest fixtures for LLM tests: a fake OpenAI + Gemini server per test.

Register with ``pytest_plugins = [..., "tests.support.llm_fixtures"]`` in the
root ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_llm import FakeLLM


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A started `FakeLLM` with no faults, no latency and empty counters; stopped after the test.

    A server per test (binding and starting it takes about a millisecond) keeps
    a hanging request or a late retry of one test out of the next test's counters.
    """
    server = FakeLLM().start()
    try:
        yield server
    finally:
        server.stop()
