"""Counters summed across parts: what the LLM modes sum over batches, and the report over shards."""

from __future__ import annotations

from typing import Any


def merge_counters(*parts: dict[str, Any]) -> dict[str, Any]:
    """Sum counters (nested dicts key by key), as the report sums shards."""
    total: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            if isinstance(value, dict):
                bucket = total.setdefault(name, {})
                for k, v in value.items():
                    bucket[k] = bucket.get(k, 0) + v
            else:
                total[name] = total.get(name, 0) + value
    return total
