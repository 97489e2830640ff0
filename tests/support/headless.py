"""Headless Chromium driven over the DevTools protocol on a pipe (no driver, no port, no package).

Chromium reads protocol commands from its fd 3 and writes replies to fd 4
(``--remote-debugging-pipe``), as NUL-terminated JSON. Enough of the
protocol for tests: open a page, evaluate JavaScript, type text, take a
screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
INSTALL_HINT = (
    "Chromium is needed for the browser tests: run `bash scripts/ensure_chromium.sh` "
    "(`make test` does; it installs Debian's `chromium` with apt-get), or point "
    "CHROME_BIN at a Chrome/Chromium binary."
)


def find_chromium() -> str | None:
    """The browser binary: ``CHROME_BIN``, else ``chromium`` / ``chromium-browser`` on PATH."""
    explicit = os.environ.get("CHROME_BIN")
    if explicit:
        return explicit if Path(explicit).exists() else shutil.which(explicit)
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class CDPError(RuntimeError):
    """Chromium answered a command with an error, or did not answer in time."""


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, binary: str, *, width: int = 1400, height: int = 1000) -> None:
        self._profile = tempfile.mkdtemp(prefix="lr-chromium-")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # High fd numbers, so the shell's `3<&x 4>&y` cannot clobber one with the other.
        child_in = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        args = [
            binary,
            *FLAGS,
            f"--user-data-dir={self._profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self._log_path = Path(self._profile) / "chromium-stderr.log"
        self._log = self._log_path.open("wb")
        self._proc = subprocess.Popen(
            # bash, not sh: dash's redirections only know fds 0-9.
            [shutil.which("bash") or "/bin/bash", "-c", f'exec "$@" 3<&{child_in} 4>&{child_out}']
            + ["bash", *args],
            pass_fds=(child_in, child_out),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        os.close(child_in)
        os.close(child_out)
        self._write = to_browser_w
        self._read = from_browser_r
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        self.session = ""
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"}, session=None)
            attached = self.send(
                "Target.attachToTarget",
                {"targetId": target["targetId"], "flatten": True},
                session=None,
            )
            self.session = attached["sessionId"]
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
        except Exception:
            self.close()
            raise

    def _pump(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._read, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        box = self._replies.get(message["id"])
                    if box is not None:
                        box.put(message)
                else:
                    self._events.put(message)

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None | bool = True,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        """Send one command (to the page's session unless ``session=None``) and wait for it."""
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is True and self.session:
            message["sessionId"] = self.session
        box: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._replies[ident] = box
        try:
            os.write(self._write, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise CDPError(
                f"{method}: Chromium is not running; its stderr: {self.stderr()}"
            ) from None
        try:
            reply = box.get(timeout=timeout)
        except queue.Empty:
            raise CDPError(f"{method}: no answer in {timeout} s; stderr: {self.stderr()}") from None
        finally:
            with self._lock:
                self._replies.pop(ident, None)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, timeout: float = 20.0) -> dict[str, Any]:
        """The next event named ``method`` (others are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"no {method} event in {timeout} s")
            try:
                event = self._events.get(timeout=left)
            except queue.Empty:
                continue
            if event.get("method") == method:
                return event

    def open(self, url: str, timeout: float = 20.0) -> None:
        """Navigate and wait for the load event."""
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll until the expression is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise CDPError(f"{expression!r} still falsy after {timeout} s")

    def type_text(self, selector: str, text: str) -> None:
        """Focus an element and type into it, as a person would (one input event)."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """Write a PNG of the viewport (or the whole page) to ``path``."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def stderr(self) -> str:
        """The end of what Chromium printed so far."""
        try:
            return self._log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the browser and remove its profile."""
        try:
            self.send("Browser.close", session=None, timeout=5)
        except (CDPError, OSError):
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        for fd in (self._write, self._read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
