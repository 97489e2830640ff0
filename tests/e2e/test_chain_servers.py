"""The chain as deployed: each function its own functions-framework server, fed by Pub/Sub push.

Every function of the chain runs as a separate ``functions-framework`` process
(the entry point Cloud Functions runs), on the Pub/Sub, Firestore and Cloud
Storage emulators; the recipe SQL runs on DuckDB. Each hop's topic has *two*
push subscriptions to its function, so every message is delivered twice, at
the same time: the idempotency claims, not luck, keep the effects single.

The demo recipe runs with 8+ shards. Faults come from a test-only wrapper
(``tests/support/fault_main.py``; production code knows nothing of it):
``fetch_conversations`` raises `TransientError` once per shard (answered 500,
redelivered by the emulator, then it completes), and ``process`` raises
`DataError` for one shard (acknowledged, dead-lettered with its reason, recorded
on the run, counted in the fan-in so the others still report).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import yaml
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from common import chain, layout
from common.backends import build_backends
from common.messages import RunOptions, RunRequest
from common.settings import Settings, get_settings
from tests.e2e.conftest import AS_OF, REPO
from tests.support.chain_faults import deliveries
from tests.support.emulators import free_port

pytestmark = pytest.mark.emulators

SHARD_SIZE = 38  # 300 leads in the window: 8 shards
TERMINAL_SHARD = 3
# A run takes ~20-40 s here; the margin is for a loaded machine, where the
# Firestore emulator's transactions on the run document slow the fan-in down.
RUN_TIMEOUT_S = float(os.environ.get("CHAIN_RUN_TIMEOUT", "180"))
# One server per stage of the chain (functions/<stage>), and how it is called:
# the recipe-runs push subscription posts to fetch_leads' HTTP start.
CHAIN_FUNCTIONS = {
    s.name: "http" if s.name == "fetch_leads" else "cloudevent" for s in chain.STAGES if s.available
}
FAULTS = {"transient_once": ["fetch_conversations"], "terminal": {"process": [TERMINAL_SHARD]}}


@dataclass
class Server:
    function: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)


def _stop(servers: dict[str, Server]) -> None:
    """Stop every server: SIGINT is gunicorn's quick shutdown; SIGKILL what lingers."""
    for server in servers.values():
        server.signal(signal.SIGINT)
    deadline = time.monotonic() + 5
    for server in servers.values():
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.signal(signal.SIGKILL)
            server.process.wait(timeout=10)


def _functions_framework() -> str:
    beside = Path(sys.executable).with_name("functions-framework")
    return str(beside) if beside.exists() else "functions-framework"


def _start(function: str, signature: str, env: dict[str, str], logs: Path) -> Server:
    port = free_port()
    log = logs / f"{function}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                _functions_framework(),
                *("--source", str(REPO / "tests/support/fault_main.py")),
                *("--target", function, "--signature-type", signature),
                *("--host", "127.0.0.1", "--port", str(port)),
            ],
            cwd=REPO,
            env={**env, "CHAIN_FAULT_FUNCTION": function},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: gunicorn's worker goes with it
        )
    return Server(function, port, process, log)


def _wait_listening(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"{server.function} server exited:\n{server.tail()}", pytrace=False)
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", server.port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"{server.function} server did not listen:\n{server.tail()}", pytrace=False)


@pytest.fixture
def chain_recipes(recipes_dir: Path) -> Path:
    path = recipes_dir / "demo/meta.yml"
    meta = yaml.safe_load(path.read_text())
    meta["shard_size"] = SHARD_SIZE
    path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return recipes_dir


@pytest.fixture
def deployment(gcp_env, monkeypatch, sample_dir: Path, chain_recipes: Path, tmp_path: Path):
    """Function servers, topics, two push subscriptions per hop, dead-letter pull subscriptions."""
    monkeypatch.setenv("LR_WAREHOUSE", "duckdb")
    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(sample_dir))
    monkeypatch.setenv("LR_RECIPES_DIR", str(chain_recipes))
    get_settings.cache_clear()
    settings = get_settings()
    fault_dir = tmp_path / "faults"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LR_LOG_LEVEL": "WARNING",
        "LR_LOG_FORMAT": "json",
        # A claim left behind (a worker that died mid-step) frees up within the test.
        "LR_STEP_LEASE_SECONDS": "60",
        "THREADS": "4",  # gunicorn threads per server (Cloud Functions: concurrency x instances)
        "CHAIN_FAULTS": json.dumps(FAULTS),
        "CHAIN_FAULT_DIR": str(fault_dir),
    }
    # Servers first: they boot while the topics and subscriptions are made.
    servers = {f: _start(f, kind, env, tmp_path) for f, kind in CHAIN_FUNCTIONS.items()}
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    project, prefix = settings.gcp_project, settings.topic_prefix
    try:
        for topic in chain.TOPICS:
            for name in (topic, chain.dead_letter_topic(topic)):
                with contextlib.suppress(gexc.AlreadyExists):
                    publisher.create_topic(name=publisher.topic_path(project, prefix + name))
            dead = chain.dead_letter_topic(topic)
            subscriber.create_subscription(
                name=subscriber.subscription_path(project, f"{prefix}{dead}-inspect"),
                topic=publisher.topic_path(project, prefix + dead),
            )
        deadline = time.monotonic() + 60
        for function, server in servers.items():
            _wait_listening(server, deadline)
            topic = chain.BY_NAME[function].topic
            for copy in ("a", "b"):  # two subscriptions: every message delivered twice
                subscriber.create_subscription(
                    request={
                        "name": subscriber.subscription_path(
                            project, f"{prefix}{topic}-{function}-{copy}"
                        ),
                        "topic": publisher.topic_path(project, prefix + topic),
                        "push_config": {"push_endpoint": server.url},
                        "ack_deadline_seconds": 60,
                        # As in infra/pubsub.tf, with test-sized backoffs.
                        "retry_policy": {
                            "minimum_backoff": {"seconds": 1},
                            "maximum_backoff": {"seconds": 4},
                        },
                    }
                )
        yield settings, servers, subscriber, fault_dir
    finally:
        _stop(servers)
        subscriber.close()


def _wait_for_run(settings: Settings, servers: dict[str, Server]) -> dict:
    state = build_backends(settings).state
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        runs = state.list_runs("demo")
        # A terminal shard failure marks the run "failed" at once; the report,
        # once it has run (or failed for good), says what the run finally is.
        if runs and runs[0].get("status") in ("succeeded", "partial"):
            assert len(runs) == 1, runs
            return runs[0]
        if runs and any(
            s["step"] == "report" and s["status"] in ("done", "failed")
            for s in state.list_steps(runs[0]["run_id"])
        ):
            return state.list_runs("demo")[0]
        for server in servers.values():
            if server.process.poll() is not None:
                pytest.fail(f"{server.function} server died:\n{server.tail()}", pytrace=False)
        time.sleep(0.5)
    logs = "\n".join(f"--- {s.function}\n{s.tail(10)}" for s in servers.values())
    steps = state.list_steps(runs[0]["run_id"]) if runs else []
    pytest.fail(
        f"the run did not finish in {RUN_TIMEOUT_S:g} s: {runs}\nsteps: {steps}\n{logs}",
        pytrace=False,
    )


def _pull_dead_letters(subscriber, settings: Settings, topic: str) -> list[dict]:
    path = subscriber.subscription_path(
        settings.gcp_project, f"{settings.topic_prefix}{chain.dead_letter_topic(topic)}-inspect"
    )
    found: list[dict] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not found:
        response = subscriber.pull(
            request={"subscription": path, "max_messages": 100, "return_immediately": True},
            timeout=10,
        )
        found += [json.loads(r.message.data) for r in response.received_messages]
        if not found:
            time.sleep(0.2)
    return found


def test_chain_of_servers_survives_duplicates_transients_and_a_poison_shard(deployment) -> None:
    settings, servers, subscriber, fault_dir = deployment
    backends = build_backends(settings)
    started = time.monotonic()
    backends.bus.publish("recipe-runs", RunRequest(recipe="demo", options=RunOptions(as_of=AS_OF)))

    run = _wait_for_run(settings, servers)
    elapsed = time.monotonic() - started
    run_id = run["run_id"]
    shards = run["shard_count"]
    assert shards >= 8, run

    # The poison shard: failed for good, with its reason, on the run; the others reported.
    assert run["status"] == "partial", run
    assert run["failed_shards"] == [TERMINAL_SHARD]
    terminal = {k: v for k, v in run["failures"].items() if v.get("terminal")}
    assert list(terminal) == [f"process-{TERMINAL_SHARD:05d}"], run["failures"]
    assert "injected terminal fault" in terminal[f"process-{TERMINAL_SHARD:05d}"]["message"]

    # ...and its message, with the reason, on the hop's dead-letter topic.
    [dead] = _pull_dead_letters(subscriber, settings, "conversations-fetched")
    assert dead["step"] == "process" and dead["body"]["shard_index"] == TERMINAL_SHARD
    assert dead["body"]["run_id"] == run_id and dead["error"]["type"] == "DataError"

    # A step publishes to the next topic before it marks itself done, so the run
    # can finish while an upstream mark is still being written (under load).
    deadline = time.monotonic() + 20
    while True:
        steps = backends.state.list_steps(run_id)
        if all(s["status"] in ("done", "failed") for s in steps) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    by_step: dict[str, dict[int, dict]] = {}
    for step in steps:
        by_step.setdefault(step["step"], {})[step["shard"]] = step

    def explained(step: dict) -> bool:
        """Ran once, or again only after a recorded failure (never for a duplicate alone)."""
        return step["attempts"] == 1 or "error" in step

    # The transient fault: injected once per shard, redelivered, then completed.
    injected = sorted(p.name for p in fault_dir.glob("transient-fetch_conversations-*"))
    assert len(injected) == shards, injected
    fetched = by_step["fetch_conversations"]
    assert sorted(fetched) == list(range(shards))
    assert all(s["status"] == "done" and s["attempts"] >= 2 for s in fetched.values()), fetched
    # Duplicates did no work twice: a step ran again only after a failure it recorded.
    processed = by_step["process"]
    assert processed[TERMINAL_SHARD]["status"] == "failed"
    others = {shard: s for shard, s in processed.items() if shard != TERMINAL_SHARD}
    assert len(others) == shards - 1
    assert all(s["status"] == "done" and explained(s) for s in others.values()), others
    [report] = by_step["report"].values()
    assert report["status"] == "done" and report["attempts"] == 1
    assert explained(by_step["fetch_leads"][-1])

    # Every message reached its function at least twice (two subscriptions).
    counts = Counter(deliveries(fault_dir))
    for function in ("fetch_leads", "fetch_conversations", "process", "report"):
        mine = {mid: n for (f, mid), n in counts.items() if f == function}
        assert mine and min(mine.values()) >= 2, (function, mine)
    assert len({mid for (f, mid) in counts if f == "fetch_conversations"}) == shards

    # The outputs: every lead but the poison shard's, once.
    poisoned = pl.read_parquet(
        io.BytesIO(backends.blobs.get_bytes(layout.shard_key(run_id, "leads", TERMINAL_SHARD)))
    )["lead_key"].to_list()
    outputs = {k for k in backends.blobs.list("output_run/demo/")}
    [analysis] = [k for k in outputs if k.endswith("/demo_analysis.csv")]
    [ignored] = [k for k in outputs if k.endswith("/ignored.csv") and "latest" not in k]
    rows = pl.read_csv(io.BytesIO(backends.blobs.get_bytes(analysis)), infer_schema=False)
    skipped = pl.read_csv(io.BytesIO(backends.blobs.get_bytes(ignored)), infer_schema=False)
    keys = rows["lead_key"].to_list() + skipped["lead_key"].to_list()
    assert len(keys) == len(set(keys)) == run["leads"] - len(poisoned)
    assert not set(poisoned) & set(keys)
    print(
        f"\nchain of servers: {shards} shards, {sum(counts.values())} deliveries, {elapsed:.1f} s"
    )
