"""fetch-leads over HTTP (gcloud functions call / push) and CloudEvent error handling."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import functions_framework
import pytest

from common import entrypoints
from common.backends import build_backends
from common.settings import Settings
from tests.e2e.conftest import AS_OF, REPO


@pytest.fixture
def client(local_env: Path):
    entrypoints.context.cache_clear()
    app = functions_framework.create_app(
        target="fetch_leads",
        source=str(REPO / "functions/fetch_leads/main.py"),
        signature_type="http",
    )
    yield app.test_client()
    entrypoints.context.cache_clear()


def test_direct_call_starts_a_run(client) -> None:
    body = {"recipe": "demo", "options": {"limit": 10, "as_of": AS_OF.isoformat()}}
    response = client.post("/", json=body)
    assert response.status_code == 200, response.data
    run_id = response.get_json()["run_id"]
    run = build_backends(Settings()).state.get_run(run_id)
    assert run is not None and run["leads"] == 10 and run["shard_count"] == 1


def test_push_envelope_redelivered_is_the_same_run(client) -> None:
    data = base64.b64encode(
        json.dumps({"recipe": "demo", "options": {"limit": 3}}).encode()
    ).decode()
    envelope = {
        "message": {"data": data, "messageId": "1234", "publishTime": "2026-11-20T18:00:00Z"},
        "subscription": "projects/p/subscriptions/recipe-runs-fetch_leads",
    }
    first = client.post("/", json=envelope).get_json()["run_id"]
    second = client.post("/", json=envelope).get_json()["run_id"]
    assert first == second
    state = build_backends(Settings()).state
    assert len(state.list_runs("demo")) == 1
    assert [s["attempts"] for s in state.list_steps(first)] == [1]


@pytest.mark.parametrize(
    ("method", "body", "status", "text"),
    [
        ("GET", None, 405, "POST"),
        ("POST", "not json", 400, "not a JSON object"),
        ("POST", {"recipe": "nope"}, 400, "no recipe `nope`"),
        ("POST", {"recipe": "demo", "options": {"limit": -1}}, 400, "options.limit"),
    ],
)
def test_bad_requests(client, method: str, body, status: int, text: str) -> None:
    if method == "GET":
        response = client.get("/")
    elif isinstance(body, str):
        response = client.post("/", data=body, content_type="text/plain")
    else:
        response = client.post("/", json=body)
    assert response.status_code == status
    assert text in response.get_json()["error"]


def test_push_of_a_bad_request_is_acknowledged(client) -> None:
    data = base64.b64encode(b'{"recipe": "nope"}').decode()
    response = client.post("/", json={"message": {"data": data, "messageId": "9"}})
    assert response.status_code == 200  # acknowledged: retrying cannot fix it
    assert "no recipe `nope`" in response.get_json()["error"]


def test_cloud_event_with_bad_payload_is_acknowledged(local_env: Path) -> None:
    entrypoints.context.cache_clear()
    app = functions_framework.create_app(
        target="process",
        source=str(REPO / "functions/process/main.py"),
        signature_type="cloudevent",
    )
    event = {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/p/topics/conversations-fetched",
        "id": "1",
        "data": {
            "message": {"data": base64.b64encode(b'{"run_id": 1}').decode(), "messageId": "1"}
        },
    }
    response = app.test_client().post(
        "/", json=event, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 200
    entrypoints.context.cache_clear()
