"""HDBSCAN (the ``hdbscan`` package: Cython, no numba, deterministic for the same input).

``metric: cosine`` is run as euclidean distance between L2-normalised rows:
the same neighbour order as cosine distance, but it keeps the fast tree-based
algorithms (hdbscan's own cosine needs the O(n²) generic algorithm).
"""

from __future__ import annotations

import numpy as np

from common.errors import ConfigError


class HDBSCANClusterer:
    """Density-based clusters of varying density; the rest is noise."""

    name = "hdbscan"

    def __init__(
        self,
        *,
        min_samples: int | None = None,
        metric: str = "euclidean",
        cluster_selection_method: str = "eom",
        cluster_selection_epsilon: float = 0.0,
    ) -> None:
        self.min_samples = min_samples
        self.metric = metric
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon

    def fit_predict(self, vectors: np.ndarray, *, min_cluster_size: int) -> np.ndarray:
        """Labels ``0..k-1`` and ``-1``; fewer rows than ``min_cluster_size`` are all noise."""
        n = vectors.shape[0]
        if n < max(min_cluster_size, 2) or n < 3:
            return np.full(n, -1, dtype=np.int64)
        try:
            import hdbscan
        except ImportError as err:
            raise ConfigError(
                "clusterer `hdbscan` needs the hdbscan package; run `pip install hdbscan`",
                where="clustering.clusterer.kind",
            ) from err
        data = np.asarray(vectors, dtype=np.float64)
        if self.metric == "cosine":
            norms = np.linalg.norm(data, axis=1, keepdims=True)
            data = data / np.where(norms == 0, 1.0, norms)
        min_samples = min(self.min_samples or min_cluster_size, n - 1)
        model = hdbscan.HDBSCAN(
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            metric="euclidean",
            cluster_selection_method=self.cluster_selection_method,
            cluster_selection_epsilon=self.cluster_selection_epsilon,
            core_dist_n_jobs=1,  # same result, no worker processes inside a function
        )
        return np.asarray(model.fit_predict(data), dtype=np.int64)
