"""No phone number, e-mail address or lead name in any log line (issue 15, acceptance 2).

Every recipe runs on the local backend over the sample data (the LLM recipes
through the protocol-level fake OpenAI server), then the call-webhook takes the
golden Vapi payloads and one call per lead, all at DEBUG and in the JSON
format the functions log in; the captured stderr is scanned for every
identifier the data holds.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import re
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import polars as pl
import pytest

from common.calls import webhook
from common.calls.simulate import auth_headers, call_sequence
from common.logging import configure_logging
from common.messages import RunOptions
from common.recipe.loader import list_recipes
from common.settings import get_settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF, REPO
from tests.support.fake_llm import FakeLLM

GOLDEN = REPO / "tests" / "data" / "vapi"
KEYS = "sk-test-dddddddddddddddddddddddd"
LIMIT = 40
FAST = {
    "concurrency": 8,
    "retries": 4,
    "timeout_seconds": 5,
    "backoff_initial_seconds": 0.01,
    "backoff_max_seconds": 0.1,
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """The e2e sample leads plus a few generated companies (investor_update reads those)."""
    out = tmp_path_factory.mktemp("warehouse")
    shutil.copytree(sample_dir / "demo", out / "demo")
    spec = importlib.util.spec_from_file_location(
        "generate_company_data", REPO / "scripts/generate_company_data.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while executing
    spec.loader.exec_module(module)
    module.generate(out, seed=5, n_companies=4, anchor=AS_OF)
    return out


@pytest.fixture
def debug_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Everything the process logs at DEBUG, as the functions write it (JSON on stderr).

    stderr is a buffer of the test's own, so the call-webhook's own logging set-up
    (which logs to ``sys.stderr`` at ``LR_LOG_LEVEL``) writes there too.
    """
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setenv("LR_LOG_LEVEL", "DEBUG")
    get_settings.cache_clear()
    configure_logging("DEBUG", "json")
    yield stderr
    logging.getLogger().setLevel(logging.WARNING)


def _identifiers(sample_dir: Path, leads: pl.DataFrame) -> set[str]:
    """Phone numbers (as stored and digits only), e-mails and full names in the data."""
    found: set[str] = set()
    for key in leads["lead_key"].to_list():
        found |= {key, key.lstrip("+")}
    found |= {e for e in leads["email"].to_list() if e}
    found |= {n for n in leads["name"].to_list() if n}
    for path in GOLDEN.glob("*.json"):
        text = path.read_text()
        found |= set(re.findall(r"\+\d{8,}", text))
        found |= {p.lstrip("+") for p in re.findall(r"\+\d{8,}", text)}
    return found


def _post_calls(leads: list[dict[str, Any]]) -> int:
    client = functions_framework.create_app(
        target="call_webhook",
        source=str(REPO / "functions/call_webhook/main.py"),
        signature_type="http",
    ).test_client()
    settings = get_settings()
    bodies: list[bytes] = [p.read_bytes() for p in sorted(GOLDEN.glob("*.json"))]
    start = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    outcomes = ["recovered", "not_interested", "no_answer", "callback_requested", "voicemail"]
    for i, (lead, outcome) in enumerate(zip(leads, outcomes, strict=False)):
        for body in call_sequence(
            lead["lead_key"], outcome, started_at=start + timedelta(minutes=i), name=lead["name"]
        ):
            bodies.append(json.dumps(body).encode())
    bodies.append(b'{"message": {"type": "end-of-call-report", "call": {"customer": 1}}}')
    posted = 0
    for raw in bodies:
        headers = {"Content-Type": "application/json", **auth_headers(settings, raw)}
        assert client.post("/", data=raw, headers=headers).status_code in (200, 400)
        posted += 1
    return posted


def test_no_identifier_in_the_logs_of_every_recipe_and_the_call_webhook(
    local_env: Path,
    sample_dir: Path,
    warehouse: Path,
    recipes_dir: Path,
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    debug_logs,
) -> None:
    from common.local_runner import run_recipe

    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(warehouse))
    monkeypatch.setenv("LR_LLM_PROVIDER", "openai")
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", KEYS)
    monkeypatch.setenv("LR_CALL_WEBHOOK_SECRET", "log-scan-secret")
    get_settings.cache_clear()
    webhook.webhook_context.cache_clear()

    names = list_recipes(recipes_dir)
    assert {"demo", "stall_reasons", "customer_themes"} <= set(names)
    ctx = StepContext.from_settings(get_settings())
    for name in names:
        summary = run_recipe(ctx, name, RunOptions(as_of=AS_OF, limit=LIMIT), progress=False)
        assert summary.status == "succeeded", (name, summary.failures)
    assert fake_llm.count > 0  # the LLM recipes went through the protocol-level server

    leads = pl.read_parquet(sample_dir / "demo/leads.parquet")
    # The run's libraries may put pytest's capture back as sys.stderr: the
    # webhook's logging set-up must find the test's buffer.
    monkeypatch.setattr(sys, "stderr", debug_logs)
    try:
        assert _post_calls(leads.head(5).to_dicts()) > 14
    finally:
        webhook.webhook_context.cache_clear()

    logs = debug_logs.getvalue()
    lines = logs.splitlines()
    assert len(lines) > 50 and any('"severity": "DEBUG"' in line for line in lines)
    assert any("call-webhook" in line or "call_webhook" in line for line in lines)
    leaked = sorted(s for s in _identifiers(sample_dir, leads) if s in logs)
    assert not leaked, f"{len(leaked)} identifiers in the logs, e.g. {leaked[:5]}"
