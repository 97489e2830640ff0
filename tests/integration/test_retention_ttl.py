"""The Firestore adapters write the TTL field the retention policies read (issue 15).

infra/firestore.tf declares TTL policies on ``expires_at`` for calls,
lead_outcomes, runs (and its ``steps``/``fanin`` subcollections) and
llm_rate_buckets; a document without the field is never deleted. Each test
writes through the adapter built from settings, with ``LR_RETENTION_*_DAYS``
set, and reads the raw document back from the emulator.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore

from common.backends import build_backends
from common.calls.events import build_event
from common.calls.models import EndOfCallReport, StatusUpdate, parse_envelope
from common.calls.simulate import call_sequence
from common.llm.budget import RETRY, store_for
from common.ports import StepKey
from common.ports.ratebudget import BucketSpec
from common.retention import TTL_FIELD
from common.settings import get_settings
from tests.support.fixtures import GcpTestEnv

pytestmark = pytest.mark.emulators

DAYS = {"CALLS": 11, "LEAD_OUTCOMES": 22, "RUNS": 33, "LLM_RATE_BUDGET": 3}


@pytest.fixture
def env(gcp_env: GcpTestEnv, monkeypatch: pytest.MonkeyPatch) -> GcpTestEnv:
    for kind, days in DAYS.items():
        monkeypatch.setenv(f"LR_RETENTION_{kind}_DAYS", str(days))
    get_settings.cache_clear()
    return gcp_env


def _raw(env: GcpTestEnv, path: str) -> dict[str, Any]:
    client = firestore.Client(project=env.project)
    doc = client.document(f"{env.collection_prefix}{path}").get().to_dict()
    assert doc is not None, f"no document {path}"
    return doc


def _assert_expires(doc: dict[str, Any], days: int, before: datetime, after: datetime) -> None:
    assert TTL_FIELD in doc, f"no {TTL_FIELD} in {sorted(doc)}"
    when = doc[TTL_FIELD]
    assert isinstance(when, datetime), f"{TTL_FIELD} must be a timestamp, found {when!r}"
    # Written between `before` and `after`, plus the kind's days.
    assert before + timedelta(days=days) - timedelta(seconds=1) <= when
    assert when <= after + timedelta(days=days) + timedelta(seconds=1)


def test_calls_and_lead_outcomes_expire_after_their_retention(env: GcpTestEnv) -> None:
    calls = build_backends(get_settings()).calls
    before = datetime.now(UTC)
    start = datetime(2026, 11, 20, 16, 7, tzinfo=UTC)
    for body in call_sequence("lead-1", "recovered", started_at=start):
        message, data = parse_envelope(json.dumps(body).encode())
        assert isinstance(message, EndOfCallReport | StatusUpdate)
        calls.record(build_event(message, data, received_at=start))
    calls.set_lead_contexts({"lead-2": {"segment": "a"}})
    after = datetime.now(UTC)

    [call] = calls.list_calls()
    assert TTL_FIELD not in call  # reads are the documents SQLite stores
    _assert_expires(_raw(env, f"calls/{call['call_id']}"), DAYS["CALLS"], before, after)
    for lead in ("lead-1", "lead-2"):
        doc = _raw(env, f"lead_outcomes/{lead}")
        _assert_expires(doc, DAYS["LEAD_OUTCOMES"], before, after)
    assert TTL_FIELD not in calls.lead_outcomes(["lead-1"])["lead-1"]


def test_runs_step_marks_and_fan_in_expire_after_run_retention(env: GcpTestEnv) -> None:
    state = build_backends(get_settings()).state
    before = datetime.now(UTC)
    state.create_run("r1", {"run_id": "r1", "recipe": "demo", "status": "running"})
    state.update_run("r1", {"status": "succeeded"})
    key = StepKey("r1", "process", 0)
    state.begin_step(key, 300)
    state.finish_step(key, {"rows": 1})
    other = StepKey("r1", "process", 1)
    state.fail_step(other, {"message": "x"}, terminal=True)
    state.complete_shard("r1", "process", 0, 1)
    after = datetime.now(UTC)

    days = DAYS["RUNS"]
    _assert_expires(_raw(env, "runs/r1"), days, before, after)
    for mark in (key, other):
        _assert_expires(_raw(env, f"runs/r1/steps/{mark.doc_id}"), days, before, after)
    for doc_id in ("process-shard-00000", "process-group-00000", "process-root"):
        _assert_expires(_raw(env, f"runs/r1/fanin/{doc_id}"), days, before, after)
    assert TTL_FIELD not in (state.get_run("r1") or {})
    assert all(TTL_FIELD not in mark for mark in state.list_steps("r1"))


def test_rate_budget_buckets_expire_and_zero_keeps_forever(
    env: GcpTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = BucketSpec("openai.abc123.rpm", 10.0, 10.0)
    before = datetime.now(UTC)
    for attempt in RETRY():
        with attempt:
            store_for(get_settings()).lease(spec, want=1, minimum=1, now=1.0)
    after = datetime.now(UTC)
    _assert_expires(
        _raw(env, f"llm_rate_buckets/{spec.bucket_id}"), DAYS["LLM_RATE_BUDGET"], before, after
    )

    monkeypatch.setenv("LR_RETENTION_LLM_RATE_BUDGET_DAYS", "0")
    forever = BucketSpec("openai.def456.rpm", 10.0, 10.0)
    for attempt in RETRY():
        with attempt:
            store_for(get_settings()).lease(forever, want=1, minimum=1, now=1.0)
    assert TTL_FIELD not in _raw(env, f"llm_rate_buckets/{forever.bucket_id}")
