"""One trace per run: every step of a run logs under the trace its first request carried.

The demo recipe runs through the Pub/Sub, Firestore and Cloud Storage
emulators with the real functions (functions-framework apps, the driver of
`tests/support/pubsub_driver.py`). The run starts with an HTTP call to
fetch-leads carrying ``X-Cloud-Trace-Context`` (as Cloud Run sets it), or with
a plain Pub/Sub message on ``recipe-runs`` (a new trace then starts there);
each message between steps carries ``traceparent`` as an attribute, and every
JSON log line of every step names the same ``logging.googleapis.com/trace``,
with a ``spanId`` of its own per step delivery.
"""

from __future__ import annotations

import io
import json
import logging
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from common import entrypoints
from common.backends import build_backends
from common.logging import JsonFormatter
from common.messages import RunOptions, RunRequest
from common.settings import get_settings
from tests.e2e.conftest import AS_OF
from tests.support.pubsub_driver import ChainDriver

pytestmark = pytest.mark.emulators

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"


@pytest.fixture
def chain(gcp_env, monkeypatch: pytest.MonkeyPatch, sample_dir: Path, recipes_dir: Path):
    """The functions on the emulators (recipe SQL on DuckDB), a log capture, and the driver."""
    meta_path = recipes_dir / "demo/meta.yml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["shard_size"] = 100  # 3 shards: fan-out and fan-in, quickly
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    monkeypatch.setenv("LR_WAREHOUSE", "duckdb")
    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(sample_dir))
    monkeypatch.setenv("LR_RECIPES_DIR", str(recipes_dir))
    get_settings.cache_clear()
    entrypoints.context.cache_clear()
    settings = get_settings()
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        yield settings, ChainDriver(settings.gcp_project, settings.topic_prefix), captured
    finally:
        logging.getLogger().removeHandler(handler)
        entrypoints.context.cache_clear()


def _lines(captured: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")]


def _by_step(lines: list[dict]) -> dict[str, list[dict]]:
    steps: dict[str, list[dict]] = defaultdict(list)
    for line in lines:
        step = line["logging.googleapis.com/labels"].get("step")
        if step:
            steps[step].append(line)
    return steps


def _single_run(settings) -> dict:
    runs = build_backends(settings).state.list_runs("demo")
    assert len(runs) == 1, runs
    assert runs[0]["status"] == "succeeded", runs[0]
    return runs[0]


def test_the_http_callers_trace_follows_the_run_through_every_step(chain) -> None:
    settings, driver, captured = chain
    response = driver.app("fetch_leads").post(
        "/",
        json={"recipe": "demo", "options": {"as_of": AS_OF.isoformat()}},
        headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/1234567890;o=1"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    seen = driver.run_until_idle()
    _single_run(settings)

    assert seen and {p.attributes.get("traceparent", "").split("-")[1] for p in seen} == {
        TRACE_ID
    }, [p.attributes for p in seen]
    steps = _by_step(_lines(captured))
    assert {"fetch_leads", "fetch_conversations", "process", "report"} <= set(steps), set(steps)
    expected = f"projects/{settings.gcp_project}/traces/{TRACE_ID}"
    for step, lines in steps.items():
        assert {line.get(TRACE_KEY) for line in lines} == {expected}, step
    spans = {step: {line[SPAN_KEY] for line in lines} for step, lines in steps.items()}
    assert all(len(s) == 16 for ids in spans.values() for s in ids)
    # Each step delivery is its own span: no span id is shared between two steps.
    assert spans["fetch_leads"].isdisjoint(spans["process"])
    assert spans["process"].isdisjoint(spans["report"])


def test_a_run_started_without_a_trace_gets_one_trace(chain) -> None:
    settings, driver, captured = chain
    build_backends(settings).bus.publish(
        "recipe-runs", RunRequest(recipe="demo", options=RunOptions(as_of=AS_OF))
    )
    driver.run_until_idle()
    _single_run(settings)
    steps = _by_step(_lines(captured))
    traces = {line.get(TRACE_KEY) for lines in steps.values() for line in lines}
    assert len(traces) == 1 and None not in traces, traces
    assert {"fetch_leads", "process", "report"} <= set(steps)
