"""A local webhook receiver for tests, and the documented verification recipe, run as written."""

from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reports.md"


def documented_verify() -> Any:
    """The `verify` function of docs/reports.md ("Verifying a delivery"), exactly as written."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("### Verifying a delivery", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "docs/reports.md lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify"]


class Receiver:
    """Answers POSTs with a scripted list of statuses (the last one repeats); keeps what came."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses or [200])
        self.delay_s = delay_s
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # `headers` looks names up in any case, as a web framework does.
                receiver.received.append({"headers": self.headers, "body": body})
                statuses = receiver.statuses
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                time.sleep(receiver.delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        """Its URL (with a token in the query, which records must not show)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lead-recovery?token=abc"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """A URL nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-listens"
