"""`run_sinks`: every sink in order, unconfigured ones skipped, failures recorded not raised."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.adapters.local.sqlite_state import SQLiteStateStore
from common.errors import ConfigError
from common.recipe import Recipe, load_recipe
from common.recipe.model import WebhookSpec
from common.reporting import run_sinks
from common.reporting.sinks import SINKS, build_sink
from common.settings import Settings

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


@pytest.fixture
def demo() -> Recipe:
    return load_recipe("demo", RECIPES)


def _ctx(tmp_path: Path, settings: Settings | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        settings=settings or Settings(),
        backends=SimpleNamespace(
            blobs=FolderBlobStore(tmp_path), state=SQLiteStateStore(tmp_path / "state.sqlite")
        ),
    )


RUN = {"run_id": "demo-1", "status": "succeeded", "started_at": "2026-11-20T18:00:00+00:00"}
ANALYSIS = pl.DataFrame({"lead_key": ["a"], "conversation_state": ["active"]})
IGNORED = pl.DataFrame({"lead_key": ["b"], "ignore_reason": ["no messages found for this lead"]})


def test_unconfigured_sinks_are_skipped_and_the_html_is_linked(
    tmp_path: Path, demo: Recipe
) -> None:
    outputs = {"analysis": "x.csv"}
    records = run_sinks(_ctx(tmp_path), demo, RUN, ANALYSIS, IGNORED, outputs)
    assert list(records) == list(SINKS) == ["html", "gsheets", "webhooks"]
    assert records["html"]["status"] == "ok"
    assert records["gsheets"] == {
        "status": "skipped",
        "reason": "the recipe has no `gsheets` section",
    }
    assert records["webhooks"]["status"] == "skipped"
    assert outputs["html"].endswith("output_run/demo/2026-11-20T18-00-00_demo-1/report.html")


def test_a_webhook_without_its_secret_sends_nothing_and_fails_softly(
    tmp_path: Path, demo: Recipe
) -> None:
    meta = demo.meta.model_copy(
        update={"webhooks": [WebhookSpec(url="http://127.0.0.1:9/never", secret="sales")]}
    )
    recipe = dataclasses.replace(demo, meta=meta)
    records = run_sinks(_ctx(tmp_path), recipe, RUN, ANALYSIS, IGNORED, {})
    (delivery,) = records["webhooks"]["deliveries"]
    assert records["webhooks"]["status"] == "failed"
    assert delivery["attempts"] == 0 and "LR_WEBHOOK_SECRETS[sales]" in delivery["error"]
    assert "unsigned" in delivery["error"]


def test_unknown_sink_names_list_the_valid_ones(demo: Recipe) -> None:
    with pytest.raises(ConfigError, match="html, gsheets, webhooks"):
        build_sink("slack", demo)
