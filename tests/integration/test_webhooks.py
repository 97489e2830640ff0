"""Webhooks against local receivers: signed as documented, retried, failures recorded not raised."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.adapters.local.sqlite_state import SQLiteStateStore
from common.recipe import Recipe, load_recipe
from common.recipe.model import WebhookSpec
from common.reporting import run_sinks
from common.settings import Settings
from tests.support.webhook_receiver import Receiver, closed_port_url, documented_verify

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
SECRET = "whsec-test-1"
RUN = {
    "run_id": "demo-20261120T180000-abc123",
    "status": "succeeded",
    "started_at": "2026-11-20T18:00:00+00:00",
    "finished_at": "2026-11-20T18:00:05+00:00",
    "seconds": 5.0,
    "failed_shards": [],
    "llm": {"conversations": 3, "cache_hits": 1, "input_tokens": 900, "output_tokens": 120},
}
ANALYSIS = pl.DataFrame({"lead_key": ["a", "b"], "conversation_state": ["active", "stalled"]})
IGNORED = pl.DataFrame({"lead_key": ["c"], "ignore_reason": ["no messages found for this lead"]})


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def receiver(receivers: list[Receiver], *statuses: int, delay_s: float = 0.0) -> Receiver:
    made = Receiver(list(statuses) or [200], delay_s)
    receivers.append(made)
    return made


@pytest.fixture(scope="module")
def demo() -> Recipe:
    return load_recipe("demo", RECIPES)


def publish(
    tmp_path: Path, recipe: Recipe, hooks: list[WebhookSpec], run: dict[str, Any] | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    settings = Settings(
        webhook_secrets={"sales": SECRET},
        webhook_backoff_seconds=0.001,
        webhook_max_attempts=3,
    )
    ctx = SimpleNamespace(
        settings=settings,
        backends=SimpleNamespace(
            blobs=FolderBlobStore(tmp_path), state=SQLiteStateStore(tmp_path / "state.sqlite")
        ),
    )
    meta = recipe.meta.model_copy(update={"webhooks": hooks})
    outputs = {"analysis": "/data/demo_analysis.csv", "ignored": "/data/ignored.csv"}
    records = run_sinks(
        ctx, dataclasses.replace(recipe, meta=meta), run or RUN, ANALYSIS, IGNORED, outputs
    )
    return records, outputs


def test_a_delivery_verifies_with_the_documented_recipe(
    tmp_path: Path, demo: Recipe, receivers: list[Receiver]
) -> None:
    hook = receiver(receivers, 204)
    records, outputs = publish(tmp_path, demo, [WebhookSpec(url=hook.url, secret="sales")])
    assert records["webhooks"]["status"] == "ok"
    (delivery,) = records["webhooks"]["deliveries"]
    assert (
        delivery["status"] == "ok" and delivery["attempts"] == 1 and delivery["http_status"] == 204
    )
    assert "token" not in delivery["target"] and delivery["target"].startswith(
        "webhooks[0] http://127.0.0.1:"
    )

    (got,) = hook.received
    headers, body = got["headers"], got["body"]
    verify = documented_verify()
    assert verify(
        SECRET, headers["X-LeadRecovery-Timestamp"], body, headers["X-LeadRecovery-Signature"]
    )
    assert not verify(
        "other", headers["X-LeadRecovery-Timestamp"], body, headers["X-LeadRecovery-Signature"]
    )
    assert headers["X-LeadRecovery-Delivery"] == f"{RUN['run_id']}.0"
    summary = json.loads(body)
    assert summary["run_id"] == RUN["run_id"] and summary["recipe"] == "demo"
    assert summary["status"] == "succeeded" and summary["event"] == "run.report"
    assert summary["counts"] == {"rows": 2, "ignored": 1, "failed_shards": 0}
    assert summary["outputs"]["html"] == outputs["html"]  # the HTML report ran first
    assert summary["outputs"]["analysis"] == "/data/demo_analysis.csv"
    assert summary["llm"]["input_tokens"] == 900
    assert summary["sinks"] == {"html": "ok", "gsheets": "skipped"}


def test_transient_failures_are_retried_with_the_same_delivery_id(
    tmp_path: Path, demo: Recipe, receivers: list[Receiver]
) -> None:
    hook = receiver(receivers, 503, 429, 200)
    records, _ = publish(tmp_path, demo, [WebhookSpec(url=hook.url, secret="sales")])
    (delivery,) = records["webhooks"]["deliveries"]
    assert delivery["status"] == "ok" and delivery["attempts"] == 3 and "error" not in delivery
    ids = {r["headers"]["X-LeadRecovery-Delivery"] for r in hook.received}
    assert len(hook.received) == 3 and ids == {f"{RUN['run_id']}.0"}


def test_a_failing_receiver_is_recorded_and_the_report_goes_on(
    tmp_path: Path, demo: Recipe, receivers: list[Receiver]
) -> None:
    down = receiver(receivers, 500)
    healthy = receiver(receivers, 200)
    hooks = [
        WebhookSpec(url=down.url, secret="sales"),
        WebhookSpec(url=closed_port_url(), secret="sales", timeout_seconds=2),
        WebhookSpec(url=healthy.url, secret="sales"),
    ]
    records, outputs = publish(tmp_path, demo, hooks)  # does not raise
    result = records["webhooks"]
    assert result["status"] == "partial"
    erroring, unreachable, fine = result["deliveries"]
    assert erroring["status"] == "failed" and erroring["http_status"] == 500
    assert erroring["attempts"] == 3 and len(down.received) == 3
    assert unreachable["status"] == "failed" and unreachable["attempts"] == 3
    assert "ConnectionRefused" in unreachable["error"] and "http_status" not in unreachable
    assert fine["status"] == "ok" and len(healthy.received) == 1
    assert records["html"]["status"] == "ok" and "html" in outputs
    json.dumps(records)  # the record goes on the run document as it is


def test_every_webhook_failing_marks_the_sink_failed(tmp_path: Path, demo: Recipe) -> None:
    records, _ = publish(tmp_path, demo, [WebhookSpec(url=closed_port_url(), secret="sales")])
    assert records["webhooks"]["status"] == "failed"


def test_client_errors_and_slow_receivers(
    tmp_path: Path, demo: Recipe, receivers: list[Receiver]
) -> None:
    refused = receiver(receivers, 401)
    slow = receiver(receivers, 200, delay_s=0.6)
    hooks = [
        WebhookSpec(url=refused.url, secret="sales"),
        WebhookSpec(url=slow.url, secret="sales", timeout_seconds=0.2),
    ]
    records, _ = publish(tmp_path, demo, hooks)
    unauthorized, timed_out = records["webhooks"]["deliveries"]
    assert unauthorized["attempts"] == 1 and unauthorized["http_status"] == 401  # not retried
    assert timed_out["status"] == "failed" and timed_out["attempts"] == 3
    assert "timed out" in timed_out["error"].lower()


def test_events_choose_which_runs_notify(
    tmp_path: Path, demo: Recipe, receivers: list[Receiver]
) -> None:
    hook = receiver(receivers, 200)
    partial_only = WebhookSpec(url=hook.url, secret="sales", events=["partial"])
    records, _ = publish(tmp_path, demo, [partial_only])
    assert records["webhooks"]["status"] == "skipped" and not hook.received
    records, _ = publish(tmp_path, demo, [partial_only], run={**RUN, "status": "partial"})
    assert records["webhooks"]["status"] == "ok" and len(hook.received) == 1
    assert json.loads(hook.received[0]["body"])["status"] == "partial"
