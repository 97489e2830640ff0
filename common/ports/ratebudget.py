"""RateBudgetStore port: token buckets that every process of a deployment leases from.

A bucket is one provider limit of one key (``openai.1a2b3c4d.rpm``): it refills
at ``rate_per_s`` up to ``capacity``. A lease refills it by the time elapsed
since its last change, then takes up to ``want`` tokens, but only if at least
``minimum`` are there; otherwise it takes nothing and says how long until
``minimum`` will be. Stores run `take` atomically per lease (a transaction, or a
write conditional on the read), so the arithmetic is the same on every backend (the contract tests check it) and two
processes never take the same token.

Clocks are wall clocks (seconds since the epoch) of whichever process leases:
a clock behind the stored ``updated`` refills nothing and never moves it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class BucketSpec:
    """Which bucket, and the limit it enforces."""

    bucket_id: str
    """``<provider>.<key fingerprint>.<kind>``: never the key itself."""
    rate_per_s: float
    """Refill rate (the limit per minute / 60)."""
    capacity: float
    """Most tokens the bucket holds (its burst)."""


@dataclass(frozen=True)
class BucketState:
    """What a store keeps per bucket."""

    tokens: float
    updated: float
    """Wall-clock seconds of the last change."""


@dataclass(frozen=True)
class Grant:
    """The answer to one lease."""

    granted: float
    """Tokens taken (0: not enough were there)."""
    wait_s: float = 0.0
    """When nothing was granted: seconds until ``minimum`` tokens will be there."""


def take(
    state: BucketState | None, spec: BucketSpec, *, want: float, minimum: float, now: float
) -> tuple[BucketState, Grant]:
    """Refill ``state`` to ``now`` and take between ``minimum`` and ``want`` tokens, or none.

    Grants are whole tokens (requests, LLM tokens): ``want`` and ``minimum`` are
    rounded up, and ``minimum`` is lowered to the capacity (a request larger than
    the burst still passes, alone, once the bucket is full). A bucket seen for
    the first time starts full.

    Returns:
        The state to store and the grant.
    """
    capacity = max(1.0, spec.capacity)
    minimum = float(min(max(1, math.ceil(minimum)), math.floor(capacity)))
    want = float(max(math.ceil(want), minimum))
    if state is None:
        tokens, updated = capacity, now
    else:
        elapsed = max(0.0, now - state.updated)
        tokens = min(capacity, state.tokens + elapsed * spec.rate_per_s)
        updated = max(now, state.updated)
    # A hair of tolerance, so that 0.1 + 0.2 tokens count as the 0.3 they are.
    whole = math.floor(tokens + 1e-9)
    if whole < minimum:
        wait = (minimum - tokens) / spec.rate_per_s if spec.rate_per_s > 0 else math.inf
        return BucketState(tokens, updated), Grant(0.0, max(wait, 0.0))
    granted = float(min(want, whole))
    return BucketState(max(0.0, tokens - granted), updated), Grant(granted)


class RateBudgetStore(Protocol):
    """Where the buckets live: one transaction per lease, shared by every process."""

    def lease(self, spec: BucketSpec, *, want: float, minimum: float, now: float) -> Grant:
        """Atomically refill ``spec``'s bucket and take from it (see `take`).

        Raises:
            TransientError: the store is busy or unreachable (the caller retries).
        """
        ...

    def peek(self, bucket_id: str) -> BucketState | None:
        """The stored state, as last written (None: never leased). For tests and tooling."""
        ...
