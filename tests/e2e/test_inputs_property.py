"""Issue 18: property-based suite over every input door.

Arbitrary JSON and arbitrary bytes, sent to the message models, the Pub/Sub push
and CloudEvent envelopes (functions served by functions-framework), the HTTP
analysis API, call-webhook (Vapi payloads) and recipe files: never a 500 or a
traceback; always a clear 4xx, or an acknowledged dead letter with its reason.
Examples are bounded (`SETTINGS`) so the suite stays well under a minute.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import functions_framework
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import entrypoints, messages
from common.calls import webhook
from common.errors import PayloadError, RecipeError
from common.recipe.loader import load_recipe
from common.settings import get_settings
from tests.e2e.conftest import REPO

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "recipe",
        "run_id",
        "options",
        "shard_index",
        "shard_count",
        "schema_version",
        "message",
        "data",
        "messageId",
        "publishTime",
        "leads",
        "fields",
        "messages",
        "sent_at",
        "sender",
    ]
)
# Objects shaped like ours (known keys, wrong values) reach deeper than random keys.
shaped = st.dictionaries(keys | st.text(max_size=8), json_values, max_size=6)
bodies = st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode())
bodies |= shaped.map(lambda v: json.dumps(v).encode())


def _is_client_error(status: int) -> bool:
    return 400 <= status < 500


@SETTINGS
@given(body=bodies)
def test_message_models_accept_or_say_why(body: bytes) -> None:
    for model in (messages.RunRequest, messages.ShardMessage, messages.RunMessage):
        try:
            messages.decode(model, body, where="property")
        except PayloadError as err:
            assert "property" in str(err)


def _envelope(data: Any, message_id: Any, publish_time: Any) -> dict[str, Any]:
    return {"message": {"data": data, "messageId": message_id, "publishTime": publish_time}}


envelopes = (
    st.builds(
        _envelope,
        data=st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode())
        | shaped.map(lambda v: base64.b64encode(json.dumps(v).encode()).decode())
        | json_values,
        message_id=json_values,
        publish_time=st.none() | st.text(max_size=30) | st.integers(),
    )
    | shaped
)


@pytest.fixture
def start(local_env: Path):
    entrypoints.context.cache_clear()
    app = functions_framework.create_app(
        target="fetch_leads",
        source=str(REPO / "functions/fetch_leads/main.py"),
        signature_type="http",
    )
    yield app.test_client()
    entrypoints.context.cache_clear()


@SETTINGS
@given(body=envelopes, raw=st.binary(max_size=100))
def test_fetch_leads_http_never_500(start, body: dict[str, Any], raw: bytes) -> None:
    for response in (
        start.post("/", json=body),
        start.post("/", data=raw, content_type="application/json"),
    ):
        assert response.status_code < 500, response.data
        if response.status_code != 200 or "error" in (response.get_json() or {}):
            assert (response.get_json() or {}).get("error")


@pytest.fixture
def process(local_env: Path):
    entrypoints.context.cache_clear()
    app = functions_framework.create_app(
        target="process",
        source=str(REPO / "functions/process/main.py"),
        signature_type="cloudevent",
    )
    yield app.test_client()
    entrypoints.context.cache_clear()


@SETTINGS
@given(data=envelopes | json_values)
def test_cloud_events_are_acknowledged_and_dead_lettered_with_a_reason(process, data: Any) -> None:
    event = {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/p/topics/conversations-fetched",
        "id": "1",
        "data": data,
    }
    bus = entrypoints.context().backends.bus
    before = len(bus.published)  # type: ignore[attr-defined]
    response = process.post(
        "/", json=event, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 200, response.data
    dead = [json.loads(d.data) for d in bus.published[before:]]  # type: ignore[attr-defined]
    assert len(dead) == 1 and dead[0]["error"]["message"]


@pytest.fixture
def analysis(local_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LR_ANALYSIS_API_TOKENS", "tok-0123456789")
    entrypoints.context.cache_clear()
    app = functions_framework.create_app(
        target="summarize_http",
        source=str(REPO / "functions/summarize/main.py"),
        signature_type="http",
    )
    yield app.test_client()
    entrypoints.context.cache_clear()


lead = st.fixed_dictionaries(
    {
        "lead_key": json_values,
        "fields": shaped | json_values,
        "messages": st.lists(shaped, max_size=2),
    }
)
analyze_bodies = (
    st.fixed_dictionaries(
        {
            "recipe": st.sampled_from(["stall_reasons", "demo", "../x"]) | json_values,
            "leads": st.lists(lead, max_size=2) | json_values,
        }
    )
    | shaped
)


@SETTINGS
@given(body=analyze_bodies)
def test_the_analysis_api_answers_4xx(analysis, body: dict[str, Any]) -> None:
    response = analysis.post("/", json=body, headers={"Authorization": "Bearer tok-0123456789"})
    assert _is_client_error(response.status_code), response.data
    assert response.get_json()["error"]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("LR_BACKEND", "local")
    monkeypatch.setenv("LR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LR_STATE_DB", str(tmp_path / "state.sqlite"))
    monkeypatch.setenv("LR_CALL_WEBHOOK_SECRET", "vapi-secret-1")
    get_settings.cache_clear()
    webhook.webhook_context.cache_clear()
    app = functions_framework.create_app(
        target="call_webhook",
        source=str(REPO / "functions/call_webhook/main.py"),
        signature_type="http",
    )
    yield app.test_client()
    webhook.webhook_context.cache_clear()


def _vapi_like() -> st.SearchStrategy[Any]:
    samples = [json.loads(p.read_text()) for p in sorted((REPO / "tests/data/vapi").glob("*.json"))]

    def mutate(sample: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
        doc = json.loads(json.dumps(sample))
        node = doc
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                break
            node = node[key]
        else:
            node[path[-1]] = value
        return doc

    paths = st.lists(
        st.sampled_from(
            [
                "message",
                "call",
                "metadata",
                "type",
                "endedReason",
                "analysis",
                "customer",
                "number",
                "id",
                "startedAt",
            ]
        ),
        min_size=1,
        max_size=3,
    )
    return st.builds(mutate, st.sampled_from(samples), paths, json_values) if samples else shaped


@SETTINGS
@given(body=_vapi_like() | shaped, raw=st.binary(max_size=100))
def test_call_webhook_never_500(calls, body: Any, raw: bytes) -> None:
    headers = {"Content-Type": "application/json", "x-vapi-secret": "vapi-secret-1"}
    for data in (json.dumps(body).encode(), raw):
        response = calls.post("/", data=data, headers=headers)
        assert response.status_code < 500, response.data


@SETTINGS
@given(meta=st.binary(max_size=200) | shaped.map(lambda v: yaml.safe_dump(v).encode()))
def test_recipe_files_fail_with_a_recipe_error(tmp_path_factory, meta: bytes) -> None:
    folder = tmp_path_factory.mktemp("recipes")
    (folder / "r").mkdir()
    (folder / "r" / "meta.yml").write_bytes(meta)
    (folder / "r" / "conversations.sql").write_bytes(meta[:50])
    with pytest.raises(RecipeError) as info:
        load_recipe("r", folder)
    assert "meta.yml" in str(info.value) or "conversations.sql" in str(info.value)
