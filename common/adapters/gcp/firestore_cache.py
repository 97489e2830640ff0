"""SummaryCache on Firestore: one document per answer, expiring by a TTL policy.

Collection ``{prefix}summary_cache``; document id = the content hash; fields
``value`` (the JSON entry as a map), ``created_at`` and ``expires_at``
(timestamps). In production a TTL policy on ``expires_at`` deletes expired
documents (declared in Terraform); reads also ignore them, so an entry is never
served after its time whether or not the policy has run yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from common.adapters.gcp._errors import is_transient
from common.adapters.gcp._firestore import FirestoreAdapter
from common.errors import TransientError

_READ_BATCH = 300  # documents per BatchGetDocuments call
_WRITE_BATCH = 400  # below Firestore's 500 writes per batch


def _count(query: Any) -> int:
    """Server-side count of a query's documents."""
    results = query.count().get()
    return int(results[0][0].value)


class FirestoreSummaryCache(FirestoreAdapter):
    """Content-addressed LLM answers in Firestore (arguments: `FirestoreAdapter`)."""

    def _collection(self) -> firestore.CollectionReference:
        return self.client.collection(f"{self.prefix}summary_cache")

    def get_many(
        self, keys: Sequence[str], *, now: datetime | None = None
    ) -> dict[str, dict[str, Any]]:
        """Live entries among ``keys``, read in batches."""
        moment = now or datetime.now(UTC)
        unique = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        collection = self._collection()
        try:
            for start in range(0, len(unique), _READ_BATCH):
                refs = [collection.document(k) for k in unique[start : start + _READ_BATCH]]
                for snapshot in self.client.get_all(refs):
                    data = snapshot.to_dict() if snapshot.exists else None
                    if data and data["expires_at"] > moment:
                        found[snapshot.id] = data["value"]
        except Exception as err:
            if is_transient(err):
                raise TransientError(
                    f"Firestore cache read failed: {err}", where="summary cache"
                ) from err
            raise
        return found

    def put_many(self, entries: Mapping[str, dict[str, Any]], *, ttl: timedelta) -> None:
        """Write entries in batches; a rewrite of the same key stores the same content."""
        now = datetime.now(UTC)
        items = list(entries.items())
        collection = self._collection()
        try:
            for start in range(0, len(items), _WRITE_BATCH):
                batch = self.client.batch()
                for key, value in items[start : start + _WRITE_BATCH]:
                    batch.set(
                        collection.document(key),
                        {
                            "value": json.loads(json.dumps(value, default=str)),
                            "created_at": now,
                            "expires_at": now + ttl,
                        },
                    )
                batch.commit()
        except Exception as err:
            if is_transient(err):
                raise TransientError(
                    f"Firestore cache write failed: {err}", where="summary cache"
                ) from err
            raise

    def stats(self, *, now: datetime | None = None) -> dict[str, int]:
        """Entry counts (aggregation queries; no documents are read)."""
        moment = now or datetime.now(UTC)
        collection = self._collection()
        total = _count(collection)
        expired = _count(collection.where(filter=FieldFilter("expires_at", "<=", moment)))
        return {"entries": int(total), "expired": int(expired)}

    def prune(self, *, now: datetime | None = None) -> int:
        """Delete expired entries now (the TTL policy does it eventually anyway)."""
        moment = now or datetime.now(UTC)
        query = self._collection().where(filter=FieldFilter("expires_at", "<=", moment))
        deleted = 0
        while True:
            docs = list(query.limit(_WRITE_BATCH).stream())
            if not docs:
                return deleted
            batch = self.client.batch()
            for doc in docs:
                batch.delete(doc.reference)
            batch.commit()
            deleted += len(docs)
