"""Benchmark: recursive clustering of 50,000 customer messages, PCA vs UMAP, depth 2.

    python benchmarks/cluster/run.py [--texts 50000] [--embed-budget-s 1200]
        [--methods pca,umap] [--min-texts 10000]

1. Generates the messages (`messages.py`: 10 topics x 3 sub-topics, seeded).
2. Embeds them with the local model (all-MiniLM-L6-v2 int8 on onnxruntime),
   once: vectors are kept as ``.npy`` chunks under ``benchmarks/cluster/.cache/``
   (git-ignored) and later runs reuse them. Embedding stops when
   ``--embed-budget-s`` is spent; a later run continues where it stopped. If
   fewer than ``--texts`` vectors exist then, the benchmark runs on as many as
   there are (at least ``--min-texts``) and says so.
3. For each method, in a fresh process (so peak memory is its own): depth-2
   `fit_hierarchy` with PCA(50) or UMAP(5) + HDBSCAN, after a small warm-up fit
   that pays imports and numba's JIT (timed apart). Prints wall time, peak RSS
   and the adjusted Rand index of the depth-1 labels against the topics and of
   the depth-1 and depth-2 labels against the sub-topics (noise counted as one label, and
   on clustered texts only).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.cluster.messages import generate  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
CHUNK = 2_000
SEED = 7
CLUSTERER = {"min_cluster_size": 50, "min_cluster_pct": 0.02, "min_samples": 15}
"""Both methods: clusters of at least 2 % of their level (1,000 of 50,000 at the top)."""


def _chunks_dir(seed: int) -> Path:
    return CACHE / f"minilm-int8-seed{seed}"


def load_vectors(seed: int, n: int) -> np.ndarray:
    """The cached vectors of the first messages, up to ``n`` (contiguous chunks only)."""
    parts = []
    for start in range(0, n, CHUNK):
        path = _chunks_dir(seed) / f"{start:07d}.npy"
        if not path.exists():
            break
        parts.append(np.load(path))
    if not parts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.vstack(parts)[:n]


def embed_missing(texts: list[str], seed: int, budget_s: float) -> dict[str, Any]:
    """Embed the chunks not cached yet, in order, until ``budget_s`` is spent."""
    from common.clustering.embedders.local import LocalEmbedder

    folder = _chunks_dir(seed)
    folder.mkdir(parents=True, exist_ok=True)
    embedder = LocalEmbedder(batch_size=64)
    started = time.perf_counter()
    done = 0
    for start in range(0, len(texts), CHUNK):
        path = folder / f"{start:07d}.npy"
        if path.exists():
            continue
        if time.perf_counter() - started > budget_s:
            break
        vectors = embedder.embed(texts[start : start + CHUNK])
        np.save(path, vectors.astype(np.float32))
        done += min(CHUNK, len(texts) - start)
        rate = done / (time.perf_counter() - started)
        print(f"  embedded {start + CHUNK:>6} / {len(texts)}  ({rate:.0f} texts/s)", flush=True)
    seconds = time.perf_counter() - started
    return {"embedded": done, "seconds": seconds, "rate": done / seconds if done else 0.0}


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _measure(method: str, n: int, seed: int, queue: Any) -> None:
    """Runs in a fresh process: warm-up, then the timed depth-2 fit."""
    from sklearn.metrics import adjusted_rand_score

    from common.clustering.clusterers import build_clusterer
    from common.clustering.config import ClusteringConfig
    from common.clustering.recursive import fit_hierarchy, is_noise
    from common.clustering.reducers import build_reducer

    messages = generate(n, seed)
    vectors = load_vectors(seed, n)
    reducer = (
        {"kind": "pca", "n_components": 50}
        if method == "pca"
        else {"kind": "umap", "n_components": 5, "n_neighbors": 15, "metric": "cosine"}
    )
    config = ClusteringConfig.model_validate(
        {"reducer": reducer, "clusterer": CLUSTERER, "recursive_depth": 2, "random_state": 42}
    )
    started = time.perf_counter()
    warm = ClusteringConfig.model_validate({**config.model_dump(), "recursive_depth": 1})
    fit_hierarchy(vectors[:600], warm, build_reducer(warm.reducer), build_clusterer(warm.clusterer))
    warm_s = time.perf_counter() - started

    baseline = _rss_mib()
    started = time.perf_counter()
    cpu = time.process_time()
    tree = fit_hierarchy(
        vectors, config, build_reducer(config.reducer), build_clusterer(config.clusterer)
    )
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    topics = [m.topic for m in messages]
    subtopics = [m.subtopic for m in messages]
    level1, level2 = tree.level(1), tree.level(2)
    clustered1 = [i for i, label in enumerate(level1) if not is_noise(label)]
    clustered2 = [i for i, label in enumerate(level2) if not is_noise(label)]
    queue.put(
        {
            "method": method,
            "n": n,
            "warmup_s": warm_s,
            "wall_s": wall,
            "cpu_s": cpu,
            "reduce_s": tree.timings["reduce_s"],
            "cluster_s": tree.timings["cluster_s"],
            "rss_before_mib": baseline,
            "peak_rss_mib": peak,
            "clusters_d1": sum(1 for x in tree.nodes if x.depth == 1 and not x.noise),
            "clusters_d2": sum(1 for x in tree.nodes if x.depth == 2 and not x.noise),
            "noise_d1": 1 - len(clustered1) / n,
            "noise_d2": 1 - len(clustered2) / n,
            "ari_d1_topics": adjusted_rand_score(topics, level1),
            "ari_d1_topics_clustered": _ari(topics, level1, clustered1),
            "ari_d1_subtopics": adjusted_rand_score(subtopics, level1),
            "ari_d2_subtopics": adjusted_rand_score(subtopics, level2),
            "ari_d2_subtopics_clustered": _ari(subtopics, level2, clustered2),
        }
    )


def _ari(truth: list[str], labels: list[str], rows: list[int]) -> float:
    from sklearn.metrics import adjusted_rand_score

    if not rows:
        return float("nan")
    return float(adjusted_rand_score([truth[i] for i in rows], [labels[i] for i in rows]))


def measure(method: str, n: int, seed: int) -> dict[str, Any]:
    """`_measure` in a fresh (spawned) process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(method, n, seed, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=50_000)
    parser.add_argument("--embed-budget-s", type=float, default=1200.0)
    parser.add_argument("--methods", default="pca,umap")
    parser.add_argument("--min-texts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)

    messages = generate(args.texts, args.seed)
    texts = [m.text for m in messages]
    print(
        f"{len(texts)} generated messages ({len(set(texts))} distinct), "
        f"{len({m.topic for m in messages})} topics, {len({m.subtopic for m in messages})} sub-topics"
    )
    cached = load_vectors(args.seed, args.texts).shape[0]
    if cached < args.texts:
        print(f"{cached} vectors cached; embedding the rest (budget {args.embed_budget_s:.0f} s)")
        stats = embed_missing(texts, args.seed, args.embed_budget_s)
        if stats["embedded"]:
            print(
                f"embedded {stats['embedded']} texts in {stats['seconds']:.0f} s: "
                f"{stats['rate']:.0f} texts/s on {os.cpu_count()} cores "
                "(onnxruntime, all-MiniLM-L6-v2 int8)"
            )
    n = load_vectors(args.seed, args.texts).shape[0]
    if n < args.texts:
        print(
            f"NOTE: only {n} of {args.texts} texts are embedded (the budget ran out); the "
            f"figures below are for {n} texts. Run again to embed more."
        )
    if n < args.min_texts:
        print(f"fewer than {args.min_texts} vectors: not benchmarking")
        return 1

    rows = [measure(method, n, args.seed) for method in args.methods.split(",")]
    print(
        f"\ndepth-2 fit_hierarchy on {n} texts, HDBSCAN {CLUSTERER}, random_state 42; "
        f"PCA(50) vs UMAP(5, n_neighbors 15, cosine)\n"
    )
    header = (
        f"{'method':<6} {'texts':>6} {'warm-up s':>9} {'wall s':>7} {'cpu s':>6} {'reduce s':>8} "
        f"{'hdbscan s':>9} {'peak RSS MiB':>12} {'+MiB':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['method']:<6} {r['n']:>6} {r['warmup_s']:>9.1f} {r['wall_s']:>7.1f} "
            f"{r['cpu_s']:>6.1f} {r['reduce_s']:>8.1f} {r['cluster_s']:>9.1f} "
            f"{r['peak_rss_mib']:>12.0f} {r['peak_rss_mib'] - r['rss_before_mib']:>6.0f}"
        )
    header = (
        f"{'method':<6} {'k d1':>4} {'k d2':>4} {'noise d1':>8} {'noise d2':>8} "
        f"{'ARI d1/topics':>13} {'(clustered)':>11} {'ARI d1/subtopics':>16} "
        f"{'ARI d2/subtopics':>16} {'(clustered)':>11}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['method']:<6} {r['clusters_d1']:>4} {r['clusters_d2']:>4} "
            f"{r['noise_d1']:>8.1%} {r['noise_d2']:>8.1%} {r['ari_d1_topics']:>13.3f} "
            f"{r['ari_d1_topics_clustered']:>11.3f} {r['ari_d1_subtopics']:>16.3f} "
            f"{r['ari_d2_subtopics']:>16.3f} {r['ari_d2_subtopics_clustered']:>11.3f}"
        )
    print(
        "\nk: clusters found at depth 1 / 2 (the generator has 10 topics of 3 sub-topics). "
        "ARI: adjusted Rand index of the depth-1 / depth-2 labels against the generator's "
        "topics / sub-topics, noise counted as one label; (clustered): texts outside noise "
        "only. +MiB: peak RSS above the RSS before the fit. warm-up: a 600-text fit first, "
        "paying imports and numba's JIT compilation (UMAP)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
