"""Clusterers behind one interface (`Clusterer`), found by name (`build_clusterer`)."""

from common.clustering.clusterers._base import CLUSTERERS, Clusterer, build_clusterer

__all__ = ["CLUSTERERS", "Clusterer", "build_clusterer"]
