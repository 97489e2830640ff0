"""A clean virtual environment for the packaging tests, filled in the background.

Installing a function's ~60 pinned packages takes most of a minute on two
cores. The conftest starts it right after collection (`start_background`), in
a thread, so it overlaps the tests that run before the packaging ones; the
``venv`` fixture then waits for it (`prepared_venv`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.infra.infra_support import REPO

sys.path.insert(0, str(REPO / "scripts"))
import package_functions as pf  # noqa: E402

# The function whose requirements are installed first (the largest set).
FIRST = "fetch_leads"


class CleanVenv:
    """One virtual environment without system site-packages, synced to a requirement set."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = path / "bin" / "python"
        # No pip inside: this interpreter's pip installs into it (--python), which
        # saves bootstrapping one and keeps the environment to the requirements.
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        self.installed: dict[str, str] = {}
        self._lock = threading.Lock()

    def _pip(self, *args: str) -> None:
        pip = [sys.executable, "-m", "pip", "--python", str(self.python)]
        done = subprocess.run(
            [*pip, "--disable-pip-version-check", "-q", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pip {' '.join(args[:2])} failed:\n{done.stderr[-4000:]}")

    def sync(self, requirements: tuple[str, ...]) -> None:
        """Exactly ``requirements`` installed: the missing added, the others removed."""
        with self._lock:
            wanted = {
                pf.canonicalize_name(name): f"{name}=={version}"
                for name, version in (line.split("==") for line in requirements)
            }
            extra = [name for name in self.installed if name not in wanted]
            if extra:
                self._pip("uninstall", "-y", *extra)
            missing = [pin for name, pin in wanted.items() if self.installed.get(name) != pin]
            if missing:
                self._pip("install", "--no-deps", "--no-compile", *missing)
            self.installed = dict(wanted)

    def listed(self) -> set[str]:
        """The distributions pip sees in the environment (canonical names)."""
        done = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.python), "list", "--format=json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return {pf.canonicalize_name(d["name"]) for d in json.loads(done.stdout)}


class _Background:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lr-clean-venv-"))
        self.venv: CleanVenv | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="clean-venv", daemon=True)

    def _run(self) -> None:
        try:
            self.venv = CleanVenv(self.root / "venv")
            self.venv.sync(pf.pins(pf.requirements_txt(FIRST)))
        except BaseException as err:  # reported by prepared_venv, in the test
            self.error = err


_background: _Background | None = None


def start_background() -> None:
    """Create the environment and install the first function's requirements, in a thread."""
    global _background
    if _background is None:
        _background = _Background()
        _background.thread.start()


def prepared_venv() -> CleanVenv:
    """The environment, once the background install is done (started now if it was not)."""
    start_background()
    assert _background is not None
    _background.thread.join()
    if _background.error is not None:
        raise _background.error
    assert _background.venv is not None
    return _background.venv


def cleanup() -> None:
    """Remove the environment (at the end of the session)."""
    global _background
    if _background is not None:
        _background.thread.join(timeout=300)
        shutil.rmtree(_background.root, ignore_errors=True)
        _background = None
