"""Summarize throughput against a rate limit, then the cached re-run on Firestore.

Reference (issue): 2,000 conversations against the test LLM server answering in
200 ms, with the recipe limited to 6,000 requests/minute. Prints the achieved
requests/minute and its ratio to the limit (goal >= 0.9) with zero failed
conversations; then the same 2,000 conversations again, every answer served
from the summary cache on the Firestore emulator (goal <= 3 s).

Usage: python benchmarks/summarize/run.py [--conversations 2000] [--rpm 6000] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from common.llm.analysis import Item  # noqa: E402
from common.llm.config import LLMConfig  # noqa: E402
from common.llm.factory import build_analyzer  # noqa: E402
from common.recipe import Recipe  # noqa: E402
from common.settings import Settings  # noqa: E402
from tests.support import emulators  # noqa: E402
from tests.support.fake_llm import FakeLLM  # noqa: E402

PROMPT = "Say why this customer stalled.\n\n{conversation}"


def _config(rpm: int, concurrency: int) -> LLMConfig:
    return LLMConfig.model_validate(
        {
            "provider": "openai",
            "limits": {"concurrency": concurrency, "rpm": rpm, "retries": 3, "timeout_seconds": 10},
            "output_schema": {
                "reason": {"type": "category", "values": ["NO_REPLY", "PRICE", "OTHER"]},
                "score": {"type": "integer", "minimum": 0, "maximum": 100},
                "summary": {"type": "string", "max_length": 120},
            },
        }
    )


def _items(n: int) -> list[Item]:
    return [
        Item(
            lead_key=f"lead-{i:05d}",
            fields={},
            digest=f"[2026-11-20 10:{i % 60:02d}] bot: Hola, tu oferta #{i} está lista\n"
            f"[2026-11-20 11:{i % 60:02d}] user: lo pienso, gracias ({i})",
        )
        for i in range(n)
    ]


def _serve(latency: float, port_out: Any, stop: Any) -> None:
    """Run the test LLM server in its own process (so it does not share our GIL)."""
    server = FakeLLM().start()
    server.latency_s = latency
    port_out.put((server.openai_base_url, 0))
    stop.wait()
    port_out.put((server.openai_base_url, server.count))
    server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--rpm", type=int, default=6000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

    from common.adapters.gcp.firestore_cache import FirestoreSummaryCache

    workdir = Path(tempfile.mkdtemp(prefix="bench-summarize-"))
    firestore = emulators.start("firestore", workdir, project="lr-bench").wait_ready()
    context = multiprocessing.get_context("spawn")
    port_out, stop = context.Queue(), context.Event()
    process = context.Process(target=_serve, args=(args.latency, port_out, stop), daemon=True)
    process.start()
    base_url, _ = port_out.get(timeout=60)
    try:
        import os

        os.environ.update(firestore.env)
        settings = Settings(
            llm_provider="openai",
            openai_base_url=base_url,
            openai_api_keys="sk-bench-aaaaaaaaaaaaaaaaaaaaaaaa",  # type: ignore[arg-type]
        )
        config = _config(args.rpm, args.concurrency)
        recipe = Recipe(
            name="bench",
            path=workdir,
            meta=None,  # type: ignore[arg-type]
            conversations_sql="",
            leads_sql=None,
            leads_csv=None,
            prompt=PROMPT,
            lead_columns=None,
            llm=config,
        )
        cache = FirestoreSummaryCache("lr-bench", prefix=f"bench{int(time.time())}_")
        items = _items(args.conversations)

        analyzer = build_analyzer(recipe, settings, cache)
        started = time.perf_counter()
        outcomes, stats = analyzer.run(items)
        wall = time.perf_counter() - started
        failed = sum(1 for o in outcomes if o.answer is None)
        sent = analyzer.client.stats.attempts
        achieved = sent / wall * 60
        print(f"conversations        {args.conversations}")
        print(
            f"server latency       {args.latency * 1000:.0f} ms, limit {args.rpm} requests/min, concurrency {args.concurrency}"
        )
        print(
            f"requests             {sent} in {wall:.2f} s (includes cache writes; server in its own process)"
        )
        print(
            f"achieved             {achieved:.0f} requests/min, ratio to limit {achieved / args.rpm:.3f} (goal >= 0.9)"
        )
        print(f"failed conversations {failed} (goal 0)")
        client = analyzer.client.stats.as_dict()
        print(
            f"latency p50/p95      {client.get('latency_p50_s')} s / {client.get('latency_p95_s')} s; retries {client['retries']}"
        )

        again = build_analyzer(recipe, settings, cache)
        started = time.perf_counter()
        cached_outcomes, cached_stats = again.run(items)
        cached_wall = time.perf_counter() - started
        print(
            f"cached re-run        {cached_stats.cache_hits} hits, {again.client.stats.attempts} LLM calls, "
            f"{cached_wall:.2f} s on the Firestore emulator (goal <= 3 s)"
        )
        stop.set()
        _, served = port_out.get(timeout=60)
        print(f"server counted       {served} requests (client sent {sent})")
        ok = (
            failed == 0
            and again.client.stats.attempts == 0
            and cached_stats.cache_hits == args.conversations
            and served <= sent  # attempts the server never saw were retried
        )
        return 0 if ok else 1
    finally:
        stop.set()
        process.join(timeout=10)
        firestore.stop()


if __name__ == "__main__":
    sys.exit(main())
