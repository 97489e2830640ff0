"""Local files written atomically (temp file + rename) with the mode a plain ``open`` gives."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _creation_mode() -> int:
    # Read once, at import: os.umask can only be read by setting it, which is
    # not thread-safe once other threads create files.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _creation_mode()
"""0o666 less the process umask (``tempfile.mkstemp`` alone makes files 0o600)."""


def temp_beside(path: Path, suffix: str = "") -> tuple[int, str]:
    """A temp file in ``path``'s folder, to be renamed over ``path``: (fd, name).

    It gets `FILE_MODE`, so the renamed file is readable as if written in place
    (a report another user or a web server reads, say).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.fchmod(fd, FILE_MODE)
    return fd, tmp
