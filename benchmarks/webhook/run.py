"""Benchmark: call-webhook under load, served as in production, on the Firestore emulator.

    python benchmarks/webhook/run.py [--events 5000] [--clients 50] [--rate 110]
        [--workers 1] [--threads 16] [--warmup 1200] [--seed 7] [--trace FILE]
        [--java-options OPTS]

Starts the Firestore emulator (tests/support/emulators.py) and the function
with ``functions-framework`` (gunicorn, gthread workers) on loopback, then
sends ``--events`` provider messages from ``--clients`` concurrent keep-alive
clients (one asyncio loop), paced at ``--rate`` events/s (0: as fast as the
clients can go):

- unique valid messages: whole calls (status updates then the end-of-call
  report, some out of order) for one lead each, plus message types the
  webhook acknowledges and ignores (speech-update, transcript);
- 10 % duplicates: a message already sent, sent again later (re-signed, as a
  provider retry would be);
- 5 % bad signatures: tampered copies of valid messages and messages signed
  with the wrong key.

``--warmup`` requests (same mix, unpaced, not timed) go first. It prints
events/s, the p50/p99 latency and the CPU each component spent per event (the
function's and the emulator's process groups, the clients), then reads
Firestore back and checks that the stored call events are exactly the unique
valid ones (none lost, none twice) and that no bad-signature message left a
trace, and says whether the goals hold (issue 20: at least 100 events/s with a
p99 under 250 ms, the store on the official Firestore client; figures in
docs/calls.md). Exits 1 if a check fails (a missed goal is reported, not
failed: it depends on the machine). One gunicorn worker by default: every message
of a call then meets the versions the store keeps in memory (see
common/adapters/gcp/firestore_calls.py); more workers still store correctly,
with more reads and conflicts.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from common.calls.auth import sign  # noqa: E402
from common.calls.events import build_event  # noqa: E402
from common.calls.models import EndOfCallReport, StatusUpdate, parse_envelope  # noqa: E402
from common.calls.simulate import OUTCOMES, call_sequence  # noqa: E402
from tests.support.emulators import FIRESTORE, free_port, start  # noqa: E402

PROJECT = "lr-bench"
SECRET = "bench-secret"
WRONG = "not-the-secret"
SIG_HEADER, TS_HEADER = "x-vapi-signature", "x-vapi-timestamp"
GOAL_EVENTS_S = 100  # issue 20's goals, on the 2-core development machine
GOAL_P99_MS = 250


@dataclass
class Item:
    """One request to send."""

    kind: str  # valid | ignored | duplicate | bad
    body: bytes
    event_id: str | None = None  # identity of a handled message
    call_id: str | None = None
    key: str = SECRET
    signed: bytes | None = None  # what the signature covers, when not the body (tampered)
    status: int = 0
    answer: str = ""
    latency: float = 0.0
    lag: float = 0.0
    sent_at: float = 0.0  # seconds after the first timed send


def _event_id(body: bytes) -> tuple[str | None, str | None]:
    message, raw = parse_envelope(body)
    if isinstance(message, EndOfCallReport | StatusUpdate):
        return build_event(message, raw, received_at=datetime.now(UTC)).event_id, message.call.id
    return None, None


def _other(call_id: str, kind: str, at: datetime) -> bytes:
    message: dict[str, Any] = {"timestamp": int(at.timestamp() * 1000), "type": kind}
    if kind == "transcript":
        message.update(role="user", transcriptType="partial", transcript="sí, claro")
    else:
        message.update(status="started", role="assistant", turn=1)
    message["call"] = {"id": call_id}
    return json.dumps({"message": message}).encode()


def workload(total: int, seed: int) -> list[Item]:
    """The requests, in sending order (deterministic for a seed)."""
    rng = random.Random(seed)
    n_bad = round(total * 0.05)
    n_dup = round(total * 0.10)
    n_unique = total - n_bad - n_dup
    start = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
    per_call: list[list[Item]] = []
    count = 0
    index = 0
    while count < n_unique:
        outcome = rng.choice(list(OUTCOMES))
        lead = f"+1555{index:07d}"
        at = start + timedelta(seconds=index)
        bodies = [json.dumps(b).encode() for b in call_sequence(lead, outcome, started_at=at)]
        items = []
        for body in bodies:
            event_id, call_id = _event_id(body)
            items.append(Item("valid", body, event_id, call_id))
        if rng.random() < 0.15:  # the report overtakes the last status update
            items[-1], items[-2] = items[-2], items[-1]
        if rng.random() < 0.4:
            call_id = items[0].call_id or ""
            kind = rng.choice(["speech-update", "transcript"])
            items.insert(rng.randrange(1, len(items)), Item("ignored", _other(call_id, kind, at)))
        items = items[: n_unique - count]
        per_call.append(items)
        count += len(items)
        index += 1
    # Interleave the calls, keeping each call's own order.
    cursors = [0] * len(per_call)
    pending = [i for i, items in enumerate(per_call) for _ in items]
    rng.shuffle(pending)
    order: list[Item] = []
    for call in pending:
        order.append(per_call[call][cursors[call]])
        cursors[call] += 1
    valid = [i for i, item in enumerate(order) if item.kind == "valid"]
    # Duplicates: a provider retry of an earlier message, some time later.
    inserts: list[tuple[int, Item]] = []
    for original in rng.sample(valid, n_dup):
        source = order[original]
        later = original + rng.randint(20, 400)
        inserts.append((later, Item("duplicate", source.body, source.event_id, source.call_id)))
    # Bad signatures: half tampered copies of valid messages, half new calls with the wrong key.
    for n in range(n_bad):
        if n % 2 == 0:
            source = order[rng.choice(valid)]
            body = source.body.replace(b'"lead_key": "+1555', b'"lead_key": "+1666')
            event_id, call_id = _event_id(body)
            # Signed as sent by the provider, then changed on the way.
            bad = Item("bad", body, event_id, call_id, signed=source.body)
        else:
            lead = f"+1777{n:07d}"
            body = json.dumps(
                call_sequence(lead, "recovered", started_at=start, attempt=n)[-1]
            ).encode()
            event_id, call_id = _event_id(body)
            bad = Item("bad", body, event_id, call_id, key=WRONG)
        inserts.append((rng.randrange(0, len(order)), bad))
    for position, item in sorted(inserts, key=lambda p: p[0], reverse=True):
        order.insert(min(position, len(order)), item)
    return order


def _headers(item: Item, stamp: str) -> dict[str, str]:
    """Content type and the HMAC headers (a bad item is signed wrongly)."""
    signed = item.signed if item.signed is not None else item.body
    return {
        "Content-Type": "application/json",
        TS_HEADER: stamp,
        SIG_HEADER: sign(signed, item.key, timestamp=stamp),
    }


def serve(
    port: int, emulator_host: str, prefix: str, workers: int, threads: int, log_path: Path
) -> Any:
    """functions-framework (gunicorn, gthread) serving the webhook on loopback."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "WORKERS": str(workers),
        "THREADS": str(threads),
        "GUNICORN_LOG_LEVEL": "error",
        "FIRESTORE_EMULATOR_HOST": emulator_host,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "LR_BACKEND": "gcp",
        "LR_PROJECT": PROJECT,
        "LR_FIRESTORE_COLLECTION_PREFIX": prefix,
        "LR_CALL_WEBHOOK_AUTH": "hmac",
        "LR_CALL_WEBHOOK_SECRET": SECRET,
        "LR_CALL_WEBHOOK_SIGNATURE_HEADER": SIG_HEADER,
        "LR_CALL_WEBHOOK_TIMESTAMP_HEADER": TS_HEADER,
        "LR_LOG_LEVEL": "WARNING",
    }
    binary = Path(sys.executable).with_name("functions-framework")
    command = [
        str(binary) if binary.exists() else "functions-framework",
        "--target=call_webhook",
        f"--source={ROOT / 'functions/call_webhook/main.py'}",
        "--signature-type=http",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def tail() -> str:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the function exited:\n{tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/")
            if conn.getresponse().status == 405:
                return process
        except OSError:
            time.sleep(0.05)
    os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError(f"the function did not answer within 30 s:\n{tail()}")


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bool] | None:
    """Send one HTTP/1.1 request; (status, body, server closes) or None if the connection had died."""
    writer.write(request)
    status_line = await reader.readline()
    if not status_line:
        return None
    status = int(status_line.split()[1])
    length, closing = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection":
            closing = value.strip().lower() == "close"
    return status, await reader.readexactly(length), closing


def send(items: list[Item], port: int, clients: int, rate: float) -> float:
    """Send every item from ``clients`` keep-alive connections (paced at ``rate``/s when > 0).

    One asyncio loop drives the connections: a client costs the machine a
    fraction of what a thread per client does, and the function under test
    shares these 2 cores with it. Returns the wall time.
    """
    cursor = iter(range(len(items)))

    async def client(began: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (index := next(cursor, None)) is not None:
            item = items[index]
            if rate > 0:
                due = began + index / rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                item.lag = max(0.0, time.perf_counter() - due)
            headers = _headers(item, str(int(time.time())))
            head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            head += f"Content-Length: {len(item.body)}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            request = head.encode() + b"\r\n" + item.body
            sent = time.perf_counter()
            answer = await _exchange(reader, writer, request)
            if answer is None:  # the server closed an idle connection: reconnect, resend
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                sent = time.perf_counter()
                answer = await _exchange(reader, writer, request)
                if answer is None:
                    raise ConnectionError("the function closed a fresh connection")
            item.latency = time.perf_counter() - sent
            item.sent_at = sent - began
            item.status, payload, closing = answer
            if item.status == 200:
                item.answer = json.loads(payload).get("status", "")
            if closing:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    async def run() -> float:
        began = time.perf_counter()
        await asyncio.gather(*(client(began) for _ in range(clients)))
        return time.perf_counter() - began

    return asyncio.run(run())


def stored_events(emulator_host: str, prefix: str) -> dict[str, set[str]]:
    """call id → its processed event ids, read back from the emulator."""
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator_host
    from google.cloud import firestore

    client = firestore.Client(project=PROJECT)
    calls = client.collection(f"{prefix}calls").select(["events"]).stream()
    return {s.id: set((s.to_dict() or {}).get("events") or []) for s in calls}


def group_cpu(pgid: int) -> float:
    """CPU seconds used so far by the live processes of a process group (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[2] is the process group (5th field overall)
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--rate", type=float, default=110.0, help="events/s (a little above the goal); 0: unpaced"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gunicorn worker processes (1: every message of a call meets the same cache)",
    )
    parser.add_argument("--threads", type=int, default=16, help="gthread threads per worker")
    parser.add_argument(
        "--warmup", type=int, default=1200, help="requests before timing (JIT, first GCs)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--java-options",
        default=None,
        help="JVM options of the Firestore emulator (default: the tests' start-up-tuned ones)",
    )
    parser.add_argument(
        "--trace", type=Path, help="write one CSV row per timed request (sent_s, latency_ms, kind)"
    )
    args = parser.parse_args(argv)

    items = workload(args.events + args.warmup, args.seed)
    warmup, timed = items[: args.warmup], items[args.warmup :]
    workdir = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    emulator = start(FIRESTORE, workdir, project=PROJECT, java_options=args.java_options)
    server = None
    try:
        emulator.wait_ready()
        prefix = f"bench{uuid.uuid4().hex[:8]}_"
        port = free_port()
        log_path = workdir / "function.log"
        server = serve(port, emulator.host_port, prefix, args.workers, args.threads, log_path)
        send(warmup, port, args.clients, rate=0)
        groups = {"function": server.pid, "emulator": emulator.process.pid}
        cpu_before = {name: group_cpu(pid) for name, pid in groups.items()}
        own_before = time.process_time()
        wall = send(timed, port, args.clients, args.rate)
        cpu = {name: group_cpu(pid) - cpu_before[name] for name, pid in groups.items()}
        cpu["clients"] = time.process_time() - own_before
        stored = stored_events(emulator.host_port, prefix)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    latencies = [i.latency * 1000 for i in timed]
    if args.trace:
        rows = [f"{i.sent_at:.4f},{i.latency * 1000:.2f},{i.kind},{i.status}" for i in timed]
        args.trace.write_text("sent_s,latency_ms,kind,status\n" + "\n".join(rows) + "\n")
    handled = [i.latency * 1000 for i in timed if i.kind in ("valid", "duplicate")]
    pacing = f"paced at {args.rate:g}/s" if args.rate else "unpaced"
    print(
        f"call-webhook: {len(timed)} events from {args.clients} clients ({pacing}), "
        f"gunicorn {args.workers} worker(s) x {args.threads} threads, Firestore emulator"
    )
    print(f"  throughput     {len(timed) / wall:8.1f} events/s  ({wall:.2f} s)")
    print(
        f"  latency all    p50 {statistics.median(latencies):6.1f} ms  "
        f"p99 {percentile(latencies, 99):6.1f} ms  max {max(latencies):6.1f} ms"
    )
    print(
        f"  latency stored p50 {statistics.median(handled):6.1f} ms  "
        f"p99 {percentile(handled, 99):6.1f} ms  (valid + duplicate handled messages)"
    )
    if args.rate:
        late = sum(1 for i in timed if i.lag > 0.010)
        print(f"  pacing         {late} sends started >10 ms late")
    per_event = ", ".join(f"{k} {v / len(timed) * 1000:.2f}" for k, v in cpu.items())
    print(f"  CPU ms/event   {per_event}  ({os.cpu_count()} cores; load {os.getloadavg()[0]:.1f})")
    kinds = Counter(i.kind for i in timed)
    mix = ", ".join(f"{k} {n} ({n / len(timed):.0%})" for k, n in sorted(kinds.items()))
    print(f"  timed mix      {mix}")
    answers = Counter((i.kind, i.status, i.answer) for i in items)
    print(f"  answers (with {len(warmup)} warm-up requests):")
    for (kind, status, answer), n in sorted(answers.items()):
        print(f"    {kind:<9} -> {status} {answer:<9} x {n}")

    # ---- checks ------------------------------------------------------------------------
    expected = {i.event_id for i in items if i.kind in ("valid", "duplicate") and i.event_id}
    got = set().union(*stored.values()) if stored else set()
    total_stored = sum(len(v) for v in stored.values())
    bad_ids = {i.event_id for i in items if i.kind == "bad"}
    bad_calls = {i.call_id for i in items if i.kind == "bad"} - {
        i.call_id for i in items if i.kind != "bad"
    }
    failures = []
    lost = expected - got
    if lost:
        failures.append(f"{len(lost)} valid events lost")
    if got - expected:
        failures.append(f"{len(got - expected)} stored events were never sent validly")
    if total_stored != len(got):
        failures.append(f"{total_stored - len(got)} events stored twice")
    if wrong := bad_ids & got:
        failures.append(f"{len(wrong)} bad-signature events stored")
    if leaked := bad_calls & set(stored):
        failures.append(f"{len(leaked)} calls created by bad-signature events")
    statuses = {
        "valid": {200},
        "ignored": {200},
        "duplicate": {200},
        "bad": {401},
    }
    unexpected = [i for i in items if i.status not in statuses[i.kind]]
    if (answered := sum(1 for i in items if i.answer == "duplicate")) != sum(
        1 for i in items if i.kind == "duplicate"
    ):
        failures.append(f"{answered} messages answered duplicate, not one per re-sent message")
    if unexpected:
        failures.append(f"{len(unexpected)} unexpected HTTP statuses, e.g. {unexpected[0].status}")
    dup_answers = sum(1 for i in items if i.answer == "duplicate")
    n_dups = sum(1 for i in items if i.kind == "duplicate")
    print(
        f"  stored         {len(stored)} calls, {total_stored} events = {len(expected)} unique "
        f"valid; {dup_answers} answered duplicate ({n_dups} re-sent); "
        f"{len(bad_ids & got)} bad stored"
    )
    throughput = len(timed) / wall
    p99 = percentile(latencies, 99)
    verdict = [
        f"throughput {throughput:.1f}/s {'>=' if throughput >= GOAL_EVENTS_S else '<'} "
        f"{GOAL_EVENTS_S}/s",
        f"p99 {p99:.1f} ms {'<' if p99 < GOAL_P99_MS else '>='} {GOAL_P99_MS} ms",
    ]
    met = throughput >= GOAL_EVENTS_S and p99 < GOAL_P99_MS
    if args.rate:
        print(f"  goals          {'met' if met else 'NOT met'}: " + ", ".join(verdict))
    else:  # every client always waits: latency is clients / throughput by construction
        print(
            f"  goals          capacity {throughput:.1f}/s (unpaced: judge the p99 on a paced run)"
        )
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("OK: zero lost, zero stored twice, zero wrongly stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
