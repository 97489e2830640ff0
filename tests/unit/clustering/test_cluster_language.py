"""Themes do not split by language: detection and per-language centring."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from common.clustering.clusterers import build_clusterer
from common.clustering.config import ClusteringConfig
from common.clustering.language import centre_by_language, detect, language_ari
from common.clustering.recursive import fit_hierarchy
from common.clustering.reducers import build_reducer
from tests.unit.clustering.synthetic import unit


def test_detects_english_and_spanish_customer_messages() -> None:
    assert detect("how much would I pay monthly?") == "en"
    assert detect("is this a scam? who is this") == "en"
    assert detect("¿Cuánto pagaría al mes?") == "es"
    assert detect("hola buenas tardes, requisitos?") == "es"
    assert detect("ok 👍") == "und"


def _bilingual(seed: int = 0) -> tuple[np.ndarray, list[int], list[str]]:
    """Two themes in two languages; the language moves a vector further than the theme."""
    rng = np.random.default_rng(seed)
    dim = 24
    themes = unit(rng.normal(size=(2, dim))) * 0.6
    language = {"en": unit(rng.normal(size=(1, dim)))[0], "es": unit(rng.normal(size=(1, dim)))[0]}
    rows, topic, lang = [], [], []
    for t in range(2):
        for code in ("en", "es"):
            for _ in range(150):
                rows.append(themes[t] + language[code] * 1.5 + rng.normal(scale=0.05, size=dim))
                topic.append(t)
                lang.append(code)
    return unit(np.asarray(rows)), topic, lang


def _top_level(vectors: np.ndarray) -> list[str]:
    config = ClusteringConfig.model_validate(
        {"reducer": {"kind": "pca", "n_components": 8}, "recursive_depth": 1}
    )
    return fit_hierarchy(
        vectors, config, build_reducer(config.reducer), build_clusterer(config.clusterer)
    ).level(1)


def test_centring_per_language_clusters_by_theme_not_language() -> None:
    vectors, topic, lang = _bilingual()
    assert language_ari(_top_level(vectors), lang) > 0.3  # as is, each language apart
    labels = _top_level(centre_by_language(vectors, lang))
    assert language_ari(labels, lang) <= 0.1
    assert adjusted_rand_score(topic, labels) > 0.9


def _uneven(seed: int = 0) -> tuple[np.ndarray, list[int], list[str]]:
    """Two themes; Spanish texts lie along a language axis by how Spanish they read (0-3.5),
    English ones not at all: the language means differ and so does the spread along that axis."""
    rng = np.random.default_rng(seed)
    dim = 24
    themes = unit(rng.normal(size=(2, dim))) * 0.6
    axis = unit(rng.normal(size=(1, dim)))[0]
    rows, topic, lang = [], [], []
    for t in range(2):
        for code in ("en", "es"):
            for _ in range(150):
                strength = 0.0 if code == "en" else rng.uniform(0.0, 3.5)
                rows.append(themes[t] + axis * strength + rng.normal(scale=0.05, size=dim))
                topic.append(t)
                lang.append(code)
    return unit(np.asarray(rows)), topic, lang


def test_language_direction_is_projected_out_not_only_centred() -> None:
    # Centring alone leaves the Spanish spread along the language axis (ARI 0.25 here);
    # projecting the difference of the language means out removes it.
    vectors, topic, lang = _uneven()
    assert language_ari(_top_level(centre_by_language(vectors, lang, project=False)), lang) > 0.1
    labels = _top_level(centre_by_language(vectors, lang))
    assert language_ari(labels, lang) <= 0.1
    assert adjusted_rand_score(topic, labels) > 0.9
