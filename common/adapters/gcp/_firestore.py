"""What every Firestore adapter holds: project, database, collection prefix, one client."""

from __future__ import annotations

import threading

from google.cloud import firestore

# Two documents sharing a stripe wait for each other's round trip: with ~40
# requests in flight, 64 stripes give ~12 such pairs at any moment, 1024 under 1.
_LOCK_STRIPES = 1024


class FirestoreAdapter:
    """Base of the Firestore adapters (state, summary cache, calls).

    Args:
        project: Google Cloud project.
        database: Firestore database id.
        prefix: Prepended to the adapter's collection names (environments, tests).
        client: A ready client (tests); by default one is built on first use
            and honours ``FIRESTORE_EMULATOR_HOST``.
    """

    def __init__(
        self,
        project: str,
        database: str = "(default)",
        prefix: str = "",
        client: firestore.Client | None = None,
    ) -> None:
        self.project = project
        self.database = database
        self.prefix = prefix
        self._client = client
        self._client_lock = threading.Lock()
        # Requests handled concurrently by one instance (threads, Cloud Functions
        # gen2 concurrency) queue here for a document instead of contending in
        # Firestore: contended transactions wait on server locks and abort (the
        # emulator only after a 2 s lock timeout), and optimistic writes fail and
        # retry. Other instances still contend, which the preconditions make safe.
        self._stripes = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    @property
    def client(self) -> firestore.Client:
        """The Firestore client, created once on first use (thread-safe)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = firestore.Client(project=self.project, database=self.database)
        return self._client

    def lock_for(self, path: str) -> threading.Lock:
        """This instance's lock for the document at ``path`` (one of a fixed set)."""
        return self._stripes[hash(path) % _LOCK_STRIPES]
