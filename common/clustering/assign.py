"""The fitted clusters as stored state, and assigning new texts to them without refitting.

Each cluster is kept as a centroid **in the embedding space** (the normalised
mean of its members' unit vectors) with a radius: the
``assign_radius_quantile`` of its members' cosine distances to the centroid,
times ``assign_radius_scale``. A new text descends the tree from the root: at
each level it goes to the nearest child centroid if it lies within that
child's radius, else to the level's noise (``root.noise``, ``root.0.noise``).
Because the centroids live in the embedding space, assignment needs neither
the reducer nor the clusterer (UMAP models need not be stored), and it is
exact to reproduce.

The state is one JSON object in the BlobStore, ``clusters/<recipe>/model/state.json``;
``clusters/<recipe>/model/refit_requested.json`` (written by `request_refit`)
asks the next incremental run to fit again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from common.clustering.config import ClusteringConfig
from common.clustering.recursive import NOISE, ROOT, ClusterNode
from common.ports import BlobStore

STATE_VERSION = 1
MODEL_PREFIX = "clusters"


def state_key(recipe: str) -> str:
    """``clusters/<recipe>/model/state.json``."""
    return f"{MODEL_PREFIX}/{recipe}/model/state.json"


def refit_key(recipe: str) -> str:
    """``clusters/<recipe>/model/refit_requested.json``."""
    return f"{MODEL_PREFIX}/{recipe}/model/refit_requested.json"


@dataclass
class ClusterState:
    """One stored cluster (or noise group)."""

    label: str
    parent: str
    depth: int
    size: int
    noise: bool = False
    centroid: list[float] | None = None
    radius: float | None = None
    name: str = ""
    description: str = ""
    keywords: list[str] = field(default_factory=list)


@dataclass
class ModelState:
    """What an incremental run needs from the last full fit."""

    recipe: str
    fitted_at: str
    """ISO 8601, UTC."""
    fingerprint: str
    """`ClusteringConfig.fit_fingerprint` of the fit."""
    run_id: str
    texts: int
    clusters: list[ClusterState]
    version: int = STATE_VERSION

    def to_json(self) -> bytes:
        """Compact JSON bytes."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ModelState:
        """Parse stored state."""
        raw = json.loads(data)
        clusters = [ClusterState(**c) for c in raw.pop("clusters")]
        return cls(clusters=clusters, **raw)


def centroids(
    nodes: Sequence[ClusterNode], vectors: np.ndarray, config: ClusteringConfig
) -> dict[str, tuple[np.ndarray, float]]:
    """Centroid (unit vector) and assignment radius of every non-noise cluster."""
    out: dict[str, tuple[np.ndarray, float]] = {}
    for node in nodes:
        if node.noise:
            continue
        members = vectors[node.members]
        mean = members.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        centre = mean / norm if norm > 0 else mean
        distances = 1.0 - members @ centre
        radius = float(np.quantile(distances, config.assign_radius_quantile))
        out[node.label] = (centre.astype(np.float32), radius * config.assign_radius_scale)
    return out


def build_state(
    *,
    recipe: str,
    run_id: str,
    config: ClusteringConfig,
    nodes: Sequence[ClusterNode],
    vectors: np.ndarray,
    names: dict[str, tuple[str, str]],
    keywords: dict[str, list[str]],
    now: datetime,
) -> ModelState:
    """The state to store after a full fit (``nodes``: every cluster and noise group)."""
    centres = centroids(nodes, vectors, config)
    clusters = []
    for node in nodes:
        centre = centres.get(node.label)
        name, description = names.get(node.label, ("", ""))
        clusters.append(
            ClusterState(
                label=node.label,
                parent=node.parent,
                depth=node.depth,
                size=node.size,
                noise=node.noise,
                centroid=[round(float(x), 7) for x in centre[0]] if centre else None,
                radius=round(centre[1], 7) if centre else None,
                name=name,
                description=description,
                keywords=keywords.get(node.label, []),
            )
        )
    return ModelState(
        recipe=recipe,
        fitted_at=now.astimezone(UTC).isoformat(),
        fingerprint=config.fit_fingerprint(),
        run_id=run_id,
        texts=int(vectors.shape[0]),
        clusters=clusters,
    )


def assign(vectors: np.ndarray, state: ModelState) -> list[str]:
    """Each vector's leaf label in the stored tree (nearest centroid within its radius)."""
    n = vectors.shape[0]
    children: dict[str, list[ClusterState]] = {}
    for cluster in state.clusters:
        if not cluster.noise and cluster.centroid is not None:
            children.setdefault(cluster.parent, []).append(cluster)
    leaf = np.array([f"{ROOT}.{NOISE}"] * n, dtype=object)
    frontier: list[tuple[str, np.ndarray]] = [(ROOT, np.arange(n))]
    while frontier:
        parent, rows = frontier.pop()
        kids = children.get(parent)
        if not kids or rows.size == 0:
            continue  # a leaf cluster: its rows keep its label
        matrix = np.asarray([k.centroid for k in kids], dtype=np.float32)
        radius = np.asarray([k.radius for k in kids], dtype=np.float32)
        distance = 1.0 - vectors[rows] @ matrix.T
        nearest = distance.argmin(axis=1)
        inside = distance[np.arange(rows.size), nearest] <= radius[nearest]
        leaf[rows[~inside]] = f"{parent}.{NOISE}"
        for j, kid in enumerate(kids):
            picked = rows[inside & (nearest == j)]
            if picked.size:
                leaf[picked] = kid.label
                frontier.append((kid.label, picked))
    return [str(label) for label in leaf]


def load_state(blobs: BlobStore, recipe: str) -> ModelState | None:
    """The stored state of ``recipe``, or None (never fitted, or an older format)."""
    key = state_key(recipe)
    if not blobs.exists(key):
        return None
    try:
        state = ModelState.from_json(blobs.get_bytes(key))
    except (ValueError, TypeError, KeyError):
        return None  # unreadable or older: a refit replaces it
    return state if state.version == STATE_VERSION else None


def load_state_versioned(blobs: BlobStore, recipe: str) -> tuple[ModelState | None, int]:
    """The stored state of ``recipe`` (None as `load_state`) and the object's generation.

    The generation is ``0`` when nothing is stored: pass it to `save_state` so that
    the write only happens while nobody else stored a model since this read.
    """
    from common.ports import BlobNotFound

    key = state_key(recipe)
    try:
        found = blobs.get_versioned(key)
    except BlobNotFound:
        return None, 0
    try:
        state = ModelState.from_json(found.data)
    except (ValueError, TypeError, KeyError):
        return None, found.generation  # unreadable or older: a refit replaces it
    return (state if state.version == STATE_VERSION else None), found.generation


def save_state(
    blobs: BlobStore, state: ModelState, *, if_generation_match: int | None = None
) -> str:
    """Store ``state``; returns its key.

    Raises:
        GenerationMismatch: ``if_generation_match`` was given and another run stored
            a model since it was read (nothing was written).
    """
    key = state_key(state.recipe)
    blobs.put_bytes(
        key, state.to_json(), "application/json", if_generation_match=if_generation_match
    )
    return key


def request_refit(blobs: BlobStore, recipe: str, *, now: datetime | None = None) -> None:
    """Ask the next incremental run of ``recipe`` to fit its clusters again."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    blobs.put_bytes(
        refit_key(recipe), json.dumps({"requested_at": moment}).encode(), "application/json"
    )


def refit_reason(
    state: ModelState | None,
    config: ClusteringConfig,
    blobs: BlobStore,
    recipe: str,
    *,
    now: datetime,
    force: bool = False,
) -> str | None:
    """Why this run must fit from scratch, or None when it can assign to ``state``."""
    if force:
        return "refit forced"
    if config.refit == "always":
        return "refit: always"
    if state is None:
        return "no stored clusters"
    if state.fingerprint != config.fit_fingerprint():
        return "clustering settings changed"
    fitted = datetime.fromisoformat(state.fitted_at)
    if config.refit_after_days is not None and now - fitted >= timedelta(
        days=config.refit_after_days
    ):
        return f"clusters older than {config.refit_after_days} days"
    key = refit_key(recipe)
    if blobs.exists(key):
        requested: dict[str, Any] = json.loads(blobs.get_bytes(key))
        if datetime.fromisoformat(requested["requested_at"]) > fitted:
            return "refit requested"
    return None
