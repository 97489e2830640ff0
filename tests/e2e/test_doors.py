"""Issue 18: every input is checked where it arrives (functions served by functions-framework).

Recipe names and run ids on every message and HTTP body; no run document for an
unknown recipe; malformed Pub/Sub envelopes acknowledged and dead-lettered with
their reason (never a 500).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import functions_framework
import pytest

from common import chain, entrypoints
from common.backends import build_backends
from common.settings import Settings
from tests.e2e.conftest import REPO


def _app(target: str, signature: str):
    entrypoints.context.cache_clear()
    return functions_framework.create_app(
        target=target, source=str(REPO / f"functions/{target}/main.py"), signature_type=signature
    ).test_client()


@pytest.fixture
def start(local_env: Path):
    yield _app("fetch_leads", "http")
    entrypoints.context.cache_clear()


@pytest.fixture
def process(local_env: Path):
    yield _app("process", "cloudevent")
    entrypoints.context.cache_clear()


def _dead_letters() -> list[dict]:
    bus = entrypoints.context().backends.bus
    return [
        json.loads(d.data)
        for d in bus.published  # type: ignore[attr-defined]
        if d.topic.endswith("-dead-letter")
    ]


def _push(body: object, **message: object) -> dict:
    data = base64.b64encode(json.dumps(body).encode()).decode()
    return {"message": {"data": data, "messageId": "m-1", **message}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"recipe": "/abs/path/to/recipes/demo"}, "recipe"),
        ({"recipe": "../recipes/demo"}, "recipe"),
        ({"recipe": "demo", "run_id": "a/b"}, "run_id"),
        ({"recipe": "demo", "run_id": ".."}, "run_id"),
    ],
)
def test_paths_in_recipe_or_run_id_are_refused_with_400(start, body, field: str) -> None:
    response = start.post("/", json=body)
    assert response.status_code == 400, response.data
    assert f"`{field}`" in response.get_json()["error"]
    assert build_backends(Settings()).state.list_runs() == []


def test_unknown_recipe_creates_no_run_document(start) -> None:
    response = start.post("/", json={"recipe": "nope", "run_id": "r-1"})
    assert response.status_code == 400
    assert build_backends(Settings()).state.get_run("r-1") is None


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ({"message": "x"}, "not a Pub/Sub message envelope"),
        ({"message": {"data": 5, "messageId": "1"}}, "not base64"),
        (_push({"recipe": "demo"}, publishTime="yesterday"), "publishTime"),
        (_push({"recipe": "../demo"}), "recipe"),
    ],
)
def test_malformed_push_to_fetch_leads_is_acknowledged_and_dead_lettered(
    start, envelope: dict, reason: str
) -> None:
    response = start.post("/", json=envelope)
    assert response.status_code == 200, response.data  # acknowledged: a retry cannot fix it
    assert reason in response.get_json()["error"]
    [dead] = _dead_letters()
    assert dead["topic"] == "recipe-runs" and reason in dead["error"]["message"]


def _event(data: object) -> dict:
    return {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/p/topics/conversations-fetched",
        "id": "1",
        "data": data,
    }


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"message": "x"}, "not a Pub/Sub message envelope"),
        ("[1, 2]", "not a Pub/Sub message envelope"),
        (_push({"run_id": "r", "recipe": "demo"}, publishTime="13:00"), "publishTime"),
        (_push({"run_id": "a/b", "recipe": "demo", "shard_index": 0, "shard_count": 1}), "run_id"),
    ],
)
def test_malformed_cloud_event_is_acknowledged_and_dead_lettered(
    process, data: object, reason: str
) -> None:
    response = process.post(
        "/", json=_event(data), headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 200, response.data
    [dead] = _dead_letters()
    assert dead["topic"] == chain.BY_NAME["process"].topic
    assert reason in dead["error"]["message"]
