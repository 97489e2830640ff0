"""BlobStore port: put/get/list objects by key (``runs/...``, ``output_run/...``)."""

from __future__ import annotations

from typing import Protocol

from common.errors import DataError


class BlobNotFound(DataError):
    """The object does not exist."""


class BlobStore(Protocol):
    """Objects addressed by ``/``-separated keys; writes replace whole objects."""

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write (or overwrite) the object ``key``."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Read the object ``key``; raises `BlobNotFound` when absent."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        ...

    def url(self, key: str) -> str:
        """Where a person finds the object (a path or a ``gs://`` URL)."""
        ...
