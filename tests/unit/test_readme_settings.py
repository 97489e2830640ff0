"""README's settings table is true to the code, row by row, and complete.

Every row's variables are settings of `common.settings.Settings` (or of the
``make dev`` settings, `common.dev.stack.DevSettings`, or the retention table,
`common.retention.KINDS`), and the default it shows is the code's default,
read from the models with no ``LR_*`` variable set. Every setting of
`Settings` has a row.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from common.retention import KINDS
from common.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
NONE = "—"
# Defaults that the code computes at run time; the README describes them in words.
DESCRIBED = {
    "LR_LOCAL_WORKERS": "one more than the CPU count (at most 4)",
    "LR_STAGING_DIR": "`staging/` beside `LR_STATE_DB`",
    "LR_LLM_PRICES": "the built-in price table",
}


def _rows() -> list[tuple[list[str], str]]:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Settings\n(.*?)(?=^## )", text, re.M | re.S)
    assert section, "README has no '## Settings' section"
    rows = []
    for line in section.group(1).splitlines():
        if not line.startswith("| `LR_"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        rows.append((re.findall(r"`(LR_[A-Z0-9_<>]+)`", cells[0]), cells[1]))
    assert len(rows) > 20
    return rows


def _shown(value: Any) -> str:
    """A default as the README writes it."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value == "" or value == [] or value == {}:
        return NONE
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "`" + ",".join(_shown(v).strip("`") for v in value) + "`"
    return f"`{value}`"


def _defaults(model: type[BaseSettings], prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}{name.upper()}": field.get_default(call_default_factory=True)
        for name, field in model.model_fields.items()
    }


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env


def _split(cell: str, count: int) -> list[str]:
    if count == 1:
        return [cell]
    parts = cell.split(", ")
    if parts == [NONE]:  # "—" for all of them
        return parts * count
    assert len(parts) == count, f"{cell!r}: one default per variable, separated by ', '"
    return parts


def test_every_row_shows_the_codes_default(clean_env: None) -> None:
    from common.dev.stack import DevSettings

    defaults = _defaults(Settings, "LR_") | _defaults(DevSettings, "LR_DEV_")
    wrong = []
    for names, cell in _rows():
        if names == ["LR_RETENTION_<KIND>_DAYS"]:
            shown = dict(re.findall(r"`([A-Z_]+)` (\d+)", cell))
            expected = {k.name.upper(): str(k.default_days) for k in KINDS}
            if shown != expected:
                wrong.append(f"LR_RETENTION_<KIND>_DAYS: README {shown}, code {expected}")
            continue
        for name, written in zip(names, _split(cell, len(names)), strict=True):
            if name not in defaults:
                wrong.append(f"{name}: no such setting")
            elif name in DESCRIBED:
                if written != DESCRIBED[name]:
                    wrong.append(f"{name}: README {written!r}, expected {DESCRIBED[name]!r}")
            else:
                # "— (every call refused)": the words after the dash explain the empty default.
                shown = NONE if written.startswith(NONE) else written
                if shown != _shown(defaults[name]):
                    wrong.append(f"{name}: README {written!r}, code {_shown(defaults[name])!r}")
    assert not wrong, "README settings table vs the code:\n" + "\n".join(wrong)


def test_described_defaults_are_what_the_code_does(clean_env: None) -> None:
    settings = Settings()
    assert settings.local_workers == min((os.cpu_count() or 1) + 1, 4)
    assert Settings.model_fields["staging_dir"].default is None
    assert settings.llm_prices  # the built-in table


def test_every_setting_has_a_row() -> None:
    documented = {name for names, _ in _rows() for name in names}
    missing = sorted(set(_defaults(Settings, "LR_")) - documented)
    assert not missing, f"settings missing from README's table: {missing}"
