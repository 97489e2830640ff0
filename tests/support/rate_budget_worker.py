"""One "function instance" of the shared rate budget test: summarizes shards, reports as JSON.

Run as ``python -m tests.support.rate_budget_worker RECIPES_DIR RECIPE WORKER THREADS SHARDS
ITEMS OUT``. Settings come from the environment, as in a deployed function
(``LR_BACKEND``, ``LR_LLM_PROVIDER=openai``, ``LR_OPENAI_BASE_URL``,
``LR_OPENAI_API_KEYS``...). Each of ``THREADS`` threads summarizes ``SHARDS``
shards of ``ITEMS`` conversations one after another; every shard builds its
own analyzer and client, as the summarize step does, with no summary cache so
every conversation is a call.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _shard(recipe: Any, settings: Any, worker: int, thread: int, shard: int, items: int) -> dict:
    from common.llm.analysis import Item
    from common.llm.factory import build_analyzer

    analyzer = build_analyzer(recipe, settings, None)
    batch = [
        Item(
            lead_key=f"w{worker}-t{thread}-s{shard}-c{i}",
            fields={},
            digest=f"[2026-11-20 14:{i % 60:02d}] user: conversation {worker}.{thread}.{shard}.{i}",
        )
        for i in range(items)
    ]
    outcomes, _ = analyzer.run(batch)
    return {
        "conversations": len(outcomes),
        "answered": sum(1 for o in outcomes if o.answer is not None),
        "reasons": [o.reason for o in outcomes if o.reason],
        "client": analyzer.client.stats.as_dict(),
    }


def main(argv: list[str]) -> None:
    """Summarize the shards, then write what happened to ``OUT``."""
    recipes_dir, name, worker, threads, shards, items, out = argv
    from common.recipe import load_recipe
    from common.settings import get_settings

    settings = get_settings()
    recipe = load_recipe(name, Path(recipes_dir))
    results: list[dict] = []
    errors: list[str] = []
    started = time.time()

    def run(thread: int) -> None:
        try:
            for shard in range(int(shards)):
                results.append(_shard(recipe, settings, int(worker), thread, shard, int(items)))
        except Exception as err:  # reported to the test, which fails on it
            errors.append(f"{type(err).__name__}: {err}")

    pool = [threading.Thread(target=run, args=(t,)) for t in range(int(threads))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    try:
        from common.llm.budget import budget_for
    except ImportError:  # the code before the shared budget (to show the test failing on it)
        budget = None
    else:
        budget = budget_for(settings)
    Path(out).write_text(
        json.dumps(
            {
                "started": started,
                "finished": time.time(),
                "shards": results,
                "errors": errors,
                "budget": budget.stats() if budget is not None else None,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
