"""One run's clustering, from texts to named clusters, independent of the step machinery.

`run_clustering` embeds the texts through the cache, then either fits the
hierarchy (and stores it) or assigns the texts to the stored clusters
(``refit: incremental``), then finds keywords and representatives, names the
clusters and tags the texts. `common.clustering.outputs` writes what it returns.

Over 400 lines on purpose: it is the order of the stages (embed, topics, language,
fit or assign, describe, name, tag) and their wiring; each stage's algorithm lives in
its own module (`recursive`, `topics`, `language`, `assign`, `naming`, `tagging`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from common.clustering.assign import (
    assign,
    build_state,
    load_state_versioned,
    refit_reason,
    save_state,
)
from common.clustering.cache import embed_texts
from common.clustering.config import ClusteringConfig
from common.clustering.language import centre_by_language, detect_all, language_ari
from common.clustering.naming import (
    NodeText,
    build_namer,
    class_keywords,
    fallback_names,
    name_with_llm,
    representatives,
)
from common.clustering.recursive import (
    ClusterNode,
    depth_of,
    fit_hierarchy,
    is_noise,
    sort_key,
)
from common.ports.blobstore import GenerationMismatch

if TYPE_CHECKING:
    from common.clustering.embedders import Embedder
    from common.ports import BlobStore
    from common.ports.summarycache import SummaryCache
    from common.recipe import Recipe
    from common.settings import Settings

log = logging.getLogger(__name__)

NEW_THEME_CLUSTERS = 10
"""Leaf clusters listed in the stats (and the reports) as the largest new themes."""


@dataclass
class ClusterSummary:
    """One row of ``cluster_analysis.csv``."""

    label: str
    parent: str
    depth: int
    size: int
    share: float
    """Of every clustered text."""
    share_of_parent: float
    noise: bool
    name: str
    description: str
    keywords: list[str]
    samples: list[str]
    members: np.ndarray = field(repr=False)
    new_theme_size: int | None = None
    """Its texts without a guided topic (None: the recipe lists no topics)."""


@dataclass
class ClusterRun:
    """Everything one run's clustering produced."""

    lead_keys: list[str]
    texts: list[str]
    vectors: np.ndarray = field(repr=False)
    leaf: list[str] = field(default_factory=list)
    depth: int = 1
    clusters: list[ClusterSummary] = field(default_factory=list)
    tags: list[str] | None = None
    topics: list[str] | None = None
    """Each text's guided topic ("": none, a new theme), when the recipe lists topics."""
    topic_scores: list[float] | None = None
    mode: Literal["fit", "assign"] = "fit"
    refit_reason: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def names(self) -> dict[str, str]:
        """Label → name."""
        return {c.label: c.name for c in self.clusters}

    def level(self, depth: int) -> list[str]:
        """Each text's label at ``depth``."""
        from common.clustering.recursive import at_depth

        return [at_depth(label, depth) for label in self.leaf]


def prepare_texts(texts: Sequence[str], max_chars: int) -> list[str]:
    """Whitespace collapsed and cut to ``max_chars`` (what is embedded and cached)."""
    out = []
    for text in texts:
        clean = " ".join(str(text).split())
        out.append(clean[:max_chars])
    return out


def nodes_from_leaves(leaf: Sequence[str], depth: int) -> dict[str, np.ndarray]:
    """Every cluster/noise label of the tree implied by ``leaf`` → its members' rows."""
    members: dict[str, list[int]] = {}
    for i, label in enumerate(leaf):
        parts = label.split(".")
        for d in range(1, min(len(parts) - 1, depth) + 1):
            members.setdefault(".".join(parts[: d + 1]), []).append(i)
    return {k: np.asarray(v, dtype=np.int64) for k, v in members.items()}


def run_clustering(
    *,
    recipe: Recipe,
    config: ClusteringConfig,
    lead_keys: Sequence[str],
    texts: Sequence[str],
    settings: Settings,
    blobs: BlobStore,
    cache: SummaryCache | None,
    run_id: str,
    now: datetime,
    read_cache: bool = True,
    force_refit: bool = False,
    embedder: Embedder | None = None,
    previous_topics: Mapping[str, Any] | None = None,
) -> ClusterRun:
    """Embed, fit or assign, describe, name and tag one run's texts.

    Args:
        recipe: The recipe (its name keys the stored model; its `llm` section may name clusters).
        config: The recipe's clustering section.
        lead_keys: One key per text.
        texts: The texts (already chosen per `config.text`; empty ones filtered out).
        settings: Provider keys, endpoints, cache switches.
        blobs: Where the fitted model is read and stored.
        cache: Embeddings and LLM answers cache (None: none).
        run_id: The run (recorded in the stored model).
        now: The run's time (refit schedule, model timestamp).
        read_cache: False: embed and ask the LLM again (still writing the cache).
        force_refit: Fit from scratch even when ``refit: incremental`` could assign.
        embedder: Use this embedder instead of building one from the config (tests).
        previous_topics: The previous run's ``stats["topics"]`` with its ``run_id``: the
            topic sizes' change is measured against it (None: a first run, no change).

    Returns:
        The labelled, named texts and the clusters' summaries.
    """
    from common.clustering.clusterers import build_clusterer
    from common.clustering.embedders import build_embedder
    from common.clustering.reducers import build_reducer

    timings: dict[str, float] = {}
    prepared = prepare_texts(texts, config.embedding.max_chars)
    run = ClusterRun(
        lead_keys=list(lead_keys),
        texts=prepared,
        vectors=np.zeros((0, 0), dtype=np.float32),
        depth=config.recursive_depth,
    )
    embedder = embedder or build_embedder(config.embedding, settings)

    started = time.perf_counter()
    vectors, embed_stats = embed_texts(
        prepared,
        embed=lambda batch: embedder.embed(batch),
        provider=embedder.provider,
        model=embedder.model,
        dimensions=embedder.dimensions,
        cache=cache,
        ttl=timedelta(days=config.embedding.cache_ttl_days),
        read_cache=read_cache,
    )
    embed_stats.provider = embedder.stats()
    timings["embed_s"] = time.perf_counter() - started
    run.vectors = vectors
    run.stats["embedding"] = embed_stats.as_dict()
    if not prepared:
        run.stats["timings"] = timings
        return run

    languages = detect_all(prepared)
    topic_vectors = vectors
    if config.language_centring:
        # Guided topics compare small clusters with bilingual prototypes: centring is enough
        # there (projecting the language direction out too moved 157 of the demo's 343
        # "price and terms" texts to new themes); discovery needs the projection.
        topic_vectors = centre_by_language(vectors, languages, project=False)
        vectors = run.vectors = centre_by_language(vectors, languages)

    if config.topics:
        started = time.perf_counter()
        _guided_topics(run, topic_vectors, config, embedder, cache, read_cache)
        record_topic_change(run.stats["topics"], previous_topics)
        timings["topics_s"] = time.perf_counter() - started

    state, generation = load_state_versioned(blobs, recipe.name)
    reason = refit_reason(state, config, blobs, recipe.name, now=now, force=force_refit)
    started = time.perf_counter()
    if reason is None and state is not None:
        run.mode, run.refit_reason = "assign", None
        run.leaf = assign(vectors, state)
    else:
        run.mode, run.refit_reason = "fit", reason
        hierarchy = fit_hierarchy(
            vectors, config, build_reducer(config.reducer), build_clusterer(config.clusterer)
        )
        run.leaf = hierarchy.leaf
        timings.update({k: round(v, 3) for k, v in hierarchy.timings.items() if k.endswith("_s")})
    timings[f"{run.mode}_s"] = time.perf_counter() - started
    run.stats["language"] = {
        "texts": dict(sorted(Counter(languages).items())),
        "centred": config.language_centring,
        "ari_depth1": round(language_ari(run.level(1), languages), 4),
    }

    started = time.perf_counter()
    members = nodes_from_leaves(run.leaf, config.recursive_depth)
    keywords: dict[str, list[str]] = {}
    for d in range(1, config.recursive_depth + 1):
        level = run.level(d)
        found = class_keywords(prepared, level, config.naming.keywords)
        keywords.update({k: v for k, v in found.items() if depth_of(k) == d})
    nodes = [
        NodeText(
            label=label,
            parent=label.rsplit(".", 1)[0],
            depth=depth_of(label),
            size=int(rows.size),
            noise=is_noise(label),
            keywords=keywords.get(label, []),
            samples=representatives(
                vectors, rows, prepared, config.naming.samples, config.naming.sample_chars
            ),
        )
        for label, rows in sorted(members.items(), key=lambda kv: sort_key(kv[0]))
    ]
    timings["describe_s"] = time.perf_counter() - started

    started = time.perf_counter()
    names = fallback_names(nodes)
    analyzer = None
    if run.mode == "assign" and state is not None:
        stored = {c.label: (c.name, c.description) for c in state.clusters if c.name}
        names.update({k: v for k, v in stored.items() if k in names})
    elif config.name_with_llm:
        analyzer = build_namer(recipe, config, settings, cache, read_cache=read_cache)
        answered, llm_stats = name_with_llm(analyzer, nodes, len(prepared))
        names.update(answered)
        run.stats["naming_llm"] = llm_stats
    timings["name_s"] = time.perf_counter() - started

    total = len(prepared)
    sizes = {n.label: n.size for n in nodes}
    run.clusters = [
        ClusterSummary(
            label=n.label,
            parent=n.parent,
            depth=n.depth,
            size=n.size,
            share=round(n.size / total, 4),
            share_of_parent=round(n.size / (sizes.get(n.parent) or total), 4),
            noise=n.noise,
            name=names[n.label][0],
            description=names[n.label][1],
            keywords=n.keywords,
            samples=n.samples,
            members=members[n.label],
        )
        for n in nodes
    ]
    if run.topics is not None:
        unassigned = np.asarray([not t for t in run.topics], dtype=bool)
        for c in run.clusters:
            c.new_theme_size = int(unassigned[c.members].sum())
        run.stats["topics"]["new_theme_clusters"] = new_theme_clusters(run)

    if config.tags:
        started = time.perf_counter()
        run.tags = _tags(run, config, recipe, settings, cache, embedder, analyzer, read_cache)
        timings["tag_s"] = time.perf_counter() - started

    if run.mode == "fit":
        state = build_state(
            recipe=recipe.name,
            run_id=run_id,
            config=config,
            nodes=[
                ClusterNode(c.label, c.parent, c.depth, c.members, noise=c.noise)
                for c in run.clusters
            ],
            vectors=vectors,
            names={c.label: (c.name, c.description) for c in run.clusters},
            keywords={c.label: c.keywords for c in run.clusters},
            now=now,
        )
        try:
            run.stats["model"] = save_state(blobs, state, if_generation_match=generation)
        except GenerationMismatch:
            # An overlapping run stored its model since this one read: it wins whole;
            # this run keeps its own labels and leaves the stored model alone.
            run.stats["model_conflict"] = True
            log.warning("cluster model of %s changed during the fit: not replaced", recipe.name)
    run.stats["timings"] = {k: round(v, 3) for k, v in timings.items()}
    run.stats["mode"] = run.mode
    if run.refit_reason:
        run.stats["refit_reason"] = run.refit_reason
    top = [c for c in run.clusters if c.depth == 1]
    run.stats["clusters"] = {
        f"depth{d}": sum(1 for c in run.clusters if c.depth == d and not c.noise)
        for d in range(1, config.recursive_depth + 1)
    }
    run.stats["noise_share"] = round(
        sum(c.size for c in top if c.noise) / total if total else 0.0, 4
    )
    log.info(
        "clustered %d texts (%s): %s",
        total,
        run.mode,
        run.stats["clusters"],
        extra={"fields": {"clustering": run.stats}},
    )
    return run


def record_topic_change(topics: dict[str, Any], previous: Mapping[str, Any] | None) -> None:
    """Add to this run's topic stats the previous run's sizes and the change since (in place).

    A topic the previous run did not list counts from 0; one it listed that this run
    does not is left out (the recipe's list changed).
    """
    if not previous or "sizes" not in previous:
        return
    before = {str(k): int(v) for k, v in dict(previous["sizes"]).items()}
    topics["previous_run"] = str(previous.get("run_id", ""))
    topics["previous_sizes"] = {name: before.get(name, 0) for name in topics["sizes"]}
    topics["change"] = {name: size - before.get(name, 0) for name, size in topics["sizes"].items()}
    topics["previous_new_themes"] = int(previous.get("new_themes", 0))
    topics["new_themes_change"] = topics["new_themes"] - topics["previous_new_themes"]


def new_theme_clusters(run: ClusterRun) -> list[dict[str, Any]]:
    """The leaf clusters holding the most texts without a guided topic, largest first."""
    counts: Counter[str] = Counter(
        label for label, topic in zip(run.leaf, run.topics or [], strict=True) if not topic
    )
    by_label = {c.label: c for c in run.clusters}
    ranked = sorted(
        (label for label in counts if label in by_label and not by_label[label].noise),
        key=lambda label: (-counts[label], sort_key(label)),
    )
    found = [
        {
            "label": label,
            "name": by_label[label].name,
            "size": counts[label],
            "of": by_label[label].size,
        }
        for label in ranked
    ]
    return found[:NEW_THEME_CLUSTERS]


def _guided_topics(
    run: ClusterRun,
    vectors: np.ndarray,
    config: ClusteringConfig,
    embedder: Embedder,
    cache: SummaryCache | None,
    read_cache: bool,
) -> None:
    """Each text's topic among ``config.topics`` and its score (`common.clustering.topics`)."""
    from common.clustering.topics import assign_topics, topic_prototypes

    embed = _cached_embed(embedder, cache, config, read_cache=read_cache)

    prototypes, owner = topic_prototypes(config.topics, embed)
    found = assign_topics(
        vectors,
        prototypes,
        owner,
        n_topics=len(config.topics),
        k=config.topic_clusters,
        min_similarity=config.topic_min_similarity,
        propagation=config.topic_propagation,
        random_state=config.random_state,
    )
    run.topics = found.names(config.topics)
    run.topic_scores = [float(x) for x in found.score]
    sizes = {t.name: 0 for t in config.topics}
    for name in run.topics:
        if name:
            sizes[name] += 1
    run.stats["topics"] = {"sizes": sizes, "new_themes": run.topics.count("")}


def _cached_embed(
    embedder: Embedder, cache: SummaryCache | None, config: ClusteringConfig, *, read_cache: bool
) -> Callable[[list[str]], np.ndarray]:
    """Embed a few extra texts (topic descriptions, tags) through the vector cache."""

    def embed(texts: list[str]) -> np.ndarray:
        vectors, _ = embed_texts(
            texts,
            embed=lambda batch: embedder.embed(batch),
            provider=embedder.provider,
            model=embedder.model,
            dimensions=embedder.dimensions,
            cache=cache,
            ttl=timedelta(days=config.embedding.cache_ttl_days),
            read_cache=read_cache,
        )
        return vectors

    return embed


def _tags(
    run: ClusterRun,
    config: ClusteringConfig,
    recipe: Recipe,
    settings: Settings,
    cache: SummaryCache | None,
    embedder: Embedder,
    analyzer: Any,
    read_cache: bool,
) -> list[str]:
    from common.clustering.tagging import tag_by_embedding, tag_with_llm

    if config.tag_with == "llm":
        analyzer = analyzer or build_namer(recipe, config, settings, cache, read_cache=read_cache)
        tags, stats = tag_with_llm(analyzer, run.texts, config.tags)
        run.stats["tagging_llm"] = stats
        return tags

    embed = _cached_embed(embedder, cache, config, read_cache=read_cache)

    return tag_by_embedding(run.vectors, config.tags, embed, config.tag_min_similarity)
