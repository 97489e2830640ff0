"""The summarize function's HTTP analysis endpoint, against the test LLM server."""

from __future__ import annotations

from pathlib import Path

import functions_framework
import pytest

from common import entrypoints
from tests.e2e.conftest import REPO
from tests.support.fake_llm import FakeLLM

TOKEN = "analysis-token-0123456789"
LEAD = {
    "lead_key": "+5215500000001",
    "fields": {"name": "Ana", "country": "MX", "product": "personal_loan"},
    "messages": [
        {
            "sent_at": "2026-11-20T14:00:00Z",
            "sender": "bot",
            "text": "¡Hola Ana! Tienes una oferta preaprobada",
        },
        {"sent_at": "2026-11-20T14:05:00Z", "sender": "user", "text": "¿de cuánto es?"},
    ],
}


@pytest.fixture
def client(local_env: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LR_LLM_PROVIDER", "openai")
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", "sk-test-cccccccccccccccccccccccc")
    monkeypatch.setenv("LR_ANALYSIS_API_TOKENS", f"other-token,{TOKEN}")
    entrypoints.context.cache_clear()
    app = functions_framework.create_app(
        target="summarize_http",
        source=str(REPO / "functions/summarize/main.py"),
        signature_type="http",
    )
    yield app.test_client()
    entrypoints.context.cache_clear()


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_analyses_leads_and_uses_the_cache(client, fake_llm: FakeLLM) -> None:
    second = {**LEAD, "lead_key": "+5215500000002", "fields": {**LEAD["fields"], "name": "Luis"}}
    body = {"recipe": "stall_reasons", "leads": [LEAD, second], "as_of": "2026-11-20T18:00:00Z"}
    response = client.post("/", json=body, headers=_auth())
    assert response.status_code == 200, response.data
    results = response.get_json()["results"]
    assert [r["lead_key"] for r in results] == [LEAD["lead_key"], second["lead_key"]]
    assert all(r["answer"]["primary_stall_reason_code"] for r in results)
    assert fake_llm.count == 2
    again = client.post("/", json=body, headers=_auth()).get_json()["results"]
    assert [r["cached"] for r in again] == [True, True] and fake_llm.count == 2


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"method": "GET"}, 405),
        ({"json": {"recipe": "stall_reasons", "leads": [LEAD]}, "headers": {}}, 401),
        ({"json": {"recipe": "stall_reasons", "leads": [LEAD]}, "headers": _auth("wrong")}, 401),
        ({"data": "recipe=x", "content_type": "text/plain", "headers": _auth()}, 415),
        ({"json": {"recipe": "stall_reasons", "leads": []}, "headers": _auth()}, 400),
        (
            {
                "json": {"recipe": "stall_reasons", "leads": [{**LEAD, "extra": 1}]},
                "headers": _auth(),
            },
            400,
        ),
        ({"json": {"recipe": "nope", "leads": [LEAD]}, "headers": _auth()}, 400),
        (
            {
                "data": b"{" + b" " * (3 * 1024 * 1024) + b"}",
                "content_type": "application/json",
                "headers": _auth(),
            },
            413,
        ),
    ],
)
def test_refusals(client, fake_llm: FakeLLM, kwargs: dict, status: int) -> None:
    method = kwargs.pop("method", "POST")
    response = client.open("/", method=method, **kwargs)
    assert response.status_code == status
    assert fake_llm.count == 0
    if status == 401:
        assert response.get_json() == {"error": "unauthorized"}
