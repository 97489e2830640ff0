"""functions-framework source for the chain e2e test: a function's real main.py, plus faults.

    CHAIN_FAULT_FUNCTION=process functions-framework --source tests/support/fault_main.py \
        --target process --signature-type cloudevent --port 8081

Loads ``functions/$CHAIN_FAULT_FUNCTION/main.py`` after `chain_faults.install`
patched its step per ``CHAIN_FAULTS``, and serves the same handlers, each
wrapped to log the message id of every delivery (to prove duplicates arrive).
Test-only: production deploys the real main.py, which knows nothing of this.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import sys
from pathlib import Path

import functions_framework

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from tests.support import chain_faults  # noqa: E402

_FUNCTION = os.environ["CHAIN_FAULT_FUNCTION"]
chain_faults.install(_FUNCTION)

_spec = importlib.util.spec_from_file_location(
    f"function_{_FUNCTION}_main", _REPO / "functions" / _FUNCTION / "main.py"
)
assert _spec and _spec.loader
_real = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_real)


def _cloud_event_handler(name: str):
    real = getattr(_real, name)

    @functions_framework.cloud_event
    @functools.wraps(real)
    def handler(cloud_event):
        chain_faults.record_delivery(_FUNCTION, str(cloud_event["id"]))
        return real(cloud_event)

    return handler


def _http_handler(name: str):
    real = getattr(_real, name)

    @functions_framework.http
    @functools.wraps(real)
    def handler(request):
        body = request.get_json(silent=True) or {}
        message = body.get("message") if isinstance(body, dict) else None
        message_id = (message or {}).get("messageId") or "http"
        chain_faults.record_delivery(_FUNCTION, str(message_id))
        return real(request)

    return handler


def _handlers() -> dict[str, str]:
    """Handler name → ``http`` / ``cloud_event``, read from the real main.py's decorators."""
    tree = ast.parse((_REPO / "functions" / _FUNCTION / "main.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Attribute) and decorator.attr in (
                    "http",
                    "cloud_event",
                ):
                    found[node.name] = decorator.attr
    return found


for _name, _kind in _handlers().items():
    globals()[_name] = _http_handler(_name) if _kind == "http" else _cloud_event_handler(_name)
