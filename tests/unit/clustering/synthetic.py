"""Synthetic unit vectors with known clusters and sub-clusters, for the clustering tests."""

from __future__ import annotations

import numpy as np


def unit(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to length one."""
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def blobs(
    *,
    seed: int = 0,
    dim: int = 24,
    sizes: tuple[int, ...] = (120, 90, 60),
    sub_of_first: int = 2,
    spread: float = 0.02,
    sub_gap: float = 0.12,
) -> tuple[np.ndarray, list[int], list[int]]:
    """Clusters of unit vectors; the first one made of ``sub_of_first`` sub-clusters.

    Returns:
        The vectors (shuffled), each row's top-level topic and its sub-topic
        (``-1`` outside the first cluster).
    """
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(len(sizes), dim)))
    rows, top, sub = [], [], []
    for k, size in enumerate(sizes):
        if k == 0 and sub_of_first > 1:
            offsets = unit(rng.normal(size=(sub_of_first, dim))) * sub_gap
            for j in range(sub_of_first):
                n = size // sub_of_first
                centre = centres[k] + offsets[j]
                rows.append(centre + rng.normal(scale=spread, size=(n, dim)))
                top += [k] * n
                sub += [j] * n
        else:
            rows.append(centres[k] + rng.normal(scale=spread * 2, size=(size, dim)))
            top += [k] * size
            sub += [-1] * size
    vectors = unit(np.vstack(rows))
    order = rng.permutation(len(top))
    return vectors[order], [top[i] for i in order], [sub[i] for i in order]
