"""BlobStore on a local folder; writes are atomic (temp file + rename)."""

from __future__ import annotations

import os
from pathlib import Path

from common.errors import DataError
from common.fsutil import temp_beside
from common.ports.blobstore import BlobNotFound


class FolderBlobStore:
    """Objects are files under ``root``; keys use ``/`` whatever the OS."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise DataError("object key escapes the store", where="blobstore", found=key)
        return path

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write ``key`` atomically, so a reader never sees half an object."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_beside(path)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        """Read ``key``."""
        try:
            return self._path(key).read_bytes()
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
