"""Keywords (c-TF-IDF), representatives, tags, and the clustering section's validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from common import chain
from common.clustering.config import ClusteringConfig
from common.clustering.naming import class_keywords, keyword_name, representatives
from common.clustering.tagging import tag_by_embedding
from common.errors import RecipeError
from common.recipe import load_recipe

REPO = Path(__file__).resolve().parents[3]

PRICE = [
    "the interest rate is too high",
    "your interest rate is expensive",
    "lower interest rate please, too expensive",
    "rate too high for me",
]
DOCS = [
    "which documents do I need",
    "I sent my documents and proof of income",
    "documents uploaded, proof of address too",
    "what documents for the loan",
]


def test_keywords_are_the_words_that_set_a_cluster_apart() -> None:
    texts = PRICE + DOCS + ["hello thanks", "hello, thank you"]
    labels = ["root.0"] * 4 + ["root.1"] * 4 + ["root.noise"] * 2
    words = class_keywords(texts, labels, top=3)
    assert {"rate", "interest"} <= set(words["root.0"]) and words["root.1"][0] == "documents"
    assert not set(words["root.0"]) & set(words["root.1"])
    everything = {w for ws in words.values() for w in ws}
    assert not everything & {"the", "is", "hello", "thanks", "for", "my"}  # stop words and filler


def test_keywords_handle_spanish_and_empty_vocabularies() -> None:
    words = class_keywords(
        ["la tasa de interés es muy alta", "tasa de interés alta", "necesito los documentos"],
        ["root.0", "root.0", "root.1"],
        top=2,
    )
    assert words["root.0"][0] in {"tasa", "interés", "tasa interés", "alta"}
    assert "de" not in words["root.0"]
    assert class_keywords(["ok", "sí"], ["root.0", "root.1"], top=3) == {"root.0": [], "root.1": []}


def test_representatives_are_the_texts_nearest_the_centre_without_repeats() -> None:
    vectors = np.asarray(
        [[1, 0], [0.9, 0.1], [0.9, 0.1], [0.2, 1.0], [0.95, 0.05]], dtype=np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = ["a", "b", "b", "outlier", "c" * 50]
    picked = representatives(vectors, np.arange(5), texts, k=3, chars=10)
    assert "outlier" not in picked and picked.count("b") == 1 and len(picked) == 3
    assert "c" * 9 + "…" in picked  # cut to the length asked


def test_keyword_names() -> None:
    assert (
        keyword_name(["interest rate", "high", "expensive", "x"])
        == "interest rate / high / expensive"
    )
    assert keyword_name([], noise=True) == "Unclustered" and keyword_name([]) == "(no keywords)"


def test_embedding_tags_pick_the_nearest_category_above_the_threshold() -> None:
    vectors = np.eye(3, dtype=np.float32)
    tags = ["price", "documents"]

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray([[1, 0, 0], [0, 1, 0]], dtype=np.float32)[: len(texts)]

    assert tag_by_embedding(vectors, tags, embed, 0.5) == ["price", "documents", ""]


# --- the clustering section ----------------------------------------------------------------


def test_text_source_forms() -> None:
    assert ClusteringConfig().text == "user_messages"
    assert ClusteringConfig.model_validate({"text": "llm_summary"}).text_label() == "llm_summary"
    column = ClusteringConfig.model_validate({"text": {"column": "last_user_message_text"}})
    assert column.text_label() == "column:last_user_message_text"
    with pytest.raises(ValueError):
        ClusteringConfig.model_validate({"text": "everything"})


def test_fingerprint_follows_the_fit_settings_only() -> None:
    base = ClusteringConfig()
    assert base.fit_fingerprint() == ClusteringConfig().fit_fingerprint()
    assert base.fit_fingerprint() != ClusteringConfig(random_state=1).fit_fingerprint()
    assert (
        base.fit_fingerprint()
        == ClusteringConfig.model_validate({"name_with_llm": True, "tags": ["a"]}).fit_fingerprint()
    )


def _recipe_with(tmp_path: Path, clustering: dict | None, **meta_extra: object) -> Path:
    """A copy of customer_themes with keys of its clustering section replaced (None: removed)."""
    recipes = tmp_path / "recipes"
    source = REPO / "recipes" / "customer_themes"
    target = recipes / "customer_themes"
    target.mkdir(parents=True)
    for item in source.iterdir():
        (target / item.name).write_bytes(item.read_bytes())
    meta = yaml.safe_load((target / "meta.yml").read_text())
    meta["clustering"] = None if clustering is None else {**meta["clustering"], **clustering}
    meta.update(meta_extra)
    (target / "meta.yml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return recipes


def test_customer_themes_is_valid_and_runs_the_cluster_stage() -> None:
    recipe = load_recipe("customer_themes", REPO / "recipes")
    assert recipe.clustering is not None and recipe.clustering.recursive_depth == 2
    assert recipe.produced_columns()["cluster_label"] == "cluster"
    names = [s.name for s in chain.enabled(recipe)]
    assert names == ["fetch_leads", "fetch_conversations", "process", "cluster", "report"]
    assert chain.next_stage(recipe, "process").topic == "summarized"
    assert chain.next_stage(recipe, "cluster").topic == "clustered"
    demo = load_recipe("demo", REPO / "recipes")
    assert "cluster" not in [s.name for s in chain.enabled(demo)]


@pytest.mark.parametrize(
    ("clustering", "message"),
    [
        (
            {"reducer": {"kind": "tsne"}},
            r"clustering\.reducer\.kind: Input should be 'pca', 'umap' or 'none'",
        ),
        ({"recursive_depht": 2}, r"clustering\.recursive_depht: unknown key"),
        ({"clusterer": {"min_cluster_size": 30}, "recurse_min_size": 10}, "can never split"),
        ({"text": "llm_summary"}, r"text `llm_summary` needs an LLM answer field `summary`"),
        ({"text": {"column": "last_user_mesage_text"}}, r"did you mean `last_user_message_text`"),
    ],
)
def test_bad_sections_fail_on_load_naming_the_field(
    tmp_path: Path, clustering: dict, message: str
) -> None:
    recipes = _recipe_with(tmp_path, clustering)
    with pytest.raises(RecipeError, match=message):
        load_recipe("customer_themes", recipes)


def test_cluster_columns_need_a_clustering_section(tmp_path: Path) -> None:
    recipes = _recipe_with(tmp_path, None)
    with pytest.raises(RecipeError, match="`cluster_label`: no processor"):
        load_recipe("customer_themes", recipes)
