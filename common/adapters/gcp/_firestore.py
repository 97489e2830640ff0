"""What every Firestore adapter holds: project, database, collection prefix, one client."""

from __future__ import annotations

import threading

from google.cloud import firestore


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

    @property
    def client(self) -> firestore.Client:
        """The Firestore client, created once on first use (thread-safe)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = firestore.Client(project=self.project, database=self.database)
        return self._client
