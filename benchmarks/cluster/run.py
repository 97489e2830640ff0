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


TOPIC_DESCRIPTIONS = {
    "price": "the interest rate, fees or price of the loan is too high",
    "documents": "which documents to send, uploading them, or documents already sent",
    "disbursement": "when the money arrives, a wrong bank account, or only part paid out",
    "access": "cannot log in: password, SMS code, or the app crashes",
    "human": "wants to talk to a person, a callback, or makes a complaint",
    "payments": "due dates, paying early, or a late payment",
    "amount": "wants a larger amount, a second loan, or a different term",
    "cancel": "not interested, cancel the application, or delete my data",
    "eligibility": "application rejected, credit score, or self-employed applicants",
    "security": "suspicious messages, a loan they did not take, or account changes",
}
"""The one-line descriptions a manager would give for the generator's 10 topics."""
EXAMPLE_SEED = 99
"""Examples are drawn from messages of another seed (not among the clustered ones)."""
GOALS = {"wall_s": 15.0, "peak_rss_mib": 600.0, "ari_d1_subtopics": 0.55, "guided_ari": 0.9}


def topic_examples(per_topic: int) -> dict[str, list[str]]:
    """``per_topic`` generated messages per topic, its sub-topics taken in turn."""
    from benchmarks.cluster.messages import TOPICS

    by_subtopic: dict[str, list[str]] = {}
    for message in generate(3_000, EXAMPLE_SEED):
        by_subtopic.setdefault(message.subtopic, []).append(message.text)
    out = {}
    for topic, subs in TOPICS.items():
        keys = [f"{topic}.{sub}" for sub in subs]
        out[topic] = [by_subtopic[keys[i % len(keys)]][i // len(keys)] for i in range(per_topic)]
    return out


def _measure(method: str, n: int, seed: int, queue: Any) -> None:
    """Runs in a fresh process: a warm-up, then one timed measurement.

    ``method``: ``pca-d1`` / ``pca-d2`` / ``umap-d2`` (discovery at depth 1 or 2) or
    ``guided-0`` / ``guided-5`` (guided topics with 0 or 5 examples per topic).
    """
    messages = generate(n, seed)
    vectors = load_vectors(seed, n)
    topics = [m.topic for m in messages]
    subtopics = [m.subtopic for m in messages]
    if method.startswith("guided"):
        queue.put(_guided(method, vectors, topics))
        return
    from common.clustering.clusterers import build_clusterer
    from common.clustering.config import ClusteringConfig
    from common.clustering.recursive import fit_hierarchy, is_noise
    from common.clustering.reducers import build_reducer

    kind, depth = method.split("-d")
    reducer = (
        {"kind": "pca", "n_components": 50}
        if kind == "pca"
        else {"kind": "umap", "n_components": 5, "n_neighbors": 15, "metric": "cosine"}
    )
    config = ClusteringConfig.model_validate(
        {
            "reducer": reducer,
            "clusterer": CLUSTERER,
            "recursive_depth": int(depth),
            "random_state": 42,
        }
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

    level1, level2 = tree.level(1), tree.level(2)
    clustered1 = [i for i, label in enumerate(level1) if not is_noise(label)]
    clustered2 = [i for i, label in enumerate(level2) if not is_noise(label)]
    from sklearn.metrics import adjusted_rand_score

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
            "ari_d1_subtopics_clustered": _ari(subtopics, level1, clustered1),
            "ari_d2_subtopics": adjusted_rand_score(subtopics, level2),
            "ari_d2_subtopics_clustered": _ari(subtopics, level2, clustered2),
        }
    )


def _guided(method: str, vectors: np.ndarray, topics: list[str]) -> dict[str, Any]:
    from sklearn.metrics import adjusted_rand_score

    from common.clustering.config import ClusteringConfig, TopicConfig
    from common.clustering.embedders.local import LocalEmbedder
    from common.clustering.topics import assign_topics, topic_prototypes

    per_topic = int(method.split("-")[1])
    examples = topic_examples(per_topic) if per_topic else {}
    listed = [
        TopicConfig(name=name, description=text, examples=examples.get(name, []))
        for name, text in TOPIC_DESCRIPTIONS.items()
    ]
    config = ClusteringConfig.model_validate({"topics": [t.model_dump() for t in listed]})
    started = time.perf_counter()
    prototypes, owner = topic_prototypes(config.topics, LocalEmbedder(batch_size=64).embed)
    embed_s = time.perf_counter() - started
    baseline = _rss_mib()
    started = time.perf_counter()
    found = assign_topics(
        vectors,
        prototypes,
        owner,
        n_topics=len(listed),
        k=config.topic_clusters,
        min_similarity=config.topic_min_similarity,
        propagation=config.topic_propagation,
        random_state=42,
    )
    wall = time.perf_counter() - started
    names = found.names(config.topics)
    assigned = [i for i, name in enumerate(names) if name]
    return {
        "method": method,
        "n": len(names),
        "embed_topics_s": embed_s,
        "wall_s": wall,
        "rss_before_mib": baseline,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "assigned": len(assigned) / len(names),
        "guided_ari": adjusted_rand_score(topics, names),
        "guided_ari_assigned": _ari(topics, names, assigned),
        "guided_ari_all_mapped": _all_mapped_ari(config, vectors, prototypes, owner, topics),
    }


def _all_mapped_ari(
    config: Any, vectors: np.ndarray, prototypes: np.ndarray, owner: np.ndarray, topics: list[str]
) -> float:
    """ARI when no threshold applies (every small cluster mapped to its best topic)."""
    from sklearn.metrics import adjusted_rand_score

    from common.clustering.topics import assign_topics

    found = assign_topics(
        vectors,
        prototypes,
        owner,
        n_topics=len(config.topics),
        k=config.topic_clusters,
        min_similarity=-1.0,
        propagation=config.topic_propagation,
        random_state=42,
    )
    return float(adjusted_rand_score(topics, found.names(config.topics)))


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
    parser.add_argument("--methods", default="pca-d1,pca-d2,guided-0,guided-5")
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

    methods = args.methods.split(",")
    rows = [measure(method, n, args.seed) for method in methods]
    discovery = [r for r in rows if not r["method"].startswith("guided")]
    guided = [r for r in rows if r["method"].startswith("guided")]
    print(
        f"\nfit_hierarchy on {n} texts, HDBSCAN {CLUSTERER}, random_state 42, "
        f"fit on a seeded sample of <= 5,000 per level (clusterer.fit_sample)\n"
    )
    header = (
        f"{'method':<8} {'texts':>6} {'warm-up s':>9} {'wall s':>7} {'cpu s':>6} "
        f"{'reduce s':>8} {'hdbscan s':>9} {'peak RSS MiB':>12} {'+MiB':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in discovery:
        print(
            f"{r['method']:<8} {r['n']:>6} {r['warmup_s']:>9.1f} {r['wall_s']:>7.2f} "
            f"{r['cpu_s']:>6.1f} {r['reduce_s']:>8.2f} {r['cluster_s']:>9.2f} "
            f"{r['peak_rss_mib']:>12.0f} {r['peak_rss_mib'] - r['rss_before_mib']:>6.0f}"
        )
    header = (
        f"{'method':<8} {'k d1':>4} {'k d2':>4} {'noise d1':>8} {'noise d2':>8} "
        f"{'ARI d1/topics':>13} {'(clust.)':>8} {'ARI d1/sub':>10} {'(clust.)':>8} "
        f"{'ARI d2/sub':>10} {'(clust.)':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in discovery:
        print(
            f"{r['method']:<8} {r['clusters_d1']:>4} {r['clusters_d2']:>4} "
            f"{r['noise_d1']:>8.1%} {r['noise_d2']:>8.1%} {r['ari_d1_topics']:>13.3f} "
            f"{r['ari_d1_topics_clustered']:>8.3f} {r['ari_d1_subtopics']:>10.3f} "
            f"{r['ari_d1_subtopics_clustered']:>8.3f} {r['ari_d2_subtopics']:>10.3f} "
            f"{r['ari_d2_subtopics_clustered']:>8.3f}"
        )
    if guided:
        header = (
            f"{'guided':<9} {'wall s':>6} {'peak RSS MiB':>12} {'assigned':>8} "
            f"{'ARI/topics':>10} {'(assigned)':>10} {'(no threshold)':>14}"
        )
        print()
        print(header)
        print("-" * len(header))
        for r in guided:
            print(
                f"{r['method']:<9} {r['wall_s']:>6.2f} {r['peak_rss_mib']:>12.0f} "
                f"{r['assigned']:>8.1%} {r['guided_ari']:>10.3f} "
                f"{r['guided_ari_assigned']:>10.3f} {r['guided_ari_all_mapped']:>14.3f}"
            )
    print(
        "\nk: clusters at depth 1 / 2 (the generator has 10 topics of 3 sub-topics). ARI: "
        "adjusted Rand index against the generator's topics / sub-topics, noise counted as one "
        "label; (clust.): texts outside noise only. guided-0: the 10 topic names and one-line "
        "descriptions; guided-5: plus 5 example messages per topic (another seed, sub-topics "
        "in turn); unassigned texts count as one label."
    )
    print(f"\ngoals ({os.getloadavg()[0]:.2f} load average now):")
    by = {r["method"]: r for r in rows}
    checks = []
    if "pca-d2" in by:
        r = by["pca-d2"]
        checks += [
            ("depth-2 discovery wall <= 15 s", r["wall_s"], r["wall_s"] <= GOALS["wall_s"]),
            (
                "depth-2 discovery peak RSS <= 600 MiB",
                r["peak_rss_mib"],
                r["peak_rss_mib"] <= GOALS["peak_rss_mib"],
            ),
        ]
    for name in ("pca-d1", "pca-d2"):
        if name in by:
            value = by[name]["ari_d1_subtopics"]
            checks.append((f"{name}: depth-1 ARI vs sub-topics >= 0.55", value, value >= 0.55))
    if "guided-5" in by:
        value = by["guided-5"]["guided_ari"]
        checks.append(("guided ARI vs topics, 5 examples >= 0.9", value, value >= 0.9))
    if "guided-0" in by:
        value = by["guided-0"]["guided_ari"]
        checks.append(("guided ARI vs topics, names + descriptions (no goal)", value, None))
    for label, value, ok in checks:
        verdict = "" if ok is None else ("HOLDS" if ok else "FAILS")
        print(f"  {label:<55} {value:>8.3f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
