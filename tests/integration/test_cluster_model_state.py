"""The stored cluster model under overlapping runs: one wins whole, the other leaves it alone.

Runs once per backend: the folder store and Cloud Storage (fake-gcs-server,
which honours ``if_generation_match`` with a real 412).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from common.adapters.local.sqlite_cache import SQLiteSummaryCache
from common.backends import build_backends
from common.clustering.assign import load_state, state_key
from common.clustering.config import ClusteringConfig
from common.clustering.pipeline import ClusterRun, run_clustering
from common.ports import BlobStore, Versioned
from common.settings import Settings, get_settings
from tests.support.fake_embeddings import fake_vector

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
PHRASES = ["interest rate too high", "upload my ID documents", "talk to a person please"]


class WordEmbedder:
    """Hashed bag of words (the fake embeddings server's vectors)."""

    provider = "stub"
    model = "words-32"
    dimensions = 32

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray([fake_vector(t, 32) for t in texts], dtype=np.float32)

    def stats(self) -> dict[str, Any]:
        return {}


class OverlappingReads:
    """The real store; each run's read of the model waits until both runs have read it."""

    def __init__(self, blobs: BlobStore, barrier: threading.Barrier) -> None:
        self._blobs = blobs
        self._barrier = barrier

    def get_versioned(self, key: str) -> Versioned:
        try:
            return self._blobs.get_versioned(key)
        finally:
            if key.endswith("model/state.json"):
                self._barrier.wait(timeout=30)

    def exists(self, key: str) -> bool:
        exists = self._blobs.exists(key)
        if key.endswith("model/state.json"):  # the code before versioned reads
            self._barrier.wait(timeout=30)
        return exists

    def __getattr__(self, name: str) -> Any:
        return getattr(self._blobs, name)


@pytest.fixture
def blobs(backend_name: str) -> BlobStore:
    return build_backends(get_settings()).blobs


def test_two_overlapping_fits_leave_one_whole_model(blobs: BlobStore, tmp_path: Path) -> None:
    config = ClusteringConfig.model_validate(
        {"reducer": {"kind": "none"}, "clusterer": {"min_cluster_size": 5}, "recursive_depth": 1}
    )
    barrier = threading.Barrier(2)
    results: dict[str, ClusterRun] = {}
    errors: list[BaseException] = []

    def fit(run_id: str, n: int) -> None:
        texts = [f"{p} number {i}" for p in PHRASES for i in range(n)]
        try:
            results[run_id] = run_clustering(
                recipe=SimpleNamespace(name="themes", llm=None),  # type: ignore[arg-type]
                config=config,
                lead_keys=[f"{run_id}-{i}" for i in range(len(texts))],
                texts=texts,
                settings=Settings(),
                blobs=OverlappingReads(blobs, barrier),  # type: ignore[arg-type]
                cache=SQLiteSummaryCache(tmp_path / f"{run_id}.sqlite"),
                run_id=run_id,
                now=NOW,
                embedder=WordEmbedder(),  # type: ignore[arg-type]
            )
        except BaseException as err:  # noqa: BLE001 - re-raised below, in the test's thread
            errors.append(err)

    threads = [
        threading.Thread(target=fit, args=("run-a", 10)),
        threading.Thread(target=fit, args=("run-b", 14)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    stored = [r for r, run in results.items() if "model" in run.stats]
    lost = [r for r, run in results.items() if run.stats.get("model_conflict")]
    assert len(stored) == 1, {r: run.stats.get("model") for r, run in results.items()}
    assert len(lost) == 1 and lost != stored
    state = load_state(blobs, "themes")
    assert state is not None
    winner = results[stored[0]]
    # The stored model is the winner's, whole: its run, its size, its clusters.
    assert state.run_id == stored[0]
    assert state.texts == len(winner.texts)
    assert {c.label for c in state.clusters} == {c.label for c in winner.clusters}
    assert blobs.exists(state_key("themes"))
