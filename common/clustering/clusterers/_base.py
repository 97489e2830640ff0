"""The clusterer interface and the registry of clusterers by the name a recipe uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from common.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from common.clustering.config import ClustererConfig


class Clusterer(Protocol):
    """Reduced vectors → flat labels (``-1`` is noise)."""

    name: str

    def fit_predict(
        self, vectors: np.ndarray, *, min_cluster_size: int, sample_fraction: float = 1.0
    ) -> np.ndarray:
        """One integer label per row; ``-1`` for points in no cluster. Deterministic.

        ``sample_fraction``: the rows are this share of the texts being clustered (a
        seeded sample), so density settings counted in texts are scaled down with it.
        """
        ...


def _hdbscan(config: ClustererConfig) -> Clusterer:
    from common.clustering.clusterers.hdbscan import HDBSCANClusterer

    return HDBSCANClusterer(
        # Unset, min_samples follows the absolute floor, not the one min_cluster_pct raises:
        # a 2 % floor on 50,000 texts must not smooth densities over 1,000 neighbours.
        min_samples=config.min_samples or config.min_cluster_size,
        metric=config.metric,
        cluster_selection_method=config.cluster_selection_method,
        cluster_selection_epsilon=config.cluster_selection_epsilon,
    )


_BUILDERS: dict[str, Callable[[ClustererConfig], Clusterer]] = {"hdbscan": _hdbscan}
CLUSTERERS = tuple(_BUILDERS)
"""Valid clusterer names."""


def build_clusterer(config: ClustererConfig) -> Clusterer:
    """The clusterer ``config.kind`` names (its library loads on first use).

    Raises:
        ConfigError: unknown name.
    """
    builder = _BUILDERS.get(config.kind)
    if builder is None:
        raise ConfigError(
            f"unknown clusterer `{config.kind}`",
            where="clustering.clusterer.kind",
            expected="one of " + ", ".join(CLUSTERERS),
        )
    return builder(config)
