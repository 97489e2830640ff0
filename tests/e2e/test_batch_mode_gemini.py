"""Batch mode with Gemini: Vertex AI batch prediction jobs through google-genai, end to end.

Acceptance (issue 14, item 2) for `LR_LLM_PROVIDER=gemini`: with `llm.batch: always`
summarize writes its misses as JSONL to the run's bucket (the Cloud Storage
emulator), creates a batch prediction job on the fake server (which reads that
input and writes its predictions back to the bucket), the poller collects it;
answers equal the online mode's, a partly failed and an expired job are
resubmitted once then recorded as ignored, a re-run makes zero calls. Locally
(SQLite state, folder blobs, bucket only for the Vertex files) and through the
Pub/Sub + Firestore + Cloud Storage emulators.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF
from tests.e2e.test_batch_mode import LIMIT, _answers, _batch_recipe, _first_names, _rows
from tests.support.emulators import Emulator
from tests.support.fake_llm import FakeLLM, Fault

PROJECT = "lr-test"


def _online(fake: FakeLLM) -> int:
    """generateContent calls (the online path)."""
    return sum(1 for r in fake.requests if r.api == "gemini")


def _adc(tmp_path: Path, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    """Application default credentials: a service-account key whose token endpoint is the fake.

    (An ``authorized_user`` file would not do: google-auth always sends those to Google.)
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.support.fake_sheets import offline_google_auth

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    path = tmp_path / "adc.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "fake-key-1",
                "private_key": pem,
                "client_email": f"lr-summarize@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "100000000000000000002",
                "token_uri": f"{fake.url}/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    offline_google_auth(monkeypatch)


@pytest.fixture
def bucket(gcs_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on the Cloud Storage emulator (LR_BUCKET), removed after the test."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    for name, value in gcs_emulator.env.items():
        monkeypatch.setenv(name, value)
    name = f"lr-gemini-{uuid.uuid4().hex[:10]}"
    gcs = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    created = gcs.create_bucket(name)
    yield name
    for blob in created.list_blobs():
        blob.delete()
    created.delete()


@pytest.fixture
def gemini_env(
    local_env: Path,
    recipes_dir: Path,
    fake_llm: FakeLLM,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """stall_reasons with `llm.batch: always` on Gemini (Vertex AI with a project), at the fake."""
    _batch_recipe(recipes_dir)
    monkeypatch.setenv("LR_LLM_PROVIDER", "gemini")
    monkeypatch.setenv("LR_GEMINI_BASE_URL", fake_llm.url)
    monkeypatch.setenv("LR_PROJECT", PROJECT)
    monkeypatch.setenv("LR_BUCKET", bucket)
    monkeypatch.setenv("LR_BATCH_POLL_SECONDS", "0.05")
    _adc(tmp_path, fake_llm, monkeypatch)
    fake_llm.batch_polls_to_finish = 2  # the first poll finds every job still running
    return recipes_dir


def _run(**options):
    from common.local_runner import run_recipe

    ctx = StepContext.from_settings(Settings())
    return ctx, run_recipe(
        ctx, "stall_reasons", RunOptions(as_of=AS_OF, limit=LIMIT, **options), progress=False
    )


def _bucket_objects(bucket: str) -> list[str]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    gcs = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    return [b.name for b in gcs.bucket(bucket).list_blobs()]


def test_gemini_batch_answers_like_online_and_rerun_makes_no_calls(
    gemini_env: Path, fake_llm: FakeLLM, bucket: str
) -> None:
    ctx, run = _run()
    assert run.status == "succeeded", run.failures
    rows = _rows(run.outputs["analysis"])
    assert rows
    assert _online(fake_llm) == 0  # nothing online
    jobs = fake_llm.vertex_jobs
    assert len(jobs) == run.shards and fake_llm.batches == []  # one Vertex job per shard
    assert all(j["state"] == "JOB_STATE_SUCCEEDED" for j in jobs)
    assert all(j["model"].endswith("models/gemini-2.5-flash") for j in jobs)
    assert len(fake_llm.batch_items) == len(rows)
    assert run.llm["batch_calls"] == len(rows) and run.llm["llm_calls"] == 0
    assert run.llm["sources"]["batch"] == len(rows)
    # Input and output live in the run's bucket, beside where the run's objects go.
    objects = _bucket_objects(bucket)
    inputs = [o for o in objects if o.endswith("/gemini-input.jsonl")]
    assert len(inputs) == run.shards
    assert all(o.startswith(f"runs/{run.run_id}/batches/summarize-shard-") for o in inputs)
    assert sum(o.endswith("/predictions.jsonl") for o in objects) == run.shards
    # Every batch call carried the bearer token of the service-account path.
    assert {r.api for r in fake_llm.requests} == {"oauth", "vertex-batch"}
    assert all(r.key_id for r in fake_llm.requests if r.api == "vertex-batch")
    marks = [s for s in ctx.backends.state.list_steps(run.run_id) if s["step"] == "summarize"]
    assert all(m["status"] == "done" and m["attempts"] >= 2 for m in marks)

    calls = fake_llm.count
    _, again = _run()
    assert fake_llm.count == calls  # a re-run makes zero calls (answers are cached)
    assert again.llm["cache_hits"] == len(rows) and again.llm["sources"]["cache"] == len(rows)
    assert _answers(_rows(again.outputs["analysis"])) == _answers(rows)

    _batch_recipe(gemini_env, batch="never")
    _, online = _run(no_cache=True)
    assert _online(fake_llm) == len(rows)
    assert online.llm["sources"]["model"] == len(rows) and online.llm["sources"]["batch"] == 0
    assert _answers(_rows(online.outputs["analysis"])) == _answers(rows)  # same answers


def test_gemini_partly_failed_and_expired_jobs_resubmit_once_then_ignore(
    gemini_env: Path, fake_llm: FakeLLM
) -> None:
    _, probe = _run()
    names = _first_names(_rows(probe.outputs["analysis"]))
    flaky, broken, invalid = names[0], names[1], names[2]
    fake_llm.reset()
    fake_llm.batch_polls_to_finish = 2
    fake_llm.inject(Fault.error(500), times=1, when=f"first name: {flaky}.", api="batch")
    fake_llm.inject(Fault.error(500), times=None, when=f"first name: {broken}.", api="batch")
    fake_llm.inject(Fault.violating(), times=1, when=f"first name: {invalid}.", api="batch")
    fake_llm.expire_next_batch(answered=3)  # the first job to end expires after 3 lines
    _, run = _run(no_cache=True)
    assert run.status == "succeeded", run.failures
    analysis = _rows(run.outputs["analysis"])
    kept = {r["name"]: r for r in analysis}
    ignored = {r["name"]: r for r in _rows(run.outputs["ignored"])}
    assert flaky in kept and invalid in kept and broken not in kept
    assert ignored[broken]["ignore_reason"].startswith("llm batch item failed: http 500")
    assert _online(fake_llm) == 1  # only the repair of `invalid` went online
    expired = [j for j in fake_llm.vertex_jobs if j["state"] == "JOB_STATE_EXPIRED"]
    assert len(expired) == 1 and int(expired[0]["completionStats"]["incompleteCount"]) > 0
    assert run.llm["ignored"] == 1 and run.llm["batch_calls"] == len(analysis)
    clean = {r["lead_key"]: r for r in _rows(probe.outputs["analysis"])}
    for row in analysis:
        if row["name"] != invalid:
            assert _answers([row]) == _answers([clean[row["lead_key"]]])


def test_gemini_job_failed_as_a_whole_is_resubmitted(gemini_env: Path, fake_llm: FakeLLM) -> None:
    fake_llm.fail_next_vertex_job("Quota exceeded for batch prediction jobs.")
    _, run = _run()
    assert run.status == "succeeded", run.failures
    states = [j["state"] for j in fake_llm.vertex_jobs]
    assert states.count("JOB_STATE_FAILED") == 1 and run.llm["ignored"] == 0


def test_gemini_batch_needs_a_project_and_a_bucket(
    local_env: Path, recipes_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Express-mode keys cannot create batch prediction jobs: the error says what is needed."""
    from common.llm.batch.providers import build_batch_provider
    from common.recipe.loader import load_recipe

    monkeypatch.setenv("LR_GEMINI_API_KEYS", "AIza-express-key-aaaaaaaaaaaaaaaa")
    settings = Settings()
    config = load_recipe("stall_reasons", recipes_dir).llm
    with pytest.raises(ConfigError) as info:
        build_batch_provider("gemini", config=config, settings=settings)
    assert "LR_PROJECT" in str(info.value) and "express" in str(info.value)
    monkeypatch.setenv("LR_PROJECT", PROJECT)
    with pytest.raises(ConfigError) as info:
        build_batch_provider("gemini", config=config, settings=Settings())
    assert "LR_BUCKET" in str(info.value)


@pytest.mark.emulators
def test_gemini_batch_mode_through_the_emulators(
    gcp_env,
    gemini_env: Path,
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    sample_dir: Path,
) -> None:
    """Pub/Sub + Firestore + Cloud Storage emulators: waiting shards, the poller, re-delivery.

    The poller runs as deployed: the `poll_batches` Cloud Function's HTTP handler
    (what the `batches-poll` Cloud Scheduler job POSTs to).
    """
    import functions_framework

    from common import entrypoints
    from common.backends import build_backends
    from common.messages import RunRequest
    from common.settings import get_settings
    from tests.support.pubsub_driver import REPO, ChainDriver

    monkeypatch.setenv("LR_BACKEND", "gcp")
    monkeypatch.setenv("LR_BUCKET", gcp_env.bucket)  # the run's bucket holds the Vertex files
    monkeypatch.setenv("LR_WAREHOUSE", "duckdb")
    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(sample_dir))
    monkeypatch.setenv("LR_RECIPES_DIR", str(gemini_env))
    get_settings.cache_clear()
    entrypoints.context.cache_clear()
    settings = get_settings()
    driver = ChainDriver(settings.gcp_project, settings.topic_prefix)
    fake_llm.inject(Fault.error(500), times=2, when="first name: A", api="batch")
    fake_llm.expire_next_batch(answered=2)
    state = build_backends(settings).state
    poller = functions_framework.create_app(
        target="poll_batches",
        source=str(REPO / "functions/poll_batches/main.py"),
        signature_type="http",
    ).test_client()

    def run_to_end() -> dict:
        build_backends(settings).bus.publish(
            "recipe-runs",
            RunRequest(recipe="stall_reasons", options=RunOptions(as_of=AS_OF, limit=LIMIT)),
        )
        for _ in range(20):
            driver.run_until_idle()
            runs = [r for r in state.list_runs("stall_reasons") if r["status"] == "running"]
            if not runs:
                break
            answer = poller.post("/", json={})
            assert answer.status_code == 200, answer.get_data(as_text=True)
            actions = answer.get_json()["actions"]
            assert actions and not any(" skipped " in a for a in actions), actions
        return state.list_runs("stall_reasons", limit=1)[0]

    try:
        run = run_to_end()
        assert run["status"] == "succeeded", run
        metrics = run["metrics"]
        assert metrics["llm"]["batch_calls"] > 0 and metrics["llm"]["llm_calls"] == 0
        states = [j["state"] for j in fake_llm.vertex_jobs]
        assert states.count("JOB_STATE_EXPIRED") == 1
        assert sum(1 for i in fake_llm.batch_items if i.fault == "status") == 2
        assert metrics["llm"]["ignored"] == 0 and run["rows"] == metrics["llm"]["batch_calls"]
        assert all(code < 300 for _, _, code in driver.deliveries)
        inputs = [o for o in _bucket_objects(gcp_env.bucket) if o.endswith("gemini-input.jsonl")]
        assert inputs and all(o.startswith(f"runs/{run['run_id']}/batches/") for o in inputs)

        calls = fake_llm.count
        again = run_to_end()
        assert again["status"] == "succeeded" and fake_llm.count == calls  # zero calls
    finally:
        entrypoints.context.cache_clear()
