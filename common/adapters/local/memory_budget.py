"""RateBudgetStore in one process's memory: the buckets of a single process (tests, tools)."""

from __future__ import annotations

import threading

from common.ports.ratebudget import BucketSpec, BucketState, Grant, take


class MemoryRateBudgetStore:
    """Buckets in a dict under a lock: shared by the threads of one process, not beyond."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, BucketState] = {}

    def lease(self, spec: BucketSpec, *, want: float, minimum: float, now: float) -> Grant:
        """Refill and take (see `common.ports.ratebudget.take`)."""
        with self._lock:
            state, grant = take(
                self._buckets.get(spec.bucket_id), spec, want=want, minimum=minimum, now=now
            )
            self._buckets[spec.bucket_id] = state
            return grant

    def peek(self, bucket_id: str) -> BucketState | None:
        """The stored state (None: never leased)."""
        with self._lock:
            return self._buckets.get(bucket_id)
