"""No reduction: cluster the vectors as they are."""

from __future__ import annotations

import numpy as np


class IdentityReducer:
    """The vectors unchanged (a real component, so "no reducer" needs no special case)."""

    name = "none"

    def fit_transform(
        self, vectors: np.ndarray, *, random_state: int, fit_rows: np.ndarray | None = None
    ) -> np.ndarray:
        """``vectors`` as float32."""
        return vectors.astype(np.float32)
