"""Recursive clustering on synthetic vectors with known topics: labels, recursion, determinism."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from common.clustering.clusterers import build_clusterer
from common.clustering.config import ClusteringConfig
from common.clustering.recursive import (
    at_depth,
    depth_of,
    fit_hierarchy,
    is_noise,
    min_size,
    sort_key,
    sorted_labels,
)
from common.clustering.reducers import build_reducer
from common.errors import ConfigError
from tests.unit.clustering.synthetic import blobs


def _config(**overrides) -> ClusteringConfig:
    base = {
        "reducer": {"kind": "pca", "n_components": 8},
        "clusterer": {"min_cluster_size": 15},
        "recursive_depth": 2,
        "random_state": 7,
    }
    return ClusteringConfig.model_validate({**base, **overrides})


def _fit(vectors: np.ndarray, config: ClusteringConfig):
    return fit_hierarchy(
        vectors, config, build_reducer(config.reducer), build_clusterer(config.clusterer)
    )


@pytest.fixture(scope="module")
def data():
    return blobs(seed=3)


def _purity(labels: list[str], truth: list[int]) -> float:
    """Share of rows whose label's majority topic is their own topic (noise counts as wrong)."""
    by_label: dict[str, Counter[int]] = {}
    for label, topic in zip(labels, truth, strict=True):
        by_label.setdefault(label, Counter())[topic] += 1
    right = sum(c.most_common(1)[0][1] for label, c in by_label.items() if not is_noise(label))
    return right / len(labels)


def test_top_level_finds_the_known_topics_largest_first(data) -> None:
    vectors, top, _ = data
    tree = _fit(vectors, _config(recursive_depth=1))
    level = tree.level(1)
    clusters = [label for label in sorted_labels(level) if not is_noise(label)]
    assert clusters == ["root.0", "root.1", "root.2"]
    sizes = [level.count(label) for label in clusters]
    assert sizes == sorted(sizes, reverse=True)  # numbered by size
    assert _purity(level, top) > 0.95
    assert all(depth_of(label) == 1 for label in tree.leaf)  # depth 1: no sub-labels


def test_second_level_splits_the_cluster_made_of_two_subtopics(data) -> None:
    vectors, top, sub = data
    tree = _fit(vectors, _config())
    labels = tree.by_label()
    first = max(
        (n for n in tree.nodes if n.depth == 1 and not n.noise),
        key=lambda n: Counter(top[i] for i in n.members)[0],
    )
    children = [n.label for n in tree.children(first.label) if not n.noise]
    assert children == [f"{first.label}.0", f"{first.label}.1"]
    inside = [i for i in range(len(top)) if tree.leaf[i].startswith(first.label + ".")]
    assert _purity([tree.leaf[i] for i in inside], [sub[i] for i in inside]) > 0.9
    # Every leaf label is well-formed and every node's members carry its prefix.
    for label in set(tree.leaf):
        parts = label.split(".")
        assert parts[0] == "root" and all(p.isdigit() for p in parts[1:-1])
        assert parts[-1].isdigit() or parts[-1] == "noise"
    for node in tree.nodes:
        assert all(at_depth(tree.leaf[i], node.depth) == node.label for i in node.members)
        assert node.parent == node.label.rsplit(".", 1)[0]
        assert node.parent == "root" or node.parent in labels


def test_a_cluster_without_sub_structure_stays_a_leaf() -> None:
    vectors, _, _ = blobs(seed=5, sizes=(80, 80), sub_of_first=1, spread=0.02)
    tree = _fit(vectors, _config(clusterer={"min_cluster_size": 20}))
    assert {label for label in tree.leaf if not is_noise(label)} <= {"root.0", "root.1"}
    assert all(n.depth == 1 for n in tree.nodes if not n.noise)


def test_the_size_floor_stops_recursion(data) -> None:
    vectors, _, _ = data
    tree = _fit(vectors, _config(recurse_min_size=10_000))
    assert max(depth_of(label) for label in tree.leaf) == 1


def test_same_seed_same_labels(data) -> None:
    vectors, _, _ = data
    config = _config(reducer={"kind": "pca", "n_components": 8})
    first = _fit(vectors, config)
    again = _fit(vectors.copy(), config)
    assert first.leaf == again.leaf
    assert [(n.label, n.size) for n in first.nodes] == [(n.label, n.size) for n in again.nodes]


def test_min_cluster_pct_raises_the_floor_with_the_data() -> None:
    config = _config(clusterer={"min_cluster_size": 5, "min_cluster_pct": 0.2})
    assert min_size(config, 100) == 20 and min_size(config, 10) == 5
    vectors, _, _ = blobs(seed=1, sizes=(150, 150, 30), sub_of_first=1)
    loose = _fit(vectors, _config(recursive_depth=1, clusterer={"min_cluster_size": 10}))
    strict = _fit(
        vectors,
        _config(recursive_depth=1, clusterer={"min_cluster_size": 10, "min_cluster_pct": 0.15}),
    )
    count = lambda tree: sum(1 for n in tree.nodes if not n.noise)  # noqa: E731
    assert count(loose) == 3 and count(strict) == 2  # 30 of 330 < 15 %: no longer a cluster


def test_too_few_texts_are_all_noise() -> None:
    vectors, _, _ = blobs(seed=2, sizes=(6,), sub_of_first=1)
    tree = _fit(vectors, _config())
    assert set(tree.leaf) == {"root.noise"} and [n.label for n in tree.nodes] == ["root.noise"]
    assert _fit(np.zeros((0, 8), dtype=np.float32), _config()).leaf == []


@pytest.mark.parametrize("kind", ["none", "pca"])
def test_cosine_metric_and_reducers_agree_on_clear_topics(data, kind: str) -> None:
    vectors, top, _ = data
    config = _config(
        recursive_depth=1,
        reducer={"kind": kind, "n_components": 8},
        clusterer={"min_cluster_size": 15, "metric": "cosine"},
    )
    assert _purity(_fit(vectors, config).leaf, top) > 0.95


def test_label_helpers() -> None:
    assert at_depth("root.0.1", 1) == "root.0" and at_depth("root.0.1", 2) == "root.0.1"
    assert at_depth("root.noise", 2) == "root.noise" and at_depth("root.3.noise", 1) == "root.3"
    assert sorted_labels(["root.10", "root.noise", "root.2", "root.2.noise", "root.2.0"]) == [
        "root.2",
        "root.2.0",
        "root.2.noise",
        "root.10",
        "root.noise",
    ]
    assert sort_key("root.1") < sort_key("root.noise")


def test_unknown_components_fail_with_the_valid_names() -> None:
    from common.clustering.clusterers._base import build_clusterer as clusterer
    from common.clustering.reducers._base import build_reducer as reducer

    bad_reducer = _config().reducer.model_copy(update={"kind": "tsne"})
    with pytest.raises(ConfigError, match="pca, umap, none"):
        reducer(bad_reducer)
    bad = _config().clusterer.model_copy(update={"kind": "kmeans"})
    with pytest.raises(ConfigError, match="hdbscan"):
        clusterer(bad)


@pytest.fixture(scope="module")
def big():
    """Larger than the fit sample below: every level is fitted on a sample."""
    return blobs(seed=5, sizes=(1_200, 900, 600), sub_of_first=1)


def test_a_sampled_fit_labels_every_text_and_finds_the_topics(big) -> None:
    vectors, top, _ = big
    config = _config(clusterer={"min_cluster_size": 15, "fit_sample": 300}, recursive_depth=1)
    tree = _fit(vectors, config)
    level = tree.level(1)
    assert len(level) == len(vectors)
    assert [x for x in sorted_labels(level) if not is_noise(x)] == ["root.0", "root.1", "root.2"]
    assert _purity(level, top) > 0.95


def test_a_sampled_fit_gives_the_same_labels_every_run(big) -> None:
    vectors, _, _ = big
    config = _config(clusterer={"min_cluster_size": 15, "fit_sample": 300})
    first = _fit(vectors, config)
    again = _fit(vectors.copy(), config)
    assert first.leaf == again.leaf
    other = _fit(
        vectors, _config(clusterer={"min_cluster_size": 15, "fit_sample": 300}, random_state=8)
    )
    assert len(other.leaf) == len(first.leaf)  # another seed draws another sample, still labels all


def test_a_split_less_coherent_than_the_floor_is_not_kept(data) -> None:
    vectors, _, _ = data
    loose = _fit(vectors, _config(recurse_min_silhouette=-1.0))
    assert any(n.depth == 2 for n in loose.nodes)  # the two sub-topics split
    strict = _fit(vectors, _config(recurse_min_silhouette=0.99))
    assert not any(n.depth == 2 for n in strict.nodes)  # no split is that coherent
    assert strict.timings["splits_rejected"] >= 1
    assert strict.level(1) == loose.level(1)  # the top level is unchanged
