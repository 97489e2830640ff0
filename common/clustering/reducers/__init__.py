"""Dimensionality reducers behind one interface (`Reducer`), found by name (`build_reducer`)."""

from common.clustering.reducers._base import REDUCERS, Reducer, build_reducer

__all__ = ["REDUCERS", "Reducer", "build_reducer"]
