"""`run_clustering` + `write_outputs` with a stand-in embedder: files, labels, empty runs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.adapters.local.sqlite_cache import SQLiteSummaryCache
from common.clustering.config import ClusteringConfig
from common.clustering.outputs import write_outputs
from common.clustering.pipeline import run_clustering
from common.settings import Settings
from tests.support.fake_embeddings import fake_vector

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
THEMES = {
    "price": ["interest rate too high", "rate is expensive", "lower the interest"],
    "documents": ["which documents", "upload my ID documents", "proof of income documents"],
    "agent": ["talk to a person", "call me agent", "human advisor please"],
}


class WordEmbedder:
    """Hashed bag of words (the fake server's vectors), counting its calls."""

    provider = "stub"
    model = "words-32"
    dimensions = 32

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.asarray([fake_vector(t, 32) for t in texts], dtype=np.float32)

    def stats(self) -> dict[str, Any]:
        return {"calls": self.calls}


def _texts(n_per_phrase: int = 12) -> tuple[list[str], list[str]]:
    keys, texts = [], []
    for theme, phrases in THEMES.items():
        for phrase in phrases:
            for i in range(n_per_phrase):
                keys.append(f"{theme}-{phrase[:4]}-{i}")
                texts.append(f"{phrase} number {i}")
    return keys, texts


def _run(
    tmp_path: Path,
    keys: list[str],
    texts: list[str],
    previous_topics: dict[str, Any] | None = None,
    **config: Any,
):
    settings = Settings()
    blobs = FolderBlobStore(tmp_path / "data")
    cache = SQLiteSummaryCache(tmp_path / "cache.sqlite")
    section = ClusteringConfig.model_validate(
        {
            "reducer": {"kind": "none"},
            "clusterer": {"min_cluster_size": 8},
            "recursive_depth": 2,
            **config,
        }
    )
    embedder = WordEmbedder()
    run = run_clustering(
        recipe=SimpleNamespace(name="themes", llm=None),  # type: ignore[arg-type]
        config=section,
        lead_keys=keys,
        texts=texts,
        settings=settings,
        blobs=blobs,
        cache=cache,
        run_id="run-1",
        now=NOW,
        embedder=embedder,
        previous_topics=previous_topics,
    )
    written = write_outputs(
        run,
        blobs=blobs,
        key=lambda name: f"output_run/themes/stamp/{name}",
        config=section,
        recipe="themes",
        run_id="run-1",
    )
    return run, written, blobs, embedder


def _csv(blobs: FolderBlobStore, name: str) -> list[dict[str, str]]:
    data = blobs.get_bytes(f"output_run/themes/stamp/{name}").decode()
    return list(csv.DictReader(io.StringIO(data)))


def test_the_themes_become_named_clusters_and_files(tmp_path: Path) -> None:
    keys, texts = _texts()
    run, written, blobs, _ = _run(tmp_path, keys, texts, tags=["interest rate", "documents"])
    assert set(written) == {
        "cluster_assignments.csv",
        "cluster_analysis.csv",
        "clusters_depth1.png",
        "clusters_depth2.png",
        "summary_report.txt",
    }
    top = [c for c in run.clusters if c.depth == 1 and not c.noise]
    assert 2 <= len(top) <= 9
    rows = _csv(blobs, "cluster_assignments.csv")
    assert [r["lead_key"] for r in rows] == keys
    assert {"cluster_depth1", "cluster_name_depth2", "tags"} <= set(rows[0])
    # A theme's texts share their top-level cluster more often than not.
    for theme in THEMES:
        labels = [r["cluster_depth1"] for r in rows if r["lead_key"].startswith(theme)]
        assert max(labels.count(x) for x in set(labels)) / len(labels) > 0.5
    analysis = _csv(blobs, "cluster_analysis.csv")
    assert sum(int(r["size"]) for r in analysis if r["depth"] == "1") == len(texts)
    assert blobs.get_bytes("output_run/themes/stamp/clusters_depth2.png")[:4] == b"\x89PNG"
    assert blobs.exists("clusters/themes/model/state.json")
    assert {r["tags"] for r in rows} <= {"", "interest rate", "documents"}


def test_an_incremental_run_reuses_model_and_cache(tmp_path: Path) -> None:
    keys, texts = _texts()
    first, *_ = _run(tmp_path, keys, texts, refit="incremental")
    again, _, _, embedder = _run(tmp_path, keys, texts, refit="incremental")
    assert (first.mode, again.mode) == ("fit", "assign")
    assert embedder.calls == 0 and again.stats["embedding"]["cache_hits"] == len(set(texts))
    shared = set(again.names()) & set(first.names())
    assert len(shared) >= 3  # the stored clusters, with the names they got when fitted
    assert all(again.names()[k] == first.names()[k] for k in shared)


def test_no_texts_still_writes_the_tables_and_report(tmp_path: Path) -> None:
    run, written, blobs, _ = _run(tmp_path, [], [])
    assert run.clusters == [] and run.leaf == []
    assert set(written) == {"cluster_assignments.csv", "cluster_analysis.csv", "summary_report.txt"}
    assert _csv(blobs, "cluster_assignments.csv") == []
    report = blobs.get_bytes("output_run/themes/stamp/summary_report.txt").decode()
    assert "Texts clustered: 0" in report


@pytest.mark.parametrize("max_chars", [16])
def test_texts_are_cleaned_and_cut_before_embedding(tmp_path: Path, max_chars: int) -> None:
    run, *_ = _run(
        tmp_path,
        ["a", "b"],
        ["  many   spaces\nand lines and more words ", "short"],
        embedding={"max_chars": max_chars},
    )
    assert run.texts == ["many spaces and ", "short"]


def test_listed_topics_label_the_texts_and_the_rest_are_new_themes(tmp_path: Path) -> None:
    keys, texts = _texts()
    topics = [
        {"name": "Price", "description": "interest rate", "examples": ["rate is expensive"]},
        {"name": "Documents", "description": "documents", "examples": ["upload my ID documents"]},
    ]
    run, _, blobs, _ = _run(
        tmp_path, keys, texts, topics=topics, topic_clusters=9, topic_min_similarity=0.3
    )
    rows = _csv(blobs, "cluster_assignments.csv")
    assert {"topic", "topic_score"} <= set(rows[0])
    by_theme = {
        theme: [r["topic"] for r in rows if r["lead_key"].startswith(theme)] for theme in THEMES
    }
    assert by_theme["price"].count("Price") / len(by_theme["price"]) > 0.6
    assert by_theme["documents"].count("Documents") / len(by_theme["documents"]) > 0.6
    # No topic describes the agent texts: they stay unassigned (new themes).
    assert by_theme["agent"].count("") / len(by_theme["agent"]) > 0.6
    assert run.stats["topics"]["new_themes"] == sum(1 for r in rows if not r["topic"])
    assert all(-1.0 <= float(r["topic_score"]) <= 1.0 for r in rows)


def test_topic_sizes_and_their_change_since_the_previous_run(tmp_path: Path) -> None:
    keys, texts = _texts()
    topics = [
        {"name": "Price", "description": "interest rate", "examples": ["rate is expensive"]},
        {"name": "Documents", "description": "documents", "examples": ["upload my ID documents"]},
    ]
    config = {"topics": topics, "topic_clusters": 9, "topic_min_similarity": 0.3}
    first, _, blobs, _ = _run(tmp_path / "a", keys, texts, **config)
    rows = _csv(blobs, "cluster_analysis.csv")
    topic_rows = {r["cluster_label"]: r for r in rows if r["depth"] == "0"}
    assert [r["name"] for r in topic_rows.values()] == ["Price", "Documents", "New themes"]
    sizes = first.stats["topics"]["sizes"]
    assert int(topic_rows["topic.0"]["size"]) == sizes["Price"]
    assert int(topic_rows["topic.new"]["size"]) == first.stats["topics"]["new_themes"]
    assert {r["change"] for r in topic_rows.values()} == {""}  # no previous run
    # Clusters count their texts without a topic (the new themes among them).
    clusters = [r for r in rows if r["depth"] == "1"]
    assert sum(int(r["new_theme_size"]) for r in clusters) == first.stats["topics"]["new_themes"]

    # The next run has fewer price texts; its change is against the first run's sizes.
    kept = [i for i, k in enumerate(keys) if not k.startswith("price") or k.endswith(("-0", "-1"))]
    second, _, blobs, _ = _run(
        tmp_path / "b",
        [keys[i] for i in kept],
        [texts[i] for i in kept],
        previous_topics={"run_id": "run-0", **first.stats["topics"]},
        **config,
    )
    stats = second.stats["topics"]
    assert stats["previous_run"] == "run-0"
    assert stats["change"]["Price"] == stats["sizes"]["Price"] - sizes["Price"] < 0
    assert stats["new_themes_change"] == stats["new_themes"] - first.stats["topics"]["new_themes"]
    topic_rows = {
        r["cluster_label"]: r for r in _csv(blobs, "cluster_analysis.csv") if r["depth"] == "0"
    }
    assert int(topic_rows["topic.0"]["previous_size"]) == sizes["Price"]
    assert int(topic_rows["topic.0"]["change"]) == stats["change"]["Price"]
    report = blobs.get_bytes("output_run/themes/stamp/summary_report.txt").decode()
    assert f"Price {stats['sizes']['Price']} ({stats['change']['Price']:+d})" in report
