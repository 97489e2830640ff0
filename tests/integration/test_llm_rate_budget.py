"""One rate budget per key across processes: 4 OS processes stay within the key's R per minute.

Each process is a stand-in for a function instance: it summarizes shards on
two threads, each shard with its own analyzer and client (as the summarize
step builds them), against the fake OpenAI server, which allows R requests a
minute per key (429 with Retry-After beyond) and records every arrival. The
budget lives where a deployment keeps it: Firestore (the emulator). The
SQLite store shares the same algorithm and passes the same contract
(tests/integration/test_ratebudget_contract.py, with several processes too).

With a limiter per client (``LR_LLM_RATE_BUDGET=process``, the code before the
shared budget) the same processes send 8 x R and the test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.fake_llm import FakeLLM
from tests.support.fixtures import GcpTestEnv

REPO = Path(__file__).resolve().parents[2]

R = 600
"""Requests a minute the server allows the key (10 a second)."""
PROCESSES = 4
THREADS = 2
SHARDS = 5
ITEMS = 11
"""Conversations per shard: 4 x 2 x 5 x 11 = 440 calls, about 44 s at R."""
KEY = "sk-rate-budget-test-key-0001"
WINDOW_S = 10.0

META = """\
recipe_schema_version: 2
description: Shared rate budget test.
llm:
  provider: openai
  model: gpt-4o-mini
  max_output_tokens: 60
  limits: {concurrency: 8, rpm: %d, retries: 8, timeout_seconds: 30,
           backoff_initial_seconds: 0.2, backoff_max_seconds: 2}
  output_schema:
    reason: {type: category, values: [NO_REPLY, PRICE, OTHER]}
    score: {type: integer, minimum: 0, maximum: 100}
"""


def _recipe(root: Path) -> Path:
    recipe = root / "recipes" / "budget"
    recipe.mkdir(parents=True)
    (recipe / "meta.yml").write_text(META % R)
    (recipe / "prompt.txt").write_text("Why did this customer stall?\n\n{conversation}\n")
    (recipe / "conversations.sql").write_text(
        "SELECT * FROM `p.d.messages` WHERE lead_key IN UNNEST(@lead_keys)\n"
    )
    (recipe / "leads.sql").write_text("SELECT lead_key FROM `p.d.leads`\n")
    return root / "recipes"


def _windows(times: list[float], width: float) -> list[int]:
    """Arrivals in consecutive full windows of ``width`` seconds from the first arrival."""
    start, end = times[0], times[-1]
    counts = []
    k = 0
    while start + (k + 1) * width <= end:
        lo, hi = start + k * width, start + (k + 1) * width
        counts.append(sum(1 for t in times if lo <= t < hi))
        k += 1
    return counts


def _busiest(times: list[float], width: float) -> int:
    """Most arrivals in any window of ``width`` seconds."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_processes_share_one_budget_per_key(
    gcp_env: GcpTestEnv, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.limit_rate(R)
    fake_llm.latency_s = 0.05
    recipes = _recipe(tmp_path)
    env = {
        **os.environ,
        "LR_LLM_PROVIDER": "openai",
        "LR_OPENAI_BASE_URL": fake_llm.openai_base_url,
        "LR_OPENAI_API_KEYS": KEY,
        "LR_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }
    outs = [tmp_path / f"worker-{w}.json" for w in range(PROCESSES)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.rate_budget_worker",
                str(recipes),
                "budget",
                str(w),
                str(THREADS),
                str(SHARDS),
                str(ITEMS),
                str(out),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for w, out in enumerate(outs)
    ]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]
    reports = [json.loads(out.read_text()) for out in outs]

    shards = [s for r in reports for s in r["shards"]]
    expected = PROCESSES * THREADS * SHARDS * ITEMS
    arrivals = sorted(r.at for r in fake_llm.requests)
    throttled = sum(1 for r in fake_llm.requests if r.status == 429)
    duration = arrivals[-1] - arrivals[0]
    rate = (len(arrivals) - 1) / duration * 60
    windows = [c * 60 / WINDOW_S for c in _windows(arrivals, WINDOW_S)]
    busiest = _busiest(arrivals, WINDOW_S)
    leases = [
        {
            bucket: (stats["leases"], stats["empty_leases"])
            for bucket, stats in (r["budget"] or {}).items()
        }
        for r in reports
    ]
    print(
        f"\n{len(arrivals)} requests ({throttled} answered 429) in "
        f"{duration:.1f} s: {rate:.0f}/min against R={R}; per {WINDOW_S:g} s window: "
        f"{[round(w) for w in windows]}/min; busiest {WINDOW_S:g} s: {busiest}; "
        f"(granted, empty) leases per process: {leases}"
    )
    # The aggregate stays within R (5%) over the whole run...
    assert rate <= R * 1.05
    # ...and within the documented bound in any window (burst 1 s + lease lifetime 1 s)...
    assert busiest <= R / 60 * (WINDOW_S + 2) + 1
    # ...and above 0.8 R while work remains...
    assert windows and min(windows) >= 0.8 * R

    # ...and zero conversations fail.
    assert [r["errors"] for r in reports] == [[]] * PROCESSES
    assert sum(s["conversations"] for s in shards) == expected
    assert sum(s["answered"] for s in shards) == expected, [s["reasons"] for s in shards]
    assert len(arrivals) == expected + throttled  # every 429 was retried, nothing else was sent
