"""UMAP (umap-learn, an optional extra: it pulls numba, ~20 s first import).

A fixed ``random_state`` makes UMAP deterministic but single-threaded (that is
umap-learn's trade-off); at 50k texts expect tens of seconds per fit. Inputs
too small for a neighbour graph fall back to PCA.
"""

from __future__ import annotations

import warnings

import numpy as np

from common.clustering.reducers.pca import PCAReducer
from common.errors import ConfigError


class UMAPReducer:
    """Uniform Manifold Approximation and Projection."""

    name = "umap"

    def __init__(
        self,
        n_components: int,
        *,
        n_neighbors: int = 15,
        min_dist: float = 0.0,
        metric: str = "cosine",
    ) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric

    def fit_transform(
        self, vectors: np.ndarray, *, random_state: int, fit_rows: np.ndarray | None = None
    ) -> np.ndarray:
        """The UMAP embedding of ``vectors`` in ``n_components`` dimensions (fitted on
        ``fit_rows`` when given, the other rows placed with ``transform``)."""
        try:
            import umap
        except ImportError as err:
            raise ConfigError(
                "reducer `umap` needs umap-learn; run `pip install umap-learn` "
                "(or use `kind: pca`)",
                where="clustering.reducer.kind",
            ) from err
        n = vectors.shape[0]
        if n <= max(self.n_components + 2, 10):
            return PCAReducer(self.n_components).fit_transform(
                vectors, random_state=random_state, fit_rows=fit_rows
            )
        model = umap.UMAP(
            n_components=self.n_components,
            n_neighbors=min(self.n_neighbors, n - 1),
            min_dist=self.min_dist,
            metric=self.metric,
            random_state=random_state,
            init="spectral" if n > 4 * self.n_components else "random",
        )
        with warnings.catch_warnings():
            # "n_jobs value 1 overridden to 1 by setting random_state": seeded is the point.
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            if fit_rows is None:
                return np.asarray(model.fit_transform(vectors), dtype=np.float32)
            model.fit(vectors[fit_rows])
            return np.asarray(model.transform(vectors), dtype=np.float32)
