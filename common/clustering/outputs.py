"""What a clustering run writes to the BlobStore, under ``output_run/<recipe>/<stamp>/``.

- ``cluster_assignments.csv``: one row per text: lead key, leaf label and name,
  the label at every depth, tags (when configured) and the text itself.
- ``cluster_analysis.csv``: one row per cluster and noise group at every depth:
  size, share of all texts and of the parent, name, description, keywords,
  representative samples. With guided topics, each cluster's ``new_theme_size``
  (its texts without a topic), then one row per topic (depth 0, ``topic.<i>``)
  and one for the new themes (``topic.new``), with ``previous_size`` and
  ``change`` since the previous run (empty on a first run).
- ``clusters_depth<N>.png``: per depth, a 2-D map of the texts (the first two
  principal components of the embeddings) coloured by cluster, beside the
  clusters' sizes.
- ``summary_report.txt``: the figures a person reads first.

matplotlib (Agg backend, no display) loads only here.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from common.clustering.config import (
    TAGS_COLUMN,
    TOPIC_COLUMN,
    TOPIC_SCORE_COLUMN,
    ClusteringConfig,
)
from common.clustering.pipeline import ClusterRun
from common.ports import BlobStore

MAX_SCATTER_POINTS = 20_000
"""Points drawn per map (a seeded sample above this)."""
MAX_BARS = 30
COLOURED = 20
"""Clusters with their own colour per map; the rest are grey."""


def assignments_frame(run: ClusterRun) -> pl.DataFrame:
    """``cluster_assignments.csv`` as a frame."""
    names = run.names()
    columns: dict[str, list[str]] = {
        "lead_key": run.lead_keys,
        "cluster_label": run.leaf,
        "cluster_name": [names.get(label, "") for label in run.leaf],
    }
    for d in range(1, run.depth + 1):
        level = run.level(d)
        columns[f"cluster_depth{d}"] = level
        columns[f"cluster_name_depth{d}"] = [names.get(label, "") for label in level]
    if run.tags is not None:
        columns[TAGS_COLUMN] = run.tags
    if run.topics is not None and run.topic_scores is not None:
        columns[TOPIC_COLUMN] = run.topics
        columns[TOPIC_SCORE_COLUMN] = [f"{x:.4f}" for x in run.topic_scores]
    columns["text"] = run.texts
    return pl.DataFrame(columns, schema={k: pl.String for k in columns})


NEW_THEMES_LABEL = "topic.new"
NEW_THEMES_NAME = "New themes"


def analysis_frame(run: ClusterRun, config: ClusteringConfig | None = None) -> pl.DataFrame:
    """``cluster_analysis.csv`` as a frame (topic rows when ``run`` has guided topics)."""
    rows: dict[str, list[Any]] = {
        "cluster_label": [c.label for c in run.clusters],
        "parent": [c.parent for c in run.clusters],
        "depth": [c.depth for c in run.clusters],
        "size": [c.size for c in run.clusters],
        "share": [c.share for c in run.clusters],
        "share_of_parent": [c.share_of_parent for c in run.clusters],
        "is_noise": [c.noise for c in run.clusters],
        "name": [c.name for c in run.clusters],
        "description": [c.description for c in run.clusters],
        "keywords": [", ".join(c.keywords) for c in run.clusters],
        "samples": [" | ".join(c.samples) for c in run.clusters],
    }
    schema: dict[str, Any] = {
        "cluster_label": pl.String,
        "parent": pl.String,
        "depth": pl.Int64,
        "size": pl.Int64,
        "share": pl.Float64,
        "share_of_parent": pl.Float64,
        "is_noise": pl.Boolean,
        "name": pl.String,
        "description": pl.String,
        "keywords": pl.String,
        "samples": pl.String,
    }
    topics = run.stats.get("topics")
    if run.topics is not None and topics:
        rows["new_theme_size"] = [c.new_theme_size for c in run.clusters]
        rows["previous_size"] = [None] * len(run.clusters)
        rows["change"] = [None] * len(run.clusters)
        schema.update(new_theme_size=pl.Int64, previous_size=pl.Int64, change=pl.Int64)
        _topic_rows(rows, topics, config, len(run.texts))
    return pl.DataFrame(rows, schema=schema)


def _topic_rows(
    rows: dict[str, list[Any]],
    topics: dict[str, Any],
    config: ClusteringConfig | None,
    total: int,
) -> None:
    """Append one row per guided topic and one for the new themes (depth 0, in place)."""
    described = {t.name: t.description for t in config.topics} if config else {}
    previous = topics.get("previous_sizes")
    entries = [
        (f"topic.{i}", name, described.get(name, ""), size, (previous or {}).get(name))
        for i, (name, size) in enumerate(topics["sizes"].items())
    ]
    entries.append(
        (
            NEW_THEMES_LABEL,
            NEW_THEMES_NAME,
            "texts no listed topic describes (discovered in the clusters above)",
            topics["new_themes"],
            topics.get("previous_new_themes") if previous is not None else None,
        )
    )
    for label, name, description, size, before in entries:
        share = round(size / total, 4) if total else 0.0
        for column, value in (
            ("cluster_label", label),
            ("parent", ""),
            ("depth", 0),
            ("size", size),
            ("share", share),
            ("share_of_parent", share),
            ("is_noise", False),
            ("name", name),
            ("description", description),
            ("keywords", ""),
            ("samples", ""),
            ("new_theme_size", size if label == NEW_THEMES_LABEL else 0),
            ("previous_size", before),
            ("change", None if before is None else size - before),
        ):
            rows[column].append(value)


def _csv(frame: pl.DataFrame) -> bytes:
    from common.reporting.csv_safety import neutralize_formulas

    buffer = io.BytesIO()
    neutralize_formulas(frame).write_csv(buffer)
    return buffer.getvalue()


def project_2d(vectors: np.ndarray, random_state: int) -> np.ndarray:
    """Two principal components of ``vectors`` (zeros when there are too few)."""
    if vectors.shape[0] < 3 or vectors.shape[1] < 2:
        return np.zeros((vectors.shape[0], 2), dtype=np.float32)
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=random_state).fit_transform(vectors)


def depth_figure(run: ClusterRun, depth: int, coords: np.ndarray, random_state: int) -> bytes:
    """PNG bytes: the map coloured by the clusters at ``depth`` and their size bars."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    labels = np.asarray(run.level(depth), dtype=object)
    present = set(labels.tolist())
    clusters = sorted((c for c in run.clusters if c.label in present), key=lambda c: -c.size)
    real = [c for c in clusters if not c.noise]
    colour_of = {c.label: plt.get_cmap("tab20")(i % 20) for i, c in enumerate(real[:COLOURED])}

    rows = np.arange(labels.size)
    if rows.size > MAX_SCATTER_POINTS:
        rows = np.sort(
            np.random.default_rng(random_state).choice(rows, MAX_SCATTER_POINTS, replace=False)
        )
    figure, (scatter, bars) = plt.subplots(
        1, 2, figsize=(15, 7), gridspec_kw={"width_ratios": [3, 2]}, layout="constrained"
    )
    grey = [i for i in rows if labels[i] not in colour_of]
    if grey:
        scatter.scatter(coords[grey, 0], coords[grey, 1], s=3, c="#cccccc", label="noise / other")
    for label, colour in colour_of.items():
        chosen = rows[labels[rows] == label]
        scatter.scatter(coords[chosen, 0], coords[chosen, 1], s=4, color=colour, label=label)
    scatter.set_title(f"Texts by cluster at depth {depth} (first two principal components)")
    scatter.set_xticks([])
    scatter.set_yticks([])
    if len(colour_of) <= 12:
        scatter.legend(markerscale=3, fontsize=7, loc="best")

    shown = clusters[:MAX_BARS][::-1]
    names = [f"{c.label}  {c.name[:40]}" for c in shown]
    bars.barh(
        names,
        [c.size for c in shown],
        color=[colour_of.get(c.label, "#bbbbbb") for c in shown],
    )
    bars.set_title(f"Cluster sizes (of {len(run.texts)} texts)")
    bars.tick_params(axis="y", labelsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def summary_report(run: ClusterRun, config: ClusteringConfig, recipe: str, run_id: str) -> str:
    """``summary_report.txt``."""
    total = len(run.texts)
    lines = [
        f"Clustering summary: recipe {recipe}, run {run_id}",
        "",
        f"Texts clustered: {total} ({config.text_label()})",
        f"Embedding: {config.embedding.provider} / {config.embedding.model_name()}",
        f"Reducer: {config.reducer.kind} ({config.reducer.n_components} components); "
        f"clusterer: {config.clusterer.kind} (min size {config.clusterer.min_cluster_size}, "
        f"min share {config.clusterer.min_cluster_pct:.1%}); depth {config.recursive_depth}; "
        f"random_state {config.random_state}",
        f"Mode: {run.mode}" + (f" ({run.refit_reason})" if run.refit_reason else ""),
    ]
    embedding = run.stats.get("embedding", {})
    if embedding:
        lines.append(
            f"Embeddings: {embedding.get('unique', 0)} distinct texts, "
            f"{embedding.get('cache_hits', 0)} from the cache, {embedding.get('embedded', 0)} new"
        )
    language = run.stats.get("language")
    if language:
        spoken = ", ".join(f"{k} {v}" for k, v in language["texts"].items())
        lines.append(
            f"Languages: {spoken}; centred per language: "
            f"{'yes' if language['centred'] else 'no'}; ARI between depth-1 clusters and "
            f"language: {language['ari_depth1']:.3f}"
        )
    topics = run.stats.get("topics")
    if topics:
        change = topics.get("change")

        def since(value: int | None) -> str:
            return "" if value is None else f" ({value:+d})"

        sizes = ", ".join(
            f"{k} {v}{since(change[k]) if change else ''}" for k, v in topics["sizes"].items()
        )
        lines.append(
            f"Guided topics: {sizes}; new themes (no topic): {topics['new_themes']}"
            + since(topics.get("new_themes_change"))
            + (f"; change since run {topics['previous_run']}" if change else "")
        )
        found = topics.get("new_theme_clusters") or []
        if found:
            lines.append(
                "Largest new themes: "
                + "; ".join(f"{c['label']} {c['name']} {c['size']}/{c['of']}" for c in found[:5])
            )
    timings = run.stats.get("timings", {})
    if timings:
        lines.append("Seconds: " + ", ".join(f"{k[:-2]} {v:.2f}" for k, v in timings.items()))
    for d in range(1, run.depth + 1):
        at = [c for c in run.clusters if c.depth == d]
        noise = sum(c.size for c in at if c.noise)
        lines += [
            "",
            f"Depth {d}: {sum(1 for c in at if not c.noise)} clusters, "
            f"{noise} texts in noise groups ({noise / total:.1%})"
            if total
            else f"Depth {d}: -",
        ]
        for c in sorted(at, key=lambda c: -c.size)[:15]:
            lines.append(
                f"  {c.label:<18} {c.size:>7} {c.share:>7.1%}  {c.name}"
                + (f"  [{', '.join(c.keywords[:5])}]" if c.keywords else "")
            )
    if run.tags is not None:
        counts: dict[str, int] = {}
        for value in run.tags:
            for tag in filter(None, value.split("; ")):
                counts[tag] = counts.get(tag, 0) + 1
        lines += ["", "Tags: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-")]
    return "\n".join(lines) + "\n"


def write_outputs(
    run: ClusterRun,
    *,
    blobs: BlobStore,
    key: Callable[[str], str],
    config: ClusteringConfig,
    recipe: str,
    run_id: str,
) -> dict[str, str]:
    """Write every output; returns output name → URL.

    Args:
        run: What `run_clustering` returned.
        blobs: Where to write.
        key: File name → object key (``output_run/<recipe>/<stamp>/<name>``).
        config: The clustering section (for the report).
        recipe: Recipe name.
        run_id: The run.
    """
    written: dict[str, str] = {}

    def put(name: str, data: bytes, content_type: str) -> None:
        blobs.put_bytes(key(name), data, content_type)
        written[name] = blobs.url(key(name))

    put("cluster_assignments.csv", _csv(assignments_frame(run)), "text/csv")
    put("cluster_analysis.csv", _csv(analysis_frame(run, config)), "text/csv")
    if run.texts:
        coords = project_2d(run.vectors, config.random_state)
        for d in range(1, run.depth + 1):
            put(
                f"clusters_depth{d}.png",
                depth_figure(run, d, coords, config.random_state),
                "image/png",
            )
    put(
        "summary_report.txt",
        summary_report(run, config, recipe, run_id).encode(),
        "text/plain; charset=utf-8",
    )
    return written
