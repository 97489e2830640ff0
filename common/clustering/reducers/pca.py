"""PCA with scikit-learn (randomised SVD on large inputs, seeded: deterministic)."""

from __future__ import annotations

import numpy as np

from common.errors import ConfigError


class PCAReducer:
    """Principal components, capped at what the data can have."""

    name = "pca"

    def __init__(self, n_components: int) -> None:
        self.n_components = n_components

    def fit_transform(
        self, vectors: np.ndarray, *, random_state: int, fit_rows: np.ndarray | None = None
    ) -> np.ndarray:
        """The first ``n_components`` principal components of ``vectors`` (fitted on
        ``fit_rows`` when given)."""
        try:
            from sklearn.decomposition import PCA
        except ImportError as err:
            raise ConfigError(
                "reducer `pca` needs scikit-learn; run `pip install scikit-learn`",
                where="clustering.reducer.kind",
            ) from err
        fit = vectors if fit_rows is None else vectors[fit_rows]
        n, d = fit.shape
        k = min(self.n_components, d, max(n - 1, 1))
        if k >= d or n < 3:
            return vectors.astype(np.float32)
        pca = PCA(n_components=k, random_state=random_state, svd_solver="auto")
        pca.fit(fit)
        return np.asarray(pca.transform(vectors), dtype=np.float32)
