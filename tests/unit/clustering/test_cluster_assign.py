"""Incremental assignment: stored centroids take new texts without refitting, or call them noise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.clustering.assign import (
    ModelState,
    assign,
    build_state,
    load_state,
    refit_reason,
    request_refit,
    save_state,
    state_key,
)
from common.clustering.clusterers import build_clusterer
from common.clustering.config import ClusteringConfig
from common.clustering.recursive import fit_hierarchy
from common.clustering.reducers import build_reducer
from tests.unit.clustering.synthetic import blobs, unit

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def _config(**overrides) -> ClusteringConfig:
    base = {
        "reducer": {"kind": "pca", "n_components": 8},
        "clusterer": {"min_cluster_size": 15},
        "recursive_depth": 2,
        "random_state": 7,
        "refit": "incremental",
    }
    return ClusteringConfig.model_validate({**base, **overrides})


@pytest.fixture(scope="module")
def fitted():
    vectors, top, sub = blobs(seed=11, sizes=(160, 120, 80))
    config = _config()
    tree = fit_hierarchy(
        vectors, config, build_reducer(config.reducer), build_clusterer(config.clusterer)
    )
    state = build_state(
        recipe="themes",
        run_id="run-1",
        config=config,
        nodes=tree.nodes,
        vectors=vectors,
        names={n.label: (f"name of {n.label}", "") for n in tree.nodes},
        keywords={},
        now=NOW,
    )
    return vectors, tree, state


def test_the_fitted_texts_land_back_in_their_clusters(fitted) -> None:
    vectors, tree, state = fitted
    again = assign(vectors, state)
    clustered = [i for i, label in enumerate(tree.leaf) if not label.endswith("noise")]
    agree = sum(again[i] == tree.leaf[i] for i in clustered) / len(clustered)
    assert agree > 0.9
    # Texts HDBSCAN called noise at the top stay outside every top-level cluster mostly.
    assert {label.split(".")[1] for label in again} <= {"0", "1", "2", "noise"}


def test_new_texts_near_a_subcluster_get_its_label_without_refitting(fitted) -> None:
    vectors, tree, state = fitted
    target = next(c for c in state.clusters if c.depth == 2 and not c.noise)
    centre = np.asarray(target.centroid, dtype=np.float32)
    rng = np.random.default_rng(0)
    near = unit(centre + rng.normal(scale=0.005, size=(5, centre.size)))
    assert assign(near, state) == [target.label] * 5


def test_a_text_far_from_every_cluster_is_noise(fitted) -> None:
    vectors, _, state = fitted
    far = -unit(vectors.mean(axis=0, keepdims=True))
    assert assign(far, state) == ["root.noise"]


def test_a_text_inside_a_parent_but_between_its_children_is_the_parents_noise(fitted) -> None:
    _, _, state = fitted
    parent = next(
        c
        for c in state.clusters
        if c.depth == 1 and any(k.parent == c.label for k in state.clusters)
    )
    kids = [c for c in state.clusters if c.parent == parent.label and not c.noise]
    # The parent's centroid itself: inside the parent, outside each tight child.
    for kid in kids:
        kid.radius = 1e-4
    try:
        point = np.asarray([parent.centroid], dtype=np.float32)
        assert assign(point, state) == [f"{parent.label}.noise"]
    finally:
        fresh = ModelState.from_json(state.to_json())  # restore the radii for other tests
        state.clusters = fresh.clusters


def test_state_round_trips_through_the_blobstore(fitted, tmp_path) -> None:
    vectors, _, state = fitted
    blobs_ = FolderBlobStore(tmp_path)
    assert load_state(blobs_, "themes") is None
    key = save_state(blobs_, state)
    assert key == state_key("themes") == "clusters/themes/model/state.json"
    loaded = load_state(blobs_, "themes")
    assert loaded is not None and loaded.fingerprint == state.fingerprint
    assert assign(vectors, loaded) == assign(vectors, state)
    assert loaded.clusters[0].name.startswith("name of")


def test_refit_reasons(fitted, tmp_path) -> None:
    _, _, state = fitted
    blobs_ = FolderBlobStore(tmp_path)
    config = _config()
    later = NOW + timedelta(days=1)
    assert refit_reason(state, config, blobs_, "themes", now=later) is None
    assert refit_reason(None, config, blobs_, "themes", now=later) == "no stored clusters"
    assert refit_reason(state, config, blobs_, "themes", now=later, force=True) == "refit forced"
    assert (
        refit_reason(state, _config(refit="always"), blobs_, "themes", now=later) == "refit: always"
    )
    changed = _config(reducer={"kind": "pca", "n_components": 9})
    assert (
        refit_reason(state, changed, blobs_, "themes", now=later) == "clustering settings changed"
    )
    # Naming and tagging do not change the fit.
    renamed = _config(name_with_llm=True, tags=["price"])
    assert refit_reason(state, renamed, blobs_, "themes", now=later) is None
    old = NOW + timedelta(days=31)
    assert "older than 30 days" in str(refit_reason(state, config, blobs_, "themes", now=old))
    request_refit(blobs_, "themes", now=NOW + timedelta(hours=1))
    assert refit_reason(state, config, blobs_, "themes", now=later) == "refit requested"


def test_held_back_texts_get_the_clusters_a_full_fit_gives_them() -> None:
    """Fit on 80 %, assign the held-back 20 % incrementally, compare with a fit on all."""
    vectors, _, _ = blobs(seed=23, sizes=(200, 150, 100))
    config = _config()
    rng = np.random.default_rng(5)
    held = rng.random(len(vectors)) < 0.2
    full = fit_hierarchy(
        vectors, config, build_reducer(config.reducer), build_clusterer(config.clusterer)
    )
    part = fit_hierarchy(
        vectors[~held], config, build_reducer(config.reducer), build_clusterer(config.clusterer)
    )
    state = build_state(
        recipe="themes",
        run_id="run-80",
        config=config,
        nodes=part.nodes,
        vectors=vectors[~held],
        names={n.label: (n.label, "") for n in part.nodes},
        keywords={},
        now=NOW,
    )
    assigned = assign(vectors[held], state)
    full_top = [label.split(".")[1] for label in np.asarray(full.leaf)[held]]
    got_top = [label.split(".")[1] for label in assigned]
    # Clusters are numbered by size in both fits, so top-level labels are comparable.
    rate = sum(a == b for a, b in zip(got_top, full_top, strict=True)) / len(full_top)
    print(f"held-back agreement with the full fit (top level): {rate:.3f} of {len(full_top)}")
    assert rate >= 0.85
