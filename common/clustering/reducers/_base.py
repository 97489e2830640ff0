"""The reducer interface and the registry of reducers by the name a recipe uses.

A reducer is fitted afresh on every set of vectors it is given (the whole run,
then each cluster when the hierarchy recurses), so it has one method.
``none`` is a real component (the identity), not an ``if`` in the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from common.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from common.clustering.config import ReducerConfig


class Reducer(Protocol):
    """Vectors → fewer dimensions."""

    name: str

    def fit_transform(
        self, vectors: np.ndarray, *, random_state: int, fit_rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Fit on ``vectors`` (only ``fit_rows`` of them when given) and return every row
        reduced (float32), deterministically."""
        ...


def _pca(config: ReducerConfig) -> Reducer:
    from common.clustering.reducers.pca import PCAReducer

    return PCAReducer(config.n_components)


def _umap(config: ReducerConfig) -> Reducer:
    from common.clustering.reducers.umap import UMAPReducer

    return UMAPReducer(
        config.n_components,
        n_neighbors=config.n_neighbors,
        min_dist=config.min_dist,
        metric=config.metric,
    )


def _none(config: ReducerConfig) -> Reducer:
    from common.clustering.reducers.none import IdentityReducer

    return IdentityReducer()


_BUILDERS: dict[str, Callable[[ReducerConfig], Reducer]] = {
    "pca": _pca,
    "umap": _umap,
    "none": _none,
}
REDUCERS = tuple(_BUILDERS)
"""Valid reducer names."""


def build_reducer(config: ReducerConfig) -> Reducer:
    """The reducer ``config.kind`` names (its library loads on first use).

    Raises:
        ConfigError: unknown name.
    """
    builder = _BUILDERS.get(config.kind)
    if builder is None:
        raise ConfigError(
            f"unknown reducer `{config.kind}`",
            where="clustering.reducer.kind",
            expected="one of " + ", ".join(REDUCERS),
        )
    return builder(config)
