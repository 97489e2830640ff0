"""`make dev`: the whole chain on one machine, as deployed, on the emulators.

`up` starts the Firestore, Pub/Sub and Cloud Storage emulators, creates the
topics, dead-letter topics and push subscriptions from `common.chain` (the
same table Terraform's `modules/chain` is checked against; dead-letter policy
as in `infra/pubsub.tf`), serves each function of the chain with
functions-framework on its own port, and records every process (pid = its
process group, port, log) in ``<state_dir>/state.json`` as soon as it starts.
`down` stops every recorded process group (the emulator launchers fork a JVM:
signalling the launcher alone would leave the JVM on its port) and waits until
none of their processes is left.

The functions run with ``LR_BACKEND=gcp`` on the emulators and
``LR_WAREHOUSE=duckdb`` on ``LR_WAREHOUSE_DIR`` (the sample data): there is no
BigQuery emulator, and without that setting the first step would ask for
Google credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import chain
from common.dev import emulators
from common.dev.processes import (
    REPO,
    Process,
    group_members,
    serve,
    stop_group,
    wait_listening,
)
from common.errors import ConfigError

STATE_FILE = "state.json"
ENV_FILE = "env.sh"


class DevSettings(BaseSettings):
    """Settings of the local chain (`make dev`), from ``LR_DEV_*`` variables.

    The functions' own settings (``LR_WAREHOUSE_DIR``, ``LR_RECIPES_DIR``,
    ``LR_TOPIC_PREFIX``, ...) pass through from the environment as usual.
    """

    model_config = SettingsConfigDict(env_prefix="LR_DEV_", extra="ignore")

    state_dir: Path = Field(
        Path(".lead-recovery/dev"),
        description="Folder of the state file (pids, ports), env.sh, the logs and local staging.",
    )
    project: str = Field("lead-recovery-dev", description="Project id the emulators serve.")
    bucket: str = Field("lead-recovery-dev", description="Bucket created in fake-gcs-server.")
    max_delivery_attempts: int = Field(
        5, ge=5, le=100, description="Push subscriptions' dead-letter policy (Pub/Sub: 5-100)."
    )
    start_timeout_s: float = Field(
        90, gt=0, description="How long each emulator and function server may take to start."
    )
    as_of: str | None = Field(
        None,
        description="`options.as_of` of the printed demo run (the sample data's clock; "
        "`make dev` passes DEMO_AS_OF).",
    )


@dataclass
class State:
    """What `up` started, as written to the state file."""

    project: str
    bucket: str
    topic_prefix: str
    processes: list[Process]
    env: dict[str, str]
    started_at: str

    def save(self, state_dir: Path) -> None:
        """Write the state file (replaced atomically)."""
        tmp = state_dir / f"{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(state_dir / STATE_FILE)

    @classmethod
    def load(cls, state_dir: Path) -> State | None:
        """The recorded state, or None when nothing was started."""
        path = state_dir / STATE_FILE
        if not path.exists():
            return None
        raw: dict[str, Any] = json.loads(path.read_text())
        raw["processes"] = [Process(**p) for p in raw.get("processes", [])]
        return cls(**raw)


def chain_functions() -> dict[str, str]:
    """Function (= stage) → signature type: fetch_leads is HTTP, the others CloudEvent."""
    return {
        s.name: "http" if s.name == "fetch_leads" else "cloudevent"
        for s in chain.STAGES
        if s.available
    }


def _create_pubsub(state: State, servers: dict[str, Process], dev: DevSettings) -> None:
    from google.api_core import exceptions as gexc
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    project, prefix = state.project, state.topic_prefix
    try:
        for topic in chain.TOPICS:
            dead = chain.dead_letter_topic(topic)
            for name in (topic, dead):
                with contextlib.suppress(gexc.AlreadyExists):
                    publisher.create_topic(name=publisher.topic_path(project, prefix + name))
            # As infra/pubsub.tf: a pull subscription keeps every dead letter for inspection.
            with contextlib.suppress(gexc.AlreadyExists):
                subscriber.create_subscription(
                    name=subscriber.subscription_path(project, f"{prefix}{dead}-inspect"),
                    topic=publisher.topic_path(project, prefix + dead),
                )
        for function, server in servers.items():
            topic = chain.BY_NAME[function].topic
            subscriber.create_subscription(
                request={
                    "name": subscriber.subscription_path(
                        project, f"{prefix}{topic}-{function.replace('_', '-')}"
                    ),
                    "topic": publisher.topic_path(project, prefix + topic),
                    "push_config": {"push_endpoint": f"http://127.0.0.1:{server.port}/"},
                    "ack_deadline_seconds": 600,
                    # Backoffs shorter than infra's: a retried step is seen within seconds.
                    "retry_policy": {
                        "minimum_backoff": {"seconds": 1},
                        "maximum_backoff": {"seconds": 10},
                    },
                    "dead_letter_policy": {
                        "dead_letter_topic": publisher.topic_path(
                            project, prefix + chain.dead_letter_topic(topic)
                        ),
                        "max_delivery_attempts": dev.max_delivery_attempts,
                    },
                }
            )
    finally:
        subscriber.close()


# ----------------------------------------------------------------- up / down
def _abs_env(name: str, default: str) -> str:
    return str(Path(os.environ.get(name) or default).resolve())


def up(dev: DevSettings) -> State:
    """Start the emulators, the topics and subscriptions, and one server per function.

    Raises:
        ConfigError: a stack is already running in ``state_dir``, or a part did not start
            (everything started so far is stopped again).
    """
    state_dir = dev.state_dir.resolve()
    previous = State.load(state_dir)
    if previous and any(group_members(p.pid) for p in previous.processes):
        raise ConfigError(
            f"a local chain is already running (state {state_dir / STATE_FILE})",
            where="make dev",
            expected="`make dev-down` first",
        )
    shutil.rmtree(state_dir, ignore_errors=True)
    logs = state_dir / "logs"
    logs.mkdir(parents=True)
    state = State(
        project=dev.project,
        bucket=dev.bucket,
        topic_prefix=os.environ.get("LR_TOPIC_PREFIX", ""),
        processes=[],
        env={},
        started_at=datetime.now().astimezone().isoformat(timespec="seconds"),
    )
    try:
        _up(dev, state, state_dir, logs)
    except BaseException:
        down(state_dir)
        raise
    return state


def _up(dev: DevSettings, state: State, state_dir: Path, logs: Path) -> None:
    started = {name: emulators.start(name, logs, project=dev.project) for name in emulators.ALL}
    for emulator in started.values():
        state.processes.append(
            Process(
                emulator.name,
                emulator.process.pid,
                emulator.port,
                str(emulator.log_path),
                "emulator",
            )
        )
    state.save(state_dir)
    client_env: dict[str, str] = {}
    for emulator in started.values():
        emulator.wait_ready(timeout=dev.start_timeout_s)
        client_env.update(emulator.env)
    client_env.update(
        {
            "GOOGLE_CLOUD_PROJECT": dev.project,
            "LR_BACKEND": "gcp",
            "LR_PROJECT": dev.project,
            "LR_BUCKET": dev.bucket,
            "LR_TOPIC_PREFIX": state.topic_prefix,
            "LR_WAREHOUSE": "duckdb",
            "LR_WAREHOUSE_DIR": _abs_env("LR_WAREHOUSE_DIR", "data/sample"),
            "LR_RECIPES_DIR": _abs_env("LR_RECIPES_DIR", "recipes"),
            # Local staging of each run's conversations scan: beside this file.
            "LR_STATE_DB": str(state_dir / "state.sqlite"),
            "LR_MAX_DELIVERY_ATTEMPTS": str(dev.max_delivery_attempts),
        }
    )
    state.env = client_env
    state.save(state_dir)
    os.environ.update(client_env)  # the clients below talk to the emulators

    server_env = {**os.environ, "PYTHONPATH": str(REPO), "LR_LOG_FORMAT": "text"}
    servers = {f: serve(f, kind, server_env, logs) for f, kind in chain_functions().items()}
    state.processes.extend(servers.values())
    state.save(state_dir)

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined]

    storage.Client(project=dev.project, credentials=AnonymousCredentials()).create_bucket(
        dev.bucket
    )
    deadline = time.monotonic() + dev.start_timeout_s
    for server in servers.values():
        wait_listening(server, deadline)
    _create_pubsub(state, servers, dev)
    (state_dir / ENV_FILE).write_text(
        "# Source me: the lead-recovery CLI and gcloud against the local chain (make dev).\n"
        + "".join(f"export {k}={shlex.quote(v)}\n" for k, v in gcloud_env(state, state_dir).items())
        + "".join(f"export {k}={shlex.quote(v)}\n" for k, v in client_env.items())
    )


def gcloud_env(state: State, state_dir: Path) -> dict[str, str]:
    """The variables that point the real `gcloud` at the Pub/Sub and Storage emulators."""
    by_name = {p.name: p for p in state.processes}
    return {
        # A private configuration: no login, no prompt, the user's gcloud untouched.
        "CLOUDSDK_CONFIG": str(state_dir.resolve() / "gcloud-config"),
        "CLOUDSDK_CORE_PROJECT": state.project,
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://127.0.0.1:{by_name['pubsub'].port}/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"http://127.0.0.1:{by_name['gcs'].port}/",
    }


def publish_command(state: State, state_dir: Path, recipe: str, as_of: str | None) -> str:
    """The exact shell line that starts a run of ``recipe`` with the real `gcloud`."""
    body: dict[str, Any] = {"recipe": recipe}
    if as_of:
        body["options"] = {"as_of": as_of}
    env = gcloud_env(state, state_dir)
    env.pop("CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE")
    return " ".join(
        [
            *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
            "gcloud pubsub topics publish",
            f"{state.topic_prefix}recipe-runs",
            "--message=" + shlex.quote(json.dumps(body, separators=(",", ":"))),
        ]
    )


def down(state_dir: Path) -> list[Process]:
    """Stop every process the state file records and wait until none is left.

    Returns:
        The processes that were still running.
    """
    state_dir = state_dir.resolve()
    state = State.load(state_dir)
    if state is None:
        return []
    # Servers first: they would otherwise answer 500 to pushes from a dying emulator.
    ordered = sorted(state.processes, key=lambda p: p.kind != "function")
    running = [p for p in ordered if group_members(p.pid)]
    for process in running:
        stop_group(process)
    left = [p for p in ordered if group_members(p.pid)]
    if left:
        raise ConfigError(
            "could not stop: " + ", ".join(f"{p.name} (pgid {p.pid})" for p in left),
            where="make dev-down",
        )
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return running
