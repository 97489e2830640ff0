"""OpenAI and Gemini providers, through the real SDKs, against the fake LLM server.

Every behaviour test runs once per provider (``[openai]`` and ``[gemini]``):
the providers are built by the registry from settings, exactly as the
summarize step builds them, and wrapped in an `LLMClient`. The only timing
asserted is the lower bound a Retry-After header promises, measured between
the server's arrival timestamps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Sequence

import pytest
from pydantic import SecretStr

from common.errors import ConfigError
from common.llm.client import LLMClient
from common.llm.config import LLMConfig, OutputField, RateLimits
from common.llm.keys import KeyPool, fingerprint
from common.llm.providers.base import LLMRequest, LLMResponse, ProviderRejected
from common.llm.providers.gemini_provider import GeminiProvider, retry_delay_from_details
from common.llm.providers.openai_provider import OpenAIProvider, strict_json_schema
from common.llm.providers.registry import PROVIDERS, api_keys, build_provider
from common.settings import Settings
from tests.support import llm_fixtures
from tests.support.fake_llm import FakeLLM, Fault, default_answer

fake_llm = llm_fixtures.fake_llm  # until the root conftest registers tests.support.llm_fixtures

KEY_A = "sk-test-key-alpha-01"
KEY_B = "sk-test-key-bravo-02"
MODELS = {"openai": "gpt-test-mini", "gemini": "gemini-test-flash"}
OUTPUT = {
    "stage": OutputField(type="category", values=["new", "negotiating", "lost", "won"]),
    "score": OutputField(type="integer", minimum=1, maximum=5),
    "confidence": OutputField(type="number", minimum=0, maximum=1),
    "summary": OutputField(type="string", max_length=60, description="One sentence."),
    "objections": OutputField(type="list", max_items=3, max_length=40),
    "callback": OutputField(type="boolean"),
    "next_step": OutputField(type="string", nullable=True),
}


@pytest.fixture(params=["openai", "gemini"])
def kind(request: pytest.FixtureRequest) -> str:
    """The provider under test; tests that take it run once per provider."""
    return str(request.param)


def config(kind: str, **limits: object) -> LLMConfig:
    return LLMConfig(
        provider=kind,
        model=MODELS[kind],
        temperature=0.2,
        max_output_tokens=300,
        limits=RateLimits(**{"retries": 3, "timeout_seconds": 5, "concurrency": 4, **limits}),
        output_schema=OUTPUT,
    )


def settings(fake: FakeLLM, keys: Sequence[str]) -> Settings:
    secrets = [SecretStr(k) for k in keys]
    return Settings(
        _env_file=None,
        openai_api_keys=secrets,
        openai_base_url=fake.openai_base_url,
        gemini_api_keys=secrets,
        gemini_base_url=fake.url,
        project="lr-test",
    )


def client(kind: str, fake: FakeLLM, keys: Sequence[str] = (KEY_A,), **limits: object) -> LLMClient:
    cfg = config(kind, **limits)
    env = settings(fake, keys)
    provider = build_provider(kind, config=cfg, settings=env)
    return LLMClient(
        provider,
        limits=cfg.limits,
        keys=KeyPool(api_keys(kind, env)),
        backoff_initial=0.01,
        backoff_max=0.05,
    )


def ask(
    kind: str, lead: str = "LEAD-1", text: str = "Hola, quiero el plan de 12 meses"
) -> LLMRequest:
    schema = config(kind).answer_model().model_json_schema()
    return LLMRequest(
        system="Answer with the JSON object only.",
        user=f"Lead {lead}. Conversation:\nuser: {text}\nbot: Claro, te llamo mañana.",
        json_schema=schema,
        model=MODELS[kind],
        temperature=0.2,
        max_output_tokens=300,
        metadata={"lead_key": lead},
    )


def run(llm: LLMClient, requests: Sequence[LLMRequest]) -> list[LLMResponse | Exception]:
    async def go() -> list[LLMResponse | Exception]:
        try:
            return await llm.complete_many(requests)
        finally:
            await llm.aclose()

    return asyncio.run(go())


def answer_of(kind: str, response: LLMResponse | Exception) -> dict:
    assert isinstance(response, LLMResponse), response
    return config(kind).answer_model().model_validate_json(response.text).model_dump()


def full_text(err: BaseException) -> str:
    return "".join(traceback.format_exception(err))


# --- the happy path, on the wire ------------------------------------------------------


def test_structured_answer_is_parsed_and_the_request_is_well_formed(
    kind: str, fake_llm: FakeLLM
) -> None:
    llm = client(kind, fake_llm)
    req = ask(kind)
    (response,) = run(llm, [req])
    answer = answer_of(kind, response)
    assert answer["stage"] in {"new", "negotiating", "lost", "won"}
    assert 1 <= answer["score"] <= 5 and len(answer["summary"]) <= 60
    assert isinstance(response, LLMResponse)
    assert response.input_tokens > 0 and response.output_tokens > 0
    assert (llm.stats.input_tokens, llm.stats.output_tokens) == (
        response.input_tokens,
        response.output_tokens,
    )
    assert answer == json.loads(json.dumps(default_answer(req.json_schema, req.user)))

    (seen,) = fake_llm.requests
    assert seen.raw_key == KEY_A and seen.key_id == fingerprint(KEY_A)
    assert seen.system == req.system and seen.user == req.user
    body = seen.body
    if kind == "openai":
        assert seen.path == "/v1/chat/completions"
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert body["model"] == MODELS[kind] and body["temperature"] == 0.2
        assert body["max_completion_tokens"] == 300
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        sent = fmt["json_schema"]["schema"]
        assert sent["additionalProperties"] is False
        assert sorted(sent["required"]) == sorted(OUTPUT)
    else:
        assert seen.path == f"/v1beta1/publishers/google/models/{MODELS[kind]}:generateContent"
        assert seen.headers["x-goog-api-key"] == KEY_A
        generation = body["generationConfig"]
        assert generation["responseMimeType"] == "application/json"
        assert generation["responseJsonSchema"] == req.json_schema
        assert generation["temperature"] == 0.2 and generation["maxOutputTokens"] == 300
        assert body["systemInstruction"]["parts"][0]["text"] == req.system


def test_gemini_without_a_key_uses_project_and_location(fake_llm: FakeLLM) -> None:
    from google.oauth2.credentials import Credentials

    kind = "gemini"
    provider = GeminiProvider(
        "lr-test",
        "europe-west4",
        base_url=fake_llm.url,
        timeout=5,
        credentials=Credentials(token="fake-access-token"),
    )
    llm = LLMClient(provider, limits=RateLimits(), keys=KeyPool([]))
    (response,) = run(llm, [ask(kind)])
    answer_of(kind, response)
    (seen,) = fake_llm.requests
    assert seen.path == (
        "/v1beta1/projects/lr-test/locations/europe-west4/publishers/google/models/"
        f"{MODELS[kind]}:generateContent"
    )
    assert seen.headers["authorization"] == "Bearer fake-access-token"
    assert "x-goog-api-key" not in seen.headers


# --- transient failures ----------------------------------------------------------------


def test_retry_after_is_honoured(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(Fault.throttle(retry_after=1))
    llm = client(kind, fake_llm)
    (response,) = run(llm, [ask(kind)])
    answer_of(kind, response)
    first, second = fake_llm.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0
    assert (llm.stats.throttled, llm.stats.retries) == (1, 1)


def test_server_errors_are_retried_to_success(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(Fault.error(500), Fault.error(503))
    llm = client(kind, fake_llm)
    (response,) = run(llm, [ask(kind)])
    answer_of(kind, response)
    assert [r.status for r in fake_llm.requests] == [500, 503, 200]
    assert (llm.stats.unavailable, llm.stats.retries, llm.stats.failed) == (2, 2, 0)


def test_a_storm_of_429s_is_ridden_out(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(*[Fault.throttle(retry_after=0)] * 10)
    llm = client(kind, fake_llm, retries=12)
    (response,) = run(llm, [ask(kind)])
    answer_of(kind, response)
    assert fake_llm.count == 11
    assert (llm.stats.throttled, llm.stats.retries) == (10, 10)


def test_a_hanging_call_times_out_and_is_retried(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(Fault.hang(10))
    llm = client(kind, fake_llm, timeout_seconds=0.75)
    (response,) = run(llm, [ask(kind)])
    answer_of(kind, response)
    first, *_, last = fake_llm.requests
    assert (first.fault, last.status) == ("hang", 200)
    # The hang was cut and retried (on a loaded machine a slow retry may be cut too).
    assert llm.stats.unavailable >= 1
    assert llm.stats.retries == llm.stats.unavailable


def test_a_body_that_is_not_json_is_retried(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(Fault.garbage())
    llm = client(kind, fake_llm)
    (response,) = run(llm, [ask(kind)])
    answer_of(kind, response)
    assert fake_llm.count == 2


def test_only_the_targeted_conversation_fails(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.inject(Fault.error(503), times=None, when="LEAD-42")
    llm = client(kind, fake_llm, retries=2)
    results = run(llm, [ask(kind, lead) for lead in ("LEAD-1", "LEAD-42", "LEAD-7")])
    assert isinstance(results[1], Exception) and "503" in str(results[1])
    answer_of(kind, results[0])
    answer_of(kind, results[2])
    assert sum("LEAD-42" in r.user for r in fake_llm.requests) == 3  # 1 + 2 retries


# --- answers the caller must validate ------------------------------------------------------


def test_malformed_and_violating_answers_reach_the_caller_unretried(
    kind: str, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(Fault.malformed(), Fault.violating())
    llm = client(kind, fake_llm, concurrency=1)
    malformed, violating = run(llm, [ask(kind, "LEAD-1"), ask(kind, "LEAD-2")])
    model = config(kind).answer_model()
    assert isinstance(malformed, LLMResponse) and isinstance(violating, LLMResponse)
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.text)
    with pytest.raises(ValueError, match="stage"):
        model.model_validate_json(violating.text)
    assert fake_llm.count == 2


# --- terminal failures and keys ------------------------------------------------------------


def test_unauthorized_is_rejected_without_retry_or_leaking_the_key(
    kind: str, fake_llm: FakeLLM
) -> None:
    fake_llm.valid_keys = {KEY_B}
    llm = client(kind, fake_llm, keys=[KEY_A])
    (error,) = run(llm, [ask(kind)])
    assert isinstance(error, ProviderRejected)
    assert fake_llm.count == 1 and llm.stats.retries == 0
    assert fake_llm.raw_keys == {KEY_A}  # the key was sent (and echoed back by the server)...
    assert KEY_A not in full_text(error)  # ...but never reaches the error
    assert fingerprint(KEY_A) in str(error) and "401" in str(error)


def test_a_permanently_throttled_key_is_avoided(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.fail_key(KEY_A, Fault.throttle(retry_after=1))
    llm = client(kind, fake_llm, keys=[KEY_A, KEY_B], concurrency=4)
    results = run(llm, [ask(kind, f"LEAD-{i}") for i in range(12)])
    for result in results:
        answer_of(kind, result)
    by_key = fake_llm.by_key
    assert by_key[fingerprint(KEY_B)] == 12
    # Only the calls already in flight when the first 429 came back used it.
    assert 1 <= by_key[fingerprint(KEY_A)] <= 4


def test_no_key_ever_reaches_a_log_record_or_an_error(
    kind: str, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_llm.valid_keys = {KEY_A, KEY_B}
    fake_llm.enqueue(
        Fault.throttle(retry_after=0), Fault.error(500), Fault.garbage(), Fault.hang(10)
    )
    fake_llm.inject(Fault.error(403), times=None, when="LEAD-403")
    llm = client(kind, fake_llm, keys=[KEY_A, KEY_B], concurrency=2, timeout_seconds=0.5)
    results = run(llm, [ask(kind, f"LEAD-{i}") for i in (1, 2, 3, 403)])
    intruder = client(kind, fake_llm, keys=["sk-test-not-a-valid-key"])
    results += run(intruder, [ask(kind, "LEAD-9")])

    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 2  # the 403 and the 401 (both terminal)
    assert fake_llm.raw_keys == {KEY_A, KEY_B, "sk-test-not-a-valid-key"}
    secrets = (KEY_A, KEY_B, "sk-test-not-a-valid-key")
    for err in errors:
        assert not any(s in full_text(err) for s in secrets)
    assert any(getattr(r, "fields", {}).get("event") == "llm_retry" for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        if record.exc_info and record.exc_info[1] is not None:
            text += full_text(record.exc_info[1])
        assert not any(s in text for s in secrets), record.name


# --- pure pieces ---------------------------------------------------------------------------


def test_strict_schema_requires_everything_and_forbids_extras() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "default": None},
            "b": {"$ref": "#/$defs/B", "description": "inlined because of siblings"},
            "c": {"type": "array", "items": {"type": "object", "properties": {"x": {}}}},
            "d": {"anyOf": [{"$ref": "#/$defs/B"}, {"type": "null"}]},
        },
        "required": ["a"],
        "$defs": {"B": {"type": "object", "properties": {"y": {"type": "integer"}}}},
    }
    original = json.dumps(schema, sort_keys=True)
    strict = strict_json_schema(schema)
    assert json.dumps(schema, sort_keys=True) == original  # input untouched
    assert strict["required"] == ["a", "b", "c", "d"]
    assert strict["additionalProperties"] is False
    assert "default" not in strict["properties"]["a"]
    b = strict["properties"]["b"]
    assert "$ref" not in b and b["additionalProperties"] is False and b["required"] == ["y"]
    assert strict["properties"]["c"]["items"]["additionalProperties"] is False
    assert strict["properties"]["d"]["anyOf"][0] == {"$ref": "#/$defs/B"}
    assert strict["$defs"]["B"]["additionalProperties"] is False


def test_registry_names_and_keys(kind: str, fake_llm: FakeLLM) -> None:
    env = settings(fake_llm, [KEY_A, KEY_B])
    assert api_keys(kind, env) == [KEY_A, KEY_B]
    assert api_keys("local", env) == []
    provider = build_provider(kind, config=config(kind), settings=env)
    assert provider.name == kind
    assert isinstance(provider, OpenAIProvider if kind == "openai" else GeminiProvider)
    with pytest.raises(ConfigError, match="unknown LLM provider") as info:
        build_provider("anthropic", config=config(kind), settings=env)
    assert all(name in str(info.value) for name in PROVIDERS)


def test_registry_fails_fast_without_credentials(kind: str) -> None:
    env = Settings(_env_file=None)
    with pytest.raises(ConfigError, match=f"provider `{kind}` needs"):
        build_provider(kind, config=config(kind), settings=env)


def test_gemini_retry_info_in_the_error_body() -> None:
    body = {
        "error": {
            "code": 429,
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
        }
    }
    assert retry_delay_from_details(body) == 7.0
    assert retry_delay_from_details({"error": {"code": 429}}) is None


def test_an_openai_compatible_endpoint_needs_no_key(fake_llm: FakeLLM) -> None:
    env = Settings(_env_file=None, openai_base_url=fake_llm.openai_base_url)
    cfg = config("openai")
    provider = build_provider("openai", config=cfg, settings=env)
    llm = LLMClient(provider, limits=cfg.limits, keys=KeyPool(api_keys("openai", env)))
    (response,) = run(llm, [ask("openai")])
    answer_of("openai", response)
    assert fake_llm.raw_keys == {"EMPTY"}  # vLLM's convention for "no key"
