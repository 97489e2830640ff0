"""The customer_themes recipe end to end: outputs, labels, the cache, LLM names, incremental runs."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from common.cli import main
from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF
from tests.support.fake_embeddings import FakeEmbeddings
from tests.support.fake_llm import FakeLLM

RECIPE = "customer_themes"
LIMIT = 90
LABEL = re.compile(r"^root(\.\d+)*(\.noise)?$")
KEYS = "sk-test-cccccccccccccccccccccccc"
FAST = {
    "concurrency": 8,
    "retries": 3,
    "timeout_seconds": 5,
    "backoff_initial_seconds": 0.01,
    "backoff_max_seconds": 0.1,
}
FILES = {
    "cluster_assignments.csv",
    "cluster_analysis.csv",
    "clusters_depth1.png",
    "clusters_depth2.png",
    "summary_report.txt",
}


@pytest.fixture
def fake_embeddings() -> Iterator[FakeEmbeddings]:
    with FakeEmbeddings() as server:
        yield server


def _edit(recipes_dir: Path, **clustering: Any) -> None:
    path = recipes_dir / RECIPE / "meta.yml"
    meta = yaml.safe_load(path.read_text())
    meta["clustering"].update(clustering)
    path.write_text(yaml.safe_dump(meta, sort_keys=False))


def _run(**options: Any) -> tuple[StepContext, Any, dict[str, Any]]:
    from common.local_runner import run_recipe

    ctx = StepContext.from_settings(Settings())
    options.setdefault("limit", LIMIT)
    summary = run_recipe(ctx, RECIPE, RunOptions(as_of=AS_OF, **options), progress=False)
    assert summary.status == "succeeded", summary.failures
    document = ctx.backends.state.get_run(summary.run_id) or {}
    return ctx, summary, document["clustering"]


def _shard_embedding(run_id: str) -> dict[str, int]:
    """The embedding counters of the run's per-shard steps, summed."""
    ctx = StepContext.from_settings(Settings())
    totals = {"embedded": 0, "cache_hits": 0, "calls": 0, "shards": 0}
    for step in ctx.backends.state.list_steps(run_id):
        counters = (step.get("result") or {}).get("embedding")
        if counters is None or step.get("step") not in ("process", "summarize"):
            continue
        totals["shards"] += 1
        totals["embedded"] += counters["embedded"]
        totals["cache_hits"] += counters["cache_hits"]
        totals["calls"] += (counters.get("provider") or {}).get("calls", 0)
    return totals


def _rows(path: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_offline_run_writes_valid_outputs_and_a_rerun_embeds_nothing(
    local_env: Path, recipes_dir: Path
) -> None:
    # 90 leads: too few to centre per language (everything would be noise); the demo's
    # 2,400 leads are centred (see summary_report.txt's language line).
    _edit(recipes_dir, language_centring=False)
    _, first, clustering = _run()
    assert set(clustering["outputs"]) == FILES
    for url in clustering["outputs"].values():
        assert Path(url).is_file() and Path(url).stat().st_size > 0
    assert (
        Path(clustering["outputs"]["clusters_depth1.png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    )

    assignments = _rows(clustering["outputs"]["cluster_assignments.csv"])
    texts = clustering["texts"]
    assert len(assignments) == texts > 20
    assert all(LABEL.match(r["cluster_label"]) for r in assignments)
    assert all(
        r["cluster_depth1"] == ".".join(r["cluster_label"].split(".")[:2]) for r in assignments
    )
    analysis = _rows(clustering["outputs"]["cluster_analysis.csv"])
    top = [r for r in analysis if r["depth"] == "1"]
    assert sum(int(r["size"]) for r in top) == texts
    assert any(r["is_noise"] == "false" for r in top)
    assert all(r["name"] and r["keywords"] for r in top if r["is_noise"] == "false")
    report = Path(clustering["outputs"]["summary_report.txt"]).read_text()
    assert f"Texts clustered: {texts}" in report and "Depth 2:" in report

    # The report joins each lead's cluster into the analysis CSV.
    rows = _rows(first.outputs["analysis"])
    assert {"cluster_label", "cluster_name", "tags"} <= set(rows[0])
    by_lead = {r["lead_key"]: r for r in assignments}
    for row in rows:
        expected = by_lead.get(row["lead_key"])
        assert row["cluster_label"] == (expected["cluster_label"] if expected else "")
        assert row["cluster_name"] == (expected["cluster_name"] if expected else "")

    # The shards embedded the texts; the cluster step read every vector from the cache.
    embedding = clustering["embedding"]
    assert embedding["embedded"] == 0 and embedding["cache_hits"] == embedding["unique"]
    assert embedding["provider"]["calls"] == 0
    assert _shard_embedding(first.run_id)["embedded"] >= embedding["unique"]

    _, _, again = _run()
    embedding = again["embedding"]
    assert embedding["embedded"] == 0 and embedding["provider"]["calls"] == 0
    assert embedding["cache_hits"] == embedding["unique"]
    # Same vectors from the cache, same seed: the same clusters.
    assert _rows(again["outputs"]["cluster_assignments.csv"]) == assignments


def test_llm_names_and_tags_through_the_fake_servers_are_cached(
    local_env: Path,
    recipes_dir: Path,
    fake_llm: FakeLLM,
    fake_embeddings: FakeEmbeddings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _edit(
        recipes_dir,
        embedding={
            "provider": "gemini",
            "model": "text-embedding-005",
            "batch_size": 16,
            "limits": FAST,
        },
        name_with_llm=True,
        naming={"llm": {"provider": "openai", "model": "gpt-test", "limits": FAST}},
        tag_with="llm",
        language_centring=False,
    )
    monkeypatch.setenv("LR_GEMINI_BASE_URL", fake_embeddings.url)
    monkeypatch.setenv("LR_GEMINI_API_KEYS", KEYS)
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", KEYS)

    _, _, clustering = _run()
    unique = clustering["embedding"]["unique"]
    # Embedded by the shards (a text two shards share may be embedded by both).
    assert fake_embeddings.texts >= unique and clustering["embedding"]["embedded"] == 0
    analysis = _rows(clustering["outputs"]["cluster_analysis.csv"])
    # Clusters (depth >= 1); depth-0 rows are the guided topics and the new themes.
    named = [r for r in analysis if r["is_noise"] == "false" and r["depth"] != "0"]
    assert named and all(r["name"] and r["description"] for r in named)
    naming = clustering["naming_llm"]
    assert naming["llm_calls"] == len(named) and naming["cache_hits"] == 0
    tagging = clustering["tagging_llm"]
    assert tagging["llm_calls"] == unique
    assert fake_llm.count == len(named) + unique
    prompts = [r.user for r in fake_llm.requests]
    assert any("Most distinctive keywords:" in p for p in prompts)
    allowed = {
        "interest rate or price is too high",
        "asking for documents or requirements",
        "wants to talk to a person",
        "not interested anymore",
    }
    tags = {
        t
        for r in _rows(clustering["outputs"]["cluster_assignments.csv"])
        for t in r["tags"].split("; ")
        if t
    }
    assert tags and tags <= allowed

    calls, requests = fake_llm.count, fake_embeddings.count
    _, _, again = _run()
    assert fake_embeddings.count == requests  # a re-run embeds nothing new
    assert fake_llm.count == calls  # names and tags come from the cache
    assert again["naming_llm"]["cache_hits"] == len(named)


def test_the_cluster_step_makes_no_embedding_call_when_the_shards_embedded(
    local_env: Path,
    recipes_dir: Path,
    fake_embeddings: FakeEmbeddings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _edit(recipes_dir, embedding={"provider": "openai", "batch_size": 16, "limits": FAST})
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_embeddings.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", KEYS)

    _, summary, clustering = _run()
    shards = _shard_embedding(summary.run_id)
    embedding = clustering["embedding"]
    # Every request the embeddings server saw came from a shard step (texts and the tags'
    # categories): none from the cluster step.
    assert shards["shards"] >= 1 and shards["calls"] == fake_embeddings.count > 0
    assert embedding["provider"]["calls"] == 0 and embedding["embedded"] == 0
    assert embedding["cache_hits"] == embedding["unique"] > 20


def test_incremental_runs_assign_to_the_stored_clusters_until_a_refit(
    local_env: Path,
    recipes_dir: Path,
    fake_embeddings: FakeEmbeddings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _edit(
        recipes_dir,
        embedding={"provider": "openai", "limits": FAST},
        refit="incremental",
    )
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_embeddings.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", KEYS)

    ctx, _, first = _run()
    assert first["mode"] == "fit" and first["refit_reason"] == "no stored clusters"
    assert ctx.backends.blobs.exists(f"clusters/{RECIPE}/model/state.json")
    fitted = _rows(first["outputs"]["cluster_assignments.csv"])

    _, _, second = _run(limit=LIMIT + 30)  # more leads: some texts are new
    assert second["mode"] == "assign" and "refit_reason" not in second
    assert second["embedding"]["embedded"] == 0  # the shards embedded the new texts
    assert second["embedding"]["cache_hits"] == second["embedding"]["unique"]
    assigned = {r["lead_key"]: r for r in _rows(second["outputs"]["cluster_assignments.csv"])}
    known = (
        {r["cluster_label"] for r in fitted}
        | {label.rsplit(".", 1)[0] + ".noise" for label in (r["cluster_label"] for r in fitted)}
        | {"root.noise"}
    )
    assert {r["cluster_label"] for r in assigned.values()} <= known
    kept = sum(assigned[r["lead_key"]]["cluster_label"] == r["cluster_label"] for r in fitted)
    assert kept / len(fitted) > 0.8
    names = {r["cluster_label"]: r["cluster_name"] for r in fitted}
    assert all(
        r["cluster_name"] == names[r["cluster_label"]]
        for r in assigned.values()
        if r["cluster_label"] in names
    )

    # What an operator types (common.clustering.assign.request_refit underneath).
    refit = CliRunner().invoke(
        main, ["clusters", "refit", RECIPE, "--recipes-dir", str(recipes_dir)]
    )
    assert refit.exit_code == 0, refit.output
    assert "fits its clusters from scratch" in refit.output
    _, _, third = _run()
    assert third["mode"] == "fit" and third["refit_reason"] == "refit requested"
