"""Session fixtures shared by unit, integration and e2e tests (emulators etc.).

Emulators start once per session. Right after collection, every emulator some
selected test needs is launched at once (their JVM start-ups overlap); each
fixture then only waits for its own to answer. A missing emulator fails the
tests that need it with an install hint: nothing is skipped silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.emulators import (
    ALL,
    FIRESTORE,
    GCS,
    PUBSUB,
    Emulator,
    EmulatorError,
    EmulatorPool,
)

TEST_PROJECT = "lr-test"

# Which emulators each fixture needs, to launch them before the first test runs.
_NEEDS = {
    "firestore_emulator": (FIRESTORE,),
    "pubsub_emulator": (PUBSUB,),
    "gcs_emulator": (GCS,),
    "gcp_env": ALL,
}

_pool: EmulatorPool | None = None


def _get_pool() -> EmulatorPool:
    global _pool
    if _pool is None:
        _pool = EmulatorPool(TEST_PROJECT)
    return _pool


def pytest_collection_finish(session: pytest.Session) -> None:
    """Launch (without waiting) the emulators the selected tests will need."""
    if session.config.option.collectonly:
        return
    needed: set[str] = set()
    for item in session.items:
        names = getattr(item, "fixturenames", ())
        for fixture, emulators in _NEEDS.items():
            if fixture in names:
                needed.update(emulators)
        # Parametrised backends reach `gcp_env` dynamically; the marker says so.
        if item.get_closest_marker("emulators") is not None:
            needed.update(ALL)
    if needed:
        _get_pool().launch(sorted(needed))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report how long each emulator took to become ready."""
    if _pool is not None and (times := _pool.start_times()):
        line = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(times.items()))
        terminalreporter.write_line(f"emulators seen ready after launch: {line}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop every emulator, however the session ended."""
    global _pool
    if _pool is not None:
        _pool.stop()
        _pool = None


def _emulator(name: str) -> Emulator:
    try:
        return _get_pool().get(name)
    except EmulatorError as err:
        message = str(err)
    # Outside the `except`, so the report shows the message once, without a chained traceback.
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def firestore_emulator() -> Emulator:
    """The Firestore emulator (its ``env`` holds ``FIRESTORE_EMULATOR_HOST``)."""
    return _emulator(FIRESTORE)


@pytest.fixture(scope="session")
def pubsub_emulator() -> Emulator:
    """The Pub/Sub emulator (its ``env`` holds ``PUBSUB_EMULATOR_HOST``)."""
    return _emulator(PUBSUB)


@pytest.fixture(scope="session")
def gcs_emulator() -> Emulator:
    """fake-gcs-server (its ``env`` holds ``STORAGE_EMULATOR_HOST``, with ``http://``)."""
    return _emulator(GCS)


@dataclass(frozen=True)
class GcpTestEnv:
    """What `gcp_env` set up for one test: unique names on shared emulators."""

    project: str
    bucket: str
    topic_prefix: str
    collection_prefix: str
    emulators: dict[str, Emulator] = field(repr=False)


@pytest.fixture
def gcp_env(
    monkeypatch: pytest.MonkeyPatch,
    gcs_emulator: Emulator,  # awaited in this order: fastest first, so the
    firestore_emulator: Emulator,  # start times reported are close to the truth
    pubsub_emulator: Emulator,
) -> Iterator[GcpTestEnv]:
    """``LR_BACKEND=gcp`` aimed at the emulators, with a fresh bucket and unique prefixes.

    Settings are resolved from the environment as in production, so
    ``build_backends(get_settings())`` yields the Google adapters.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import pubsub_v1, storage

    from common.settings import get_settings

    unique = uuid.uuid4().hex[:10]
    env = GcpTestEnv(
        project=TEST_PROJECT,
        bucket=f"lr-test-{unique}",
        topic_prefix=f"t{unique}-",
        collection_prefix=f"c{unique}_",
        emulators={FIRESTORE: firestore_emulator, PUBSUB: pubsub_emulator, GCS: gcs_emulator},
    )
    for emulator in env.emulators.values():
        for name, value in emulator.env.items():
            monkeypatch.setenv(name, value)
    for name, value in {
        "GOOGLE_CLOUD_PROJECT": env.project,
        "LR_BACKEND": "gcp",
        "LR_PROJECT": env.project,
        "LR_BUCKET": env.bucket,
        "LR_TOPIC_PREFIX": env.topic_prefix,
        "LR_FIRESTORE_COLLECTION_PREFIX": env.collection_prefix,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    gcs = storage.Client(project=env.project, credentials=AnonymousCredentials())
    bucket = gcs.create_bucket(env.bucket)
    yield env

    get_settings.cache_clear()
    # Pub/Sub has no reset and fake-gcs-server keeps buckets until it stops:
    # remove what this test made. Firestore needs nothing (the prefix is unique).
    # `delete(force=True)` refuses buckets of more than 256 objects (a 200-shard run has more).
    for blob in bucket.list_blobs():
        blob.delete()
    bucket.delete()
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    with subscriber:
        for sub in subscriber.list_subscriptions(project=f"projects/{env.project}"):
            if sub.name.rsplit("/", 1)[-1].startswith(env.topic_prefix):
                subscriber.delete_subscription(subscription=sub.name)
    for topic in publisher.list_topics(project=f"projects/{env.project}"):
        if topic.name.rsplit("/", 1)[-1].startswith(env.topic_prefix):
            publisher.delete_topic(topic=topic.name)


# ---- backends parametrised over local and gcp ---------------------------------------
BACKENDS = ["local", pytest.param("gcp", marks=pytest.mark.emulators)]


@pytest.fixture(params=BACKENDS)
def backend_name(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """Configure the environment for one backend; contract tests run once per value.

    ``local`` points every local adapter into ``tmp_path``; ``gcp`` uses `gcp_env`.
    """
    from common.settings import get_settings

    if request.param == "gcp":
        request.getfixturevalue("gcp_env")
    else:
        monkeypatch.setenv("LR_BACKEND", "local")
        monkeypatch.setenv("LR_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("LR_STATE_DB", str(tmp_path / "state.sqlite"))
        monkeypatch.setenv("LR_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
        get_settings.cache_clear()
    return str(request.param)
