"""Issue 15, acceptance 1: no identifier reaches the LLM or embedding server; answers restored.

The sample data's first leads get a message holding one identifier of every
kind (and their own name, written without accents); the stall_reasons recipe
runs against the protocol-level fake OpenAI server, customer_themes embeds
with the fake Gemini embeddings server and names clusters with the fake LLM.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml

from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF
from tests.support.fake_embeddings import FakeEmbeddings
from tests.support.fake_llm import FakeLLM, Fault

KEY = "sk-test-dddddddddddddddddddddddd"
FAST = {"concurrency": 8, "retries": 3, "timeout_seconds": 5, "backoff_initial_seconds": 0.01}
IDENTIFIERS = {
    "phone": "55 1234 5678",
    "phone_cc": "+52 1 55 8765 4321",
    "email": "ana.perez77@example.com",
    "card": "4111 1111 1111 1111",
    "clabe": "032180000118359719",
    "iban": "ES91 2100 0418 4502 0005 1332",
    "curp": "GODE561231HDFRRN00",
    "rfc": "GODE561231GR8",
    "dni": "12345678Z",
    "nie": "X1234567L",
    "ssn": "123-45-6789",
}
ORDINARY = ("$15,000", "2026-11-20", "24 meses")
CHANGED = 8
"""Leads (the first of the run) whose conversations get the identifiers."""


@pytest.fixture
def pii_env(
    local_env: Path, sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, dict[str, str]]:
    """A copy of the sample data with identifiers in the first leads' last user message."""
    warehouse = tmp_path / "warehouse"
    shutil.copytree(sample_dir, warehouse)
    leads = pl.read_parquet(warehouse / "demo/leads.parquet")
    messages = pl.read_parquet(warehouse / "demo/messages.parquet")
    recent = leads.filter(pl.col("lead_created_at") >= AS_OF - timedelta(days=30)).sort("lead_key")
    chosen = {}
    extra = []
    for row in recent.head(CHANGED).iter_rows(named=True):
        plain = _plain(row["name"])
        text = (
            f"Soy {plain}, mi cel {IDENTIFIERS['phone']} o {IDENTIFIERS['phone_cc']}, correo "
            f"{IDENTIFIERS['email']}, tarjeta {IDENTIFIERS['card']}, CLABE {IDENTIFIERS['clabe']}, "
            f"IBAN {IDENTIFIERS['iban']}, CURP {IDENTIFIERS['curp']}, RFC {IDENTIFIERS['rfc']}, "
            f"DNI {IDENTIFIERS['dni']}, NIE {IDENTIFIERS['nie']}, SSN {IDENTIFIERS['ssn']}. "
            "Quiero $15,000 a 24 meses, desde el 2026-11-20."
        )
        chosen[row["lead_key"]] = row
        extra.append(
            {
                "message_id": f"pii-{row['lead_key']}",
                "lead_key": row["lead_key"],
                "sent_at": AS_OF - timedelta(minutes=5),
                "sender": "user",
                "text": text,
            }
        )
    added = pl.DataFrame(extra).select(
        [pl.col(c).cast(t) for c, t in messages.select(pl.col(c) for c in extra[0]).schema.items()]
    )
    messages = pl.concat([messages, added], how="diagonal_relaxed")
    messages.write_parquet(warehouse / "demo/messages.parquet")
    monkeypatch.setenv("LR_WAREHOUSE_DIR", str(warehouse))
    return chosen


def _plain(name: str) -> str:
    """The name as a customer types it: lower case, no accents."""
    return name.lower().translate(str.maketrans("áéíóúñ", "aeioun"))


def _secrets(chosen: dict[str, dict[str, str]]) -> list[str]:
    out = list(IDENTIFIERS.values())
    for row in chosen.values():
        out += [v for v in (row["lead_key"], row["email"], row["name"], _plain(row["name"])) if v]
    return out


def _leaks(bodies: list[str], secrets: list[str]) -> list[str]:
    """The secrets found in the bodies, as whole words ("moore or less" is not Ms Moore)."""
    found = set()
    for secret in secrets:
        pattern = re.compile(rf"(?<!\w){re.escape(secret)}(?!\w)", re.IGNORECASE)
        found.update(secret for b in bodies if pattern.search(b))
    return sorted(found)


def _edit(recipes_dir: Path, name: str, change) -> None:
    path = recipes_dir / name / "meta.yml"
    meta = yaml.safe_load(path.read_text())
    change(meta)
    path.write_text(yaml.safe_dump(meta, sort_keys=False))


def _run(recipe: str, limit: int):
    from common.local_runner import run_recipe

    ctx = StepContext.from_settings(Settings())
    summary = run_recipe(ctx, recipe, RunOptions(as_of=AS_OF, limit=limit), progress=False)
    assert summary.status == "succeeded", summary.failures
    return ctx, summary


def test_llm_requests_hold_no_identifier_and_answers_are_restored(
    pii_env: dict[str, dict[str, str]],
    recipes_dir: Path,
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def change(meta):
        meta["llm"].pop("rules", None)
        meta["llm"]["limits"] = FAST

    _edit(recipes_dir, "stall_reasons", change)
    monkeypatch.setenv("LR_LLM_PROVIDER", "openai")
    monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("LR_OPENAI_API_KEYS", KEY)
    fake_llm.inject(
        Fault.override(suggested_message="Hola <NAME>, ¿te llamo al <PHONE_1>?"), times=None
    )

    _, summary = _run("stall_reasons", limit=CHANGED + 4)

    bodies = [json.dumps(r.body, ensure_ascii=False) for r in fake_llm.requests]
    assert len(bodies) >= CHANGED
    assert _leaks(bodies, _secrets(pii_env)) == []
    with_pii = [b for b in bodies if "<CURP_1>" in b]
    assert len(with_pii) == CHANGED  # every changed conversation was sent, masked
    for placeholder in ("<PHONE_", "<EMAIL_1>", "<CARD_1>", "<ACCOUNT_1>", "<ACCOUNT_2>",
                        "<RFC_1>", "<NATIONAL_ID_1>", "<NATIONAL_ID_2>", "<SSN_1>",
                        "Soy <NAME>,"):  # fmt: skip
        assert all(placeholder in b for b in with_pii), placeholder
    for ordinary in ORDINARY:  # amounts, dates and terms are left as written
        assert all(ordinary in b for b in with_pii), ordinary

    rows = list(csv.DictReader(open(summary.outputs["analysis"], encoding="utf-8")))
    by_key = {r["lead_key"]: r for r in rows}
    for key, lead in pii_env.items():
        message = by_key[key]["suggested_message"]
        assert message.startswith(f"Hola {lead['name']}, ¿te llamo al "), message
        assert "<" not in message  # every placeholder was put back


def test_embedding_and_naming_requests_hold_no_identifier(
    pii_env: dict[str, dict[str, str]],
    recipes_dir: Path,
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def change(meta):
        meta["clustering"].update(
            embedding={"provider": "gemini", "model": "text-embedding-005", "limits": FAST},
            name_with_llm=True,
            naming={"llm": {"provider": "openai", "model": "gpt-test", "limits": FAST}},
        )

    _edit(recipes_dir, "customer_themes", change)
    with FakeEmbeddings() as embeddings:
        monkeypatch.setenv("LR_GEMINI_BASE_URL", embeddings.url)
        monkeypatch.setenv("LR_GEMINI_API_KEYS", KEY)
        monkeypatch.setenv("LR_OPENAI_BASE_URL", fake_llm.openai_base_url)
        monkeypatch.setenv("LR_OPENAI_API_KEYS", KEY)
        _run("customer_themes", limit=90)
        texts = [json.dumps(r.body, ensure_ascii=False) for r in embeddings.requests]

    assert texts and any("<CURP_1>" in t for t in texts)
    secrets = _secrets(pii_env)
    assert _leaks(texts, secrets) == []
    assert (
        _leaks([json.dumps(r.body, ensure_ascii=False) for r in fake_llm.requests], secrets) == []
    )
    assert any("$15,000" in t and "24 meses" in t for t in texts)
