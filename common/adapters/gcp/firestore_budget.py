"""RateBudgetStore on Firestore: one document per bucket, one small transaction per lease.

Layout (``prefix`` isolates environments and tests)::

    {prefix}llm_rate_buckets/{provider}.{key fingerprint}.{rpm|tpm}
        tokens, updated (wall-clock seconds), rate_per_s, capacity, leases

A lease reads the document, refills and takes with `take`, and writes the
result back only if the document is unchanged since that read (an update
precondition on its update time; ``create`` for a new bucket). When the bucket
cannot grant ``minimum`` yet it writes nothing: the wait costs one read. No
transaction: Firestore's transactions lock the document, and processes that
woke up together would queue on the lock (the emulator aborts a waiter after
2 s). A lost race surfaces as `TransientError`, like unavailability, and the
one retry policy of `common.llm.budget` reads again. An ambiguous failure
(the write may have landed) can only lose tokens, never grant them twice.
Every write sets ``expires_at`` = now + ``LR_RETENTION_LLM_RATE_BUDGET_DAYS``:
the TTL policy deletes buckets of keys no longer used.
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from common.adapters.gcp._errors import is_transient
from common.adapters.gcp._firestore import FirestoreAdapter
from common.errors import TransientError
from common.ports.ratebudget import BucketSpec, BucketState, Grant, take
from common.retention import TTL_FIELD, expires_at
from common.retention import retention_days as _days

COLLECTION = "llm_rate_buckets"

_TIMEOUT_S = 5.0
"""Longest wait for one read or write: a lease that waits longer is better off failing over."""


def _state(snapshot: Any) -> BucketState | None:
    if not snapshot.exists:
        return None
    data = snapshot.to_dict() or {}
    return BucketState(float(data.get("tokens", 0.0)), float(data.get("updated", 0.0)))


class FirestoreRateBudgetStore(FirestoreAdapter):
    """Token buckets shared by every function instance of a deployment.

    Args:
        project: Google Cloud project.
        database: Firestore database id.
        prefix: Prepended to the collection name.
        client: A ready client (tests); by default one is built and honours
            ``FIRESTORE_EMULATOR_HOST``.
        retention_days: Days a bucket is kept after its last lease (0: forever);
            default ``LR_RETENTION_LLM_RATE_BUDGET_DAYS``.
    """

    def __init__(
        self,
        project: str,
        database: str = "(default)",
        prefix: str = "",
        client: firestore.Client | None = None,
        retention_days: int | None = None,
    ) -> None:
        super().__init__(project, database, prefix, client)
        self.retention_days = _days("llm_rate_budget") if retention_days is None else retention_days

    def _ref(self, bucket_id: str) -> firestore.DocumentReference:
        return self.client.collection(f"{self.prefix}{COLLECTION}").document(bucket_id)

    def lease(self, spec: BucketSpec, *, want: float, minimum: float, now: float) -> Grant:
        """Refill and take (see `common.ports.ratebudget.take`).

        Raises:
            TransientError: another process changed the bucket since it was read, or
                Firestore is unavailable.
        """
        ref = self._ref(spec.bucket_id)
        try:
            snapshot = ref.get(timeout=_TIMEOUT_S)
            state, grant = take(_state(snapshot), spec, want=want, minimum=minimum, now=now)
            if not grant.granted:
                return grant
            data: dict[str, Any] = {
                "tokens": state.tokens,
                "updated": state.updated,
                "rate_per_s": spec.rate_per_s,
                "capacity": spec.capacity,
            }
            if (when := expires_at(self.retention_days)) is not None:
                data[TTL_FIELD] = when
            if snapshot.exists:
                option = self.client.write_option(last_update_time=snapshot.update_time)
                ref.update(
                    {**data, "leases": firestore.Increment(1)}, option=option, timeout=_TIMEOUT_S
                )
            else:
                ref.create({**data, "leases": 1}, timeout=_TIMEOUT_S)
            return grant
        except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.Conflict) as err:
            raise TransientError(
                "rate budget bucket changed since it was read", where=f"firestore {ref.path}"
            ) from err
        except Exception as err:
            if is_transient(err):
                raise TransientError(
                    f"rate budget store unavailable: {err}", where=f"firestore {ref.path}"
                ) from err
            raise

    def peek(self, bucket_id: str) -> BucketState | None:
        """The stored state (None: never leased)."""
        return _state(self._ref(bucket_id).get(timeout=_TIMEOUT_S))
