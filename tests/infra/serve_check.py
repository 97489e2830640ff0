"""Run by the packaging test inside a clean virtual environment, in an unpacked function zip.

    python serve_check.py PLAN_JSON

Imports the function's ``main.py`` the way functions-framework does, posts the
plan's requests to its handlers (HTTP bodies as they are, Pub/Sub messages as
the CloudEvents a push delivery becomes), and prints one JSON report: each
answer, what the handlers published on the in-process bus, and whether the
Google adapters the function uses build in this environment.

Standard library, functions-framework and the zip's own ``common/`` only: the
repository is not on ``sys.path`` here, on purpose.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import traceback

sys.path.insert(0, os.getcwd())  # the unpacked zip, as /workspace on Cloud Functions


def _cloud_event(body: dict, message_id: str) -> dict:
    return {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/packaging/topics/t",
        "id": message_id,
        "time": "2026-11-20T18:00:00Z",
        "datacontenttype": "application/json",
        "data": {
            "message": {
                "data": base64.b64encode(json.dumps(body).encode()).decode(),
                "messageId": message_id,
                "publishTime": "2026-11-20T18:00:00Z",
            },
            "subscription": "projects/packaging/subscriptions/s",
        },
    }


def _google_adapters(plan: dict) -> dict:
    """Build the function's Google adapters and clients (no call leaves the machine)."""
    from common.backends import build_backends
    from common.settings import Settings

    backends = build_backends(Settings(backend="gcp", project="packaging", bucket="packaging"))
    built = {
        "state": type(backends.state.client).__name__,
        "blobs": type(backends.blobs.client).__name__,
        "cache": type(backends.cache.client).__name__,
    }
    if plan.get("publishes"):
        built["bus"] = type(backends.bus.client).__name__
    if plan.get("warehouse"):
        built["warehouse"] = type(backends.warehouse).__name__
    return built


def main() -> int:
    plan = json.loads(sys.argv[1])
    import functions_framework

    report: dict = {"answers": [], "python": sys.prefix}
    for index, request in enumerate(plan["requests"]):
        app = functions_framework.create_app(
            target=request["target"], source="main.py", signature_type=request["signature"]
        )
        client = app.test_client()
        if request["signature"] == "http":
            answer = client.post("/", json=request["body"], headers=request.get("headers", {}))
        else:
            answer = client.post(
                "/",
                json=_cloud_event(request["body"], f"packaging-{index}"),
                headers={"Content-Type": "application/cloudevents+json"},
            )
        report["answers"].append(
            {
                "target": request["target"],
                "status": answer.status_code,
                "body": answer.get_data(as_text=True)[:2000],
            }
        )
    from common import entrypoints

    bus = entrypoints.context().backends.bus
    report["published"] = [
        {"topic": d.topic, "body": json.loads(d.data)} for d in getattr(bus, "published", [])
    ]
    try:
        report["google"] = _google_adapters(plan)
    except Exception:  # reported, and the test says which function and why
        report["google_error"] = traceback.format_exc()
    report["modules"] = sorted({name.split(".")[0] for name in sys.modules})
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
