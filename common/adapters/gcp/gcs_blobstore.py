"""BlobStore on a Cloud Storage bucket (or fake-gcs-server when ``STORAGE_EMULATOR_HOST`` is set)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined]
from google.cloud.storage.retry import DEFAULT_RETRY

from common.adapters.gcp._errors import is_transient
from common.errors import DataError, TransientError
from common.ports.blobstore import BlobNotFound, GenerationMismatch, Versioned

T = TypeVar("T")

_TIMEOUT_S = 60.0


def check_key(key: str) -> str:
    """Reject keys the folder store cannot hold either, so both backends accept the same keys.

    Cloud Storage would take ``runs/../x`` or ``/x`` as literal names, while the
    local store refuses them (they escape its folder): refusing here too keeps a
    bug from passing on one backend and failing on the other.
    """
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise DataError(
            "invalid object key",
            where="blobstore",
            expected="`/`-separated non-empty names without `.` or `..`",
            found=key,
        )
    return key


class GCSBlobStore:
    """Objects in one bucket; keys are object names.

    Args:
        bucket: Bucket name (without ``gs://``).
        project: Project for the client (billing and listing).
        client: A ready client; by default one is built, anonymous when
            ``STORAGE_EMULATOR_HOST`` points at an emulator.
    """

    def __init__(self, bucket: str, project: str, client: storage.Client | None = None) -> None:
        self.bucket_name = bucket
        self.project = project
        self._client = client

    @property
    def client(self) -> storage.Client:
        """The Storage client, created on first use."""
        if self._client is None:
            # An emulator needs no identity, and looking for ADC there would fail
            # (or worse, pick up a developer's real credentials).
            credentials = (
                AnonymousCredentials() if os.environ.get("STORAGE_EMULATOR_HOST") else None
            )
            self._client = storage.Client(project=self.project, credentials=credentials)
        return self._client

    @property
    def _bucket(self) -> storage.Bucket:
        return self.client.bucket(self.bucket_name)

    def _call(self, what: str, key: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except gexc.PreconditionFailed as err:
            raise GenerationMismatch(
                f"{what}: the object changed since it was read", where=self.url(key)
            ) from err
        except gexc.NotFound as err:
            raise BlobNotFound("object not found", where=self.url(key)) from err
        except Exception as err:
            if is_transient(err):
                raise TransientError(
                    f"Cloud Storage unavailable during {what}: {err}", where=self.url(key)
                ) from err
            if isinstance(err, gexc.GoogleAPICallError):
                raise DataError(
                    f"Cloud Storage refused {what}: {err.message}", where=self.url(key)
                ) from err
            raise

    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str | None = None,
        *,
        if_generation_match: int | None = None,
    ) -> None:
        """Write (or replace) ``key``; one upload call, so readers see old or new, never half.

        Raises:
            GenerationMismatch: ``if_generation_match`` is not the object's generation
                (Cloud Storage answered 412 and wrote nothing).
        """
        blob = self._bucket.blob(check_key(key))
        # Object names are deterministic and a rewrite carries the same content,
        # so the upload is idempotent and safe to retry even without a
        # generation precondition (which the client requires for its default retry).
        # A conditional upload retried after a lost response answers 412: the
        # caller reads the object again and finds its own write there.
        self._call(
            "upload",
            key,
            lambda: blob.upload_from_string(
                data,
                content_type=content_type or "application/octet-stream",
                if_generation_match=if_generation_match,
                retry=DEFAULT_RETRY,
                timeout=_TIMEOUT_S,
            ),
        )

    def get_bytes(self, key: str) -> bytes:
        """Read ``key``; raises `BlobNotFound` when absent."""
        blob = self._bucket.blob(check_key(key))
        return self._call("download", key, lambda: blob.download_as_bytes(timeout=_TIMEOUT_S))

    def get_versioned(self, key: str) -> Versioned:
        """Read ``key`` and the generation of the bytes read (from the download's headers)."""
        blob = self._bucket.blob(check_key(key))
        data = self._call("download", key, lambda: blob.download_as_bytes(timeout=_TIMEOUT_S))
        if blob.generation is None:  # a server that sends no x-goog-generation header
            raise TransientError("the download carried no generation", where=self.url(key))
        return Versioned(data, int(blob.generation))

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        blob = self._bucket.blob(check_key(key))
        return self._call("exists", key, lambda: blob.exists(timeout=_TIMEOUT_S))

    def list(self, prefix: str) -> list[str]:
        """Object names starting with ``prefix`` (a name prefix, not only a folder), sorted."""

        def names() -> list[str]:
            blobs = self.client.list_blobs(self.bucket_name, prefix=prefix, timeout=_TIMEOUT_S)
            return [b.name for b in blobs]

        # Cloud Storage lists in UTF-8 byte order; `sorted` is code point order, which
        # is the same for UTF-8, and is what the folder store returns.
        return sorted(self._call("list", prefix, names))

    def url(self, key: str) -> str:
        """``gs://bucket/key``."""
        return f"gs://{self.bucket_name}/{key}"
