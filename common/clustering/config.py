"""The recipe's ``clustering`` section: what to embed, how to reduce, cluster and name.

Example (``recipes/customer_themes/meta.yml``)::

    clustering:
      text: user_messages            # or llm_summary, or {column: last_user_message_text}
      embedding: {provider: local}   # local | openai | gemini
      reducer: {kind: pca, n_components: 20}
      clusterer: {min_cluster_size: 10, min_cluster_pct: 0.02}
      recursive_depth: 2
      random_state: 42
      name_with_llm: false
      tags: [pricing, documents, trust]
      refit: incremental

Unknown keys are errors everywhere, like the rest of the recipe. Importing this
module costs only pydantic.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.llm.config import RateLimits

DEFAULT_EMBEDDING_MODELS = {
    "local": "all-MiniLM-L6-v2",
    "openai": "text-embedding-3-small",
    "gemini": "text-embedding-005",
}
"""Embedding model used when the recipe names none."""

LLM_SUMMARY_FIELD = "summary"
"""The LLM answer field that ``text: llm_summary`` embeds."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnText(_Strict):
    """Embed one column of the run's merged frame (a lead, processor or LLM column)."""

    column: str = Field(min_length=1, description="Column whose text is embedded.")


TextSource = Literal["user_messages", "llm_summary"] | ColumnText
"""``user_messages`` (every user message of the conversation, in order),
``llm_summary`` (the LLM answer's ``summary`` field) or ``{column: NAME}``."""


class EmbeddingConfig(_Strict):
    """How texts become vectors."""

    provider: Literal["local", "openai", "gemini"] = Field(
        "local",
        description="`local` (all-MiniLM-L6-v2 on onnxruntime, offline), `openai` or `gemini` "
        "(Vertex AI embeddings through google-genai).",
    )
    model: str | None = Field(None, description="Model name; each provider has a default.")
    dimensions: int | None = Field(
        None,
        ge=8,
        le=8192,
        description="Output dimensions for models that can shorten their vectors "
        "(OpenAI text-embedding-3, Vertex AI); None: the model's own.",
    )
    batch_size: int = Field(64, ge=1, le=2048, description="Texts per model call / request.")
    max_chars: int = Field(
        2_000, ge=16, description="Texts are cut to this many characters before embedding."
    )
    limits: RateLimits = Field(
        default_factory=lambda: RateLimits(concurrency=4),
        description="Concurrency, RPM, retries and timeouts of the remote providers.",
    )
    cache_ttl_days: int = Field(
        180, ge=1, description="How long an embedding stays in the content-addressed cache."
    )

    def model_name(self) -> str:
        """The effective model name."""
        return self.model or DEFAULT_EMBEDDING_MODELS[self.provider]


class ReducerConfig(_Strict):
    """Dimensionality reduction before clustering (fitted again inside each cluster)."""

    kind: Literal["pca", "umap", "none"] = Field(
        "pca",
        description="`pca` (fast, deterministic), `umap` (needs umap-learn; slow, often "
        "better on real text) or `none` (cluster the raw vectors).",
    )
    n_components: int = Field(20, ge=2, le=1024, description="Dimensions kept.")
    n_neighbors: int = Field(15, ge=2, le=500, description="UMAP: neighbourhood size.")
    min_dist: float = Field(0.0, ge=0.0, le=1.0, description="UMAP: minimum distance.")
    metric: Literal["cosine", "euclidean"] = Field(
        "cosine", description="UMAP: distance between input vectors."
    )


class ClustererConfig(_Strict):
    """Density clustering of the reduced vectors."""

    kind: Literal["hdbscan"] = Field("hdbscan", description="The clustering algorithm.")
    min_cluster_size: int = Field(
        15, ge=2, description="Smallest cluster, in texts, at every level."
    )
    min_cluster_pct: float = Field(
        0.0,
        ge=0.0,
        le=0.5,
        description="Smallest cluster as a fraction of the texts clustered at that level "
        "(0.02 = 2 %); the larger of this and `min_cluster_size` applies.",
    )
    min_samples: int | None = Field(
        None,
        ge=1,
        description="HDBSCAN min_samples: how conservative (more noise) the clustering is; "
        "None: `min_cluster_size` (the absolute floor, not the one `min_cluster_pct` raises).",
    )
    metric: Literal["euclidean", "cosine"] = Field(
        "euclidean",
        description="Distance between reduced vectors; `cosine` is computed as euclidean "
        "distance between L2-normalised vectors (same order, fast tree search).",
    )
    cluster_selection_method: Literal["eom", "leaf"] = Field(
        "eom", description="HDBSCAN: `eom` (fewer, larger clusters) or `leaf` (finer)."
    )
    cluster_selection_epsilon: float = Field(
        0.0, ge=0.0, description="HDBSCAN: merge clusters closer than this."
    )
    fit_sample: int | None = Field(
        5_000,
        ge=100,
        description="Each level is fitted on a seeded sample of at most this many texts "
        "(the floors and `min_samples` scaled to it) and every other text takes the label "
        "of its nearest sampled neighbour; None: fit on every text (slow above ~10,000).",
    )


class NamingLLM(_Strict):
    """The LLM that names clusters, when the recipe's own `llm` section should not be used."""

    provider: Literal["local", "openai", "gemini"] = "local"
    model: str | None = None
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint.")
    temperature: float = Field(0.0, ge=0, le=2)
    max_output_tokens: int = Field(300, ge=16, le=32_768)
    limits: RateLimits = Field(default_factory=lambda: RateLimits())


class NamingConfig(_Strict):
    """Keywords, representative texts and the LLM's names."""

    keywords: int = Field(10, ge=1, le=50, description="Distinctive keywords kept per cluster.")
    samples: int = Field(
        5, ge=1, le=30, description="Representative texts (nearest the centroid) per cluster."
    )
    sample_chars: int = Field(
        300, ge=20, le=4_000, description="Each representative text is cut to this length."
    )
    llm: NamingLLM | None = Field(
        None,
        description="Provider/model for naming; default: the recipe's `llm` section, else the "
        "local model. LR_LLM_PROVIDER / LR_LLM_MODEL override both.",
    )


class TopicConfig(_Strict):
    """One theme the business already tracks (guided themes)."""

    name: str = Field(min_length=1, max_length=80, description="The topic's name.")
    description: str = Field("", max_length=500, description="One line on what it covers.")
    examples: list[str] = Field(
        default_factory=list, max_length=50, description="Example customer messages."
    )


class ClusteringConfig(_Strict):
    """``clustering:`` in meta.yml."""

    text: TextSource = Field("user_messages", description="Which text of each lead to embed.")
    embedding: EmbeddingConfig = Field(default_factory=lambda: EmbeddingConfig())
    reducer: ReducerConfig = Field(default_factory=lambda: ReducerConfig())
    clusterer: ClustererConfig = Field(default_factory=lambda: ClustererConfig())
    recursive_depth: int = Field(
        2, ge=1, le=5, description="Levels of clusters (1 = flat; 2-3 usual)."
    )
    recurse_min_size: int | None = Field(
        None,
        ge=2,
        description="Only clusters at least this large are split again "
        "(None: twice `min_cluster_size`).",
    )
    language_centring: bool = Field(
        False,
        description="Subtract each detected language's mean vector (English/Spanish) before "
        "clustering, so themes do not split by language (an English model separates them).",
    )
    recurse_min_silhouette: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="A cluster's split is kept only when the silhouette of its sub-clusters "
        "(on the fitted rows, reduced space, noise left out) reaches this; below it the "
        "cluster stays a leaf. None: every split with two or more sub-clusters is kept.",
    )
    random_state: int = Field(42, description="Seed: the same texts give the same clusters.")
    name_with_llm: bool = Field(
        False, description="Ask an LLM for each cluster's name and description."
    )
    naming: NamingConfig = Field(default_factory=lambda: NamingConfig())
    tags: list[str] = Field(
        default_factory=list,
        description="Predefined categories; each text gets those that apply (`tags` column).",
    )
    topics: list[TopicConfig] = Field(
        default_factory=list,
        description="Guided themes: texts are assigned to these topics (over-clustering, "
        "then each small cluster mapped to its most similar topic); the rest are discovered "
        "as new themes.",
    )
    topic_clusters: int = Field(
        300, ge=2, le=2_000, description="Small clusters the texts are split into for mapping."
    )
    topic_propagation: float = Field(
        0.85,
        ge=0.0,
        lt=1.0,
        description="How much a small cluster's topic follows the clusters its texts lie "
        "between (label spreading); 0: each cluster on its own.",
    )
    topic_min_similarity: float = Field(
        0.1,
        ge=-1.0,
        le=1.0,
        description="A small cluster whose centred cosine similarity to its topic's nearest "
        "description or example stays below this is not assigned (a new theme). On the "
        "benchmark, where every text has a listed topic, 0.1 assigns all; raise it (0.2-0.3) "
        "when the inbox holds themes outside the list.",
    )
    tag_with: Literal["embedding", "llm"] = Field(
        "embedding",
        description="`embedding`: the most similar category above `tag_min_similarity` "
        "(offline, no calls); `llm`: the naming LLM picks up to three per text.",
    )
    tag_min_similarity: float = Field(
        0.25, ge=-1.0, le=1.0, description="`embedding` tagging: lowest cosine similarity."
    )
    refit: Literal["always", "incremental"] = Field(
        "always",
        description="`always`: fit the clusters on every run; `incremental`: assign each "
        "run's texts to the stored clusters, refitting only when there are none, the "
        "settings changed, `refit_after_days` passed or a refit was requested.",
    )
    refit_after_days: int | None = Field(
        30, ge=1, description="`incremental`: refit when the stored clusters are this old."
    )
    assign_radius_quantile: float = Field(
        0.95,
        gt=0.0,
        le=1.0,
        description="`incremental`: a cluster's radius is this quantile of its members' "
        "cosine distance to the centroid ...",
    )
    assign_radius_scale: float = Field(
        1.25, ge=1.0, le=5.0, description="... times this; farther texts are noise."
    )

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        cleaned = [t.strip() for t in value]
        if any(not t for t in cleaned):
            raise ValueError("tags must be non-empty strings")
        dupes = sorted({t for t in cleaned if cleaned.count(t) > 1})
        if dupes:
            raise ValueError(f"tags listed twice: {', '.join(dupes)}")
        return cleaned

    @model_validator(mode="after")
    def _sizes(self) -> ClusteringConfig:
        floor = self.recurse_min_size
        if floor is not None and floor < self.clusterer.min_cluster_size:
            raise ValueError(
                f"recurse_min_size ({floor}) is below clusterer.min_cluster_size "
                f"({self.clusterer.min_cluster_size}): such a cluster can never split"
            )
        return self

    def split_floor(self) -> int:
        """Smallest cluster that is split again."""
        return self.recurse_min_size or 2 * self.clusterer.min_cluster_size

    def text_label(self) -> str:
        """``user_messages``, ``llm_summary`` or ``column:NAME``, for reports."""
        return self.text if isinstance(self.text, str) else f"column:{self.text.column}"

    def fit_fingerprint(self) -> str:
        """Hash of every setting that changes the fitted clusters (not naming or tagging).

        Stored with the model: an incremental run refits when it differs.
        """
        material = {
            "text": self.text_label(),
            "embedding": {
                "provider": self.embedding.provider,
                "model": self.embedding.model_name(),
                "dimensions": self.embedding.dimensions,
                "max_chars": self.embedding.max_chars,
            },
            "reducer": self.reducer.model_dump(),
            "clusterer": self.clusterer.model_dump(),
            "recursive_depth": self.recursive_depth,
            "split_floor": self.split_floor(),
            "recurse_min_silhouette": self.recurse_min_silhouette,
            "language_centring": self.language_centring,
            "random_state": self.random_state,
            "assign": [self.assign_radius_quantile, self.assign_radius_scale],
        }
        blob = json.dumps(material, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


OUTPUT_COLUMNS = ("cluster_label", "cluster_name")
"""Columns the cluster step adds to the run's analysis CSV."""
TAGS_COLUMN = "tags"
"""Column added when the recipe lists tags."""


TOPIC_COLUMN = "topic"
"""Column added when the recipe lists topics (the guided topic, empty for new themes)."""
TOPIC_SCORE_COLUMN = "topic_score"
"""The cosine similarity of the text's small cluster to its topic."""


def produced_columns(config: ClusteringConfig) -> tuple[str, ...]:
    """The analysis columns a recipe with this clustering section gets."""
    topics = (TOPIC_COLUMN, TOPIC_SCORE_COLUMN) if config.topics else ()
    return OUTPUT_COLUMNS + ((TAGS_COLUMN,) if config.tags else ()) + topics
