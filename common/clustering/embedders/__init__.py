"""Embedding providers behind one interface (`Embedder`), found by name (`build_embedder`)."""

from common.clustering.embedders._base import Embedder
from common.clustering.embedders.registry import PROVIDERS, build_embedder

__all__ = ["PROVIDERS", "Embedder", "build_embedder"]
