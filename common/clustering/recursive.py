"""Recursive clustering: reduce, cluster, then zoom into each large cluster and repeat.

Labels are paths from ``root``:

- ``root.0``, ``root.1``...: top-level clusters, numbered by size (largest first);
- ``root.noise``: texts in no top-level cluster (never split further);
- ``root.0.0``, ``root.0.1``...: sub-clusters of ``root.0``;
- ``root.0.noise``: texts of ``root.0`` in none of its sub-clusters.

A cluster is split again when it has at least ``split_floor()`` texts and the
depth allows; when its split finds fewer than two sub-clusters it stays a leaf
(its texts keep the label ``root.0``). The reducer is fitted again on each
cluster's own vectors, so the directions that separate its sub-themes are
found. With a fixed ``random_state`` the same vectors give the same labels.

Large levels are fitted on a seeded sample (``clusterer.fit_sample`` texts): the
reducer and the clusterer see only the sample (floors scaled to it) and every
other text takes the label of its nearest sampled neighbour in the reduced
space. The seed of a level's sample is ``random_state`` and the level's label,
so it does not depend on the order in which levels are fitted. BLAS and
OpenMP run on one thread during the fit (threadpoolctl): on small shared
machines two threads made PCA 5-20x slower.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from common.clustering.clusterers import Clusterer
from common.clustering.config import ClusteringConfig
from common.clustering.reducers import Reducer

log = logging.getLogger(__name__)

ROOT = "root"
NOISE = "noise"


@dataclass
class ClusterNode:
    """One cluster (or the noise of one parent) at one depth."""

    label: str
    parent: str
    depth: int
    members: np.ndarray
    """Row indices of its texts."""
    noise: bool = False

    @property
    def size(self) -> int:
        """Number of texts."""
        return int(self.members.size)


@dataclass
class Hierarchy:
    """Every text's leaf label and the tree of clusters."""

    leaf: list[str]
    nodes: list[ClusterNode]
    depth: int
    """The configured depth (the tree may be shallower where clusters did not split)."""
    timings: dict[str, float] = field(default_factory=dict)

    def level(self, depth: int) -> list[str]:
        """Each text's label at ``depth`` (its leaf when the tree stops above)."""
        return [at_depth(label, depth) for label in self.leaf]

    def by_label(self) -> dict[str, ClusterNode]:
        """Nodes by label."""
        return {n.label: n for n in self.nodes}

    def children(self, label: str) -> list[ClusterNode]:
        """The direct children of ``label`` (clusters first, noise last)."""
        return sorted((n for n in self.nodes if n.parent == label), key=lambda n: sort_key(n.label))


def at_depth(label: str, depth: int) -> str:
    """``label`` cut to ``depth`` levels below root (``root.0.1`` at 1 → ``root.0``)."""
    parts = label.split(".")
    return ".".join(parts[: depth + 1]) if len(parts) > depth + 1 else label


def depth_of(label: str) -> int:
    """Levels below root (``root.0`` → 1, ``root.0.noise`` → 2)."""
    return label.count(".")


def is_noise(label: str) -> bool:
    """Whether ``label`` is a noise group."""
    return label.endswith("." + NOISE)


def sort_key(label: str) -> tuple[int, ...]:
    """Natural order: ``root.2`` before ``root.10``, noise after the clusters of its parent."""
    return tuple(10**9 if p == NOISE else int(p) for p in label.split(".")[1:])


def sorted_labels(labels: Iterable[str]) -> list[str]:
    """Unique labels in natural order."""
    return sorted(set(labels), key=sort_key)


def min_size(config: ClusteringConfig, n: int) -> int:
    """The smallest cluster among ``n`` texts: the larger of the absolute and relative floors."""
    relative = math.ceil(config.clusterer.min_cluster_pct * n)
    return max(config.clusterer.min_cluster_size, relative, 2)


def sample_rows(n: int, cap: int | None, *, seed: int, label: str) -> np.ndarray | None:
    """Sorted row positions of a seeded sample of ``cap`` among ``n`` (None: use them all)."""
    if cap is None or n <= cap:
        return None
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(label.encode())])
    return np.sort(rng.choice(n, size=cap, replace=False))


SILHOUETTE_ROWS = 2_000
"""The silhouette of a split is computed on at most this many of its fitted rows."""


def split_silhouette(reduced: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Silhouette of the clustered rows (noise left out), on a seeded subsample."""
    from sklearn.metrics import silhouette_score

    kept = labels >= 0
    if np.unique(labels[kept]).size < 2:
        return -1.0
    rows, found = reduced[kept], labels[kept]
    size = min(SILHOUETTE_ROWS, rows.shape[0])
    return float(silhouette_score(rows, found, sample_size=size, random_state=seed))


def nearest_rows(points: np.ndarray, anchors: np.ndarray, chunk: int = 1_024) -> np.ndarray:
    """For each row of ``points``, the position of its nearest row of ``anchors`` (euclidean)."""
    anchors = np.asarray(anchors, dtype=np.float32)
    squared = np.einsum("ij,ij->i", anchors, anchors)
    out = np.empty(points.shape[0], dtype=np.int64)
    for start in range(0, points.shape[0], chunk):
        block = np.asarray(points[start : start + chunk], dtype=np.float32)
        # |p - a|² = |p|² - 2 p·a + |a|²; |p|² is the same for every anchor.
        out[start : start + chunk] = np.argmin(squared - 2.0 * block @ anchors.T, axis=1)
    return out


def fit_hierarchy(
    vectors: np.ndarray, config: ClusteringConfig, reducer: Reducer, clusterer: Clusterer
) -> Hierarchy:
    """Cluster ``vectors`` into a tree ``config.recursive_depth`` levels deep.

    Args:
        vectors: One unit vector per text (the embedding space).
        config: Depth, split floor, sizes and seed.
        reducer: Fitted again on every set of vectors that is clustered.
        clusterer: Clusters each reduced set.

    Returns:
        The hierarchy; nodes in natural label order.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fit_hierarchy(vectors, config, reducer, clusterer)


def _fit_hierarchy(
    vectors: np.ndarray, config: ClusteringConfig, reducer: Reducer, clusterer: Clusterer
) -> Hierarchy:
    n = vectors.shape[0]
    leaf = [f"{ROOT}.{NOISE}"] * n
    nodes: list[ClusterNode] = []
    timings = {"reduce_s": 0.0, "cluster_s": 0.0, "silhouette_checks": 0, "splits_rejected": 0}
    floor = config.split_floor()

    def split(members: np.ndarray, label: str, depth: int) -> None:
        size = min_size(config, members.size)
        sample = sample_rows(
            members.size, config.clusterer.fit_sample, seed=config.random_state, label=label
        )
        started = time.perf_counter()
        # The whole set is not copied (the root level holds every row, in order).
        rows = vectors if members.size == n else vectors[members]
        reduced = reducer.fit_transform(rows, random_state=config.random_state, fit_rows=sample)
        timings["reduce_s"] += time.perf_counter() - started
        started = time.perf_counter()
        if sample is None:
            labels = clusterer.fit_predict(reduced, min_cluster_size=size)
        else:
            fraction = sample.size / members.size
            sampled = clusterer.fit_predict(
                reduced[sample],
                min_cluster_size=max(2, math.ceil(size * fraction)),
                sample_fraction=fraction,
            )
            labels = sampled[nearest_rows(reduced, reduced[sample])]
        timings["cluster_s"] += time.perf_counter() - started
        found = [k for k in np.unique(labels) if k >= 0]
        if depth > 1 and len(found) < 2:
            return  # no real split: the parent stays a leaf
        if depth > 1 and config.recurse_min_silhouette is not None:
            fitted = np.arange(members.size) if sample is None else sample
            score = split_silhouette(reduced[fitted], labels[fitted], config.random_state)
            timings["silhouette_checks"] += 1
            if score < config.recurse_min_silhouette:
                timings["splits_rejected"] += 1
                log.debug("%s: split rejected (silhouette %.3f)", label, score)
                return  # the sub-clusters are no more coherent than the cluster: a leaf
        # Number clusters by size (largest first), ties by their first text: stable labels.
        groups = [members[labels == k] for k in found]
        groups.sort(key=lambda g: (-g.size, int(g[0])))
        children: list[ClusterNode] = []
        for rank, group in enumerate(groups):
            child = ClusterNode(f"{label}.{rank}", label, depth, group)
            children.append(child)
            for i in group:
                leaf[i] = child.label
        rest = members[labels < 0]
        if rest.size:
            noise = ClusterNode(f"{label}.{NOISE}", label, depth, rest, noise=True)
            nodes.append(noise)
            for i in rest:
                leaf[i] = noise.label
        nodes.extend(children)
        log.debug(
            "%s: %d texts → %d clusters, %d noise", label, members.size, len(groups), rest.size
        )
        if depth < config.recursive_depth:
            for child in children:
                if child.size >= floor:
                    split(child.members, child.label, depth + 1)

    if n:
        split(np.arange(n), ROOT, 1)
    nodes.sort(key=lambda node: sort_key(node.label))
    return Hierarchy(leaf=leaf, nodes=nodes, depth=config.recursive_depth, timings=timings)
