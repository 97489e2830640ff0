"""BlobStore on a local folder; writes are atomic (temp file + rename).

An object's generation is its file's modification time in nanoseconds: every
write through the store stamps the new file strictly later than the one it
replaces, so two writes within one clock tick still differ. A conditional
write (``if_generation_match``) checks and renames while holding an exclusive
``flock`` on a hidden ``.<name>.lock`` file beside the object, so concurrent
writers (threads or processes on this machine) see one winner.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.errors import DataError
from common.fsutil import temp_beside
from common.ports.blobstore import BlobNotFound, GenerationMismatch, Versioned


def _generation(path: Path) -> int:
    """The object's generation: its mtime in ns, 0 when it does not exist."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _stamp_and_replace(tmp: str, path: Path) -> None:
    """Rename ``tmp`` over ``path``, its mtime (the generation) strictly after the old file's."""
    stamp = max(time.time_ns(), _generation(path) + 1)
    os.utime(tmp, ns=(stamp, stamp))
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s object, held by one writer at a time on this machine."""
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class FolderBlobStore:
    """Objects are files under ``root``; keys use ``/`` whatever the OS."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise DataError("object key escapes the store", where="blobstore", found=key)
        return path

    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str | None = None,
        *,
        if_generation_match: int | None = None,
    ) -> None:
        """Write ``key`` atomically, so a reader never sees half an object.

        Raises:
            GenerationMismatch: ``if_generation_match`` is not the object's generation.
        """
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_beside(path)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if if_generation_match is None:
                _stamp_and_replace(tmp, path)
                return
            with _locked(path):
                found = _generation(path)
                if found != if_generation_match:
                    raise GenerationMismatch(
                        "the object changed since it was read",
                        where=str(path),
                        expected=f"generation {if_generation_match}",
                        found=found,
                    )
                _stamp_and_replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        """Read ``key``."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as err:
            raise BlobNotFound("object not found", where="blobstore", found=key) from err

    def get_versioned(self, key: str) -> Versioned:
        """Read ``key`` and its generation (both from the same file, even during a rewrite)."""
        try:
            with self._path(key).open("rb") as handle:
                generation = os.fstat(handle.fileno()).st_mtime_ns
                return Versioned(handle.read(), generation)
        except FileNotFoundError as err:
            raise BlobNotFound("object not found", where="blobstore", found=key) from err

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (a key prefix, not only a folder), sorted."""
        base = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        if not base.is_dir():
            return []
        keys = (
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        return sorted(k for k in keys if k.startswith(prefix))

    def url(self, key: str) -> str:
        """The file's path."""
        return str(self._path(key))
