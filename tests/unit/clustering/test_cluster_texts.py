"""Which text each lead is clustered by, and how the report gets the cluster columns."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.clustering.config import ClusteringConfig
from common.clustering.texts import build_texts
from common.errors import DataError
from common.processors.base import normalize_messages
from common.steps.io import write_frame
from common.steps.merge import clusters_key, join_clusters

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _messages() -> pl.DataFrame:
    rows = [
        ("m2", "a", 2, "User", "second from a"),
        ("m1", "a", 1, "user", "first from a"),
        ("m3", "a", 3, "bot", "bot text"),
        ("m4", "b", 1, "agent", "agent only"),
        ("m5", "c", 1, "user", "   "),
        ("m6", "d", 1, "user", "from d"),
    ]
    return normalize_messages(
        pl.DataFrame(
            {
                "message_id": [r[0] for r in rows],
                "lead_key": [r[1] for r in rows],
                "sent_at": [T0.replace(minute=r[2]) for r in rows],
                "sender": [r[3] for r in rows],
                "text": [r[4] for r in rows],
            }
        )
    )


KEPT = pl.DataFrame(
    {
        "lead_key": ["a", "b", "c", "d"],
        "summary": ["sum a", None, "sum c", ""],
        "last_user_message_text": ["second from a", None, "", "from d"],
    }
)


def test_user_messages_are_each_leads_user_turns_in_order() -> None:
    texts = build_texts(ClusteringConfig(), KEPT.filter(pl.col("lead_key") != "d"), _messages())
    assert texts.to_dicts() == [{"lead_key": "a", "text": "first from a\nsecond from a"}]


def test_columns_and_summaries_drop_empty_texts() -> None:
    summary = build_texts(ClusteringConfig.model_validate({"text": "llm_summary"}), KEPT)
    assert summary["lead_key"].to_list() == ["a", "c"]
    column = build_texts(
        ClusteringConfig.model_validate({"text": {"column": "last_user_message_text"}}), KEPT
    )
    assert column.to_dicts() == [
        {"lead_key": "a", "text": "second from a"},
        {"lead_key": "d", "text": "from d"},
    ]
    with pytest.raises(DataError, match="column `nope` is not in the run's data"):
        build_texts(ClusteringConfig.model_validate({"text": {"column": "nope"}}), KEPT)


def test_join_clusters_adds_the_columns_and_leaves_other_runs_alone(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path)
    frame = pl.DataFrame({"lead_key": ["a", "b", "c"], "tags": ["mine", None, None]})
    assert join_clusters(frame, blobs, "run-without-clusters").equals(frame)
    write_frame(
        blobs,
        clusters_key("run-1"),
        pl.DataFrame(
            {
                "lead_key": ["a", "c"],
                "cluster_label": ["root.0", "root.noise"],
                "cluster_name": ["price", "Unclustered"],
                "tags": ["price", ""],
            }
        ),
    )
    joined = join_clusters(frame, blobs, "run-1")
    assert joined.columns == ["lead_key", "tags", "cluster_label", "cluster_name"]
    assert joined["cluster_label"].to_list() == ["root.0", None, "root.noise"]
    assert joined["tags"].to_list() == ["mine", None, None]  # existing columns win
