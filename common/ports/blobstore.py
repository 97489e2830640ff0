"""BlobStore port: put/get/list objects by key (``runs/...``, ``output_run/...``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from common.errors import DataError, TransientError


class BlobNotFound(DataError):
    """The object does not exist."""


class GenerationMismatch(TransientError):
    """A conditional write lost: the object changed (or appeared) since it was read.

    Transient: read the object again and decide again (a step that lets it
    escape is redelivered and does exactly that).
    """


@dataclass(frozen=True)
class Versioned:
    """An object's bytes and the generation they were read at."""

    data: bytes
    generation: int
    """Changes on every write of the object; pass it as ``if_generation_match``."""


class BlobStore(Protocol):
    """Objects addressed by ``/``-separated keys; writes replace whole objects."""

    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str | None = None,
        *,
        if_generation_match: int | None = None,
    ) -> None:
        """Write (or overwrite) the object ``key``.

        Args:
            key: The object's name.
            data: Its whole content.
            content_type: The MIME type (Cloud Storage serves it).
            if_generation_match: Compare-and-swap: write only while the object is
                at this generation (from `get_versioned`); ``0``: only while it does
                not exist. ``None``: write whatever is there.

        Raises:
            GenerationMismatch: ``if_generation_match`` was given and the object is
                at another generation (nothing was written).
        """
        ...

    def get_bytes(self, key: str) -> bytes:
        """Read the object ``key``; raises `BlobNotFound` when absent."""
        ...

    def get_versioned(self, key: str) -> Versioned:
        """Read the object ``key`` and its generation; raises `BlobNotFound` when absent."""
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
