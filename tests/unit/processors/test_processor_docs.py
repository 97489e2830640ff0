"""docs/processors.md documents every processor's params, defaults, columns and rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.processors import registry
from common.processors.conversation_state import STATE_RULES
from common.processors.template import DEFAULT_TEMPLATES

DOCS = (Path(__file__).resolve().parents[3] / "docs" / "processors.md").read_text(encoding="utf-8")


def _section(name: str) -> str:
    return DOCS.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("name", sorted(registry()))
def test_each_param_and_column_is_documented(name: str) -> None:
    cls = registry()[name]
    section = _section(name)
    for param in cls.Params.model_fields:
        assert f"| `{param}` |" in section, param
    for column in cls.columns:
        assert f"| `{column.name}` |" in section, column.name


@pytest.mark.parametrize("name", sorted(registry()))
def test_default_patterns_are_documented_verbatim(name: str) -> None:
    lines = set(_section(name).splitlines())
    for param, field in registry()[name].Params.model_fields.items():
        if param.endswith("_patterns"):
            assert set(field.default) <= lines, param


def test_default_templates_are_documented_verbatim() -> None:
    lines = set(_section("TemplateDetectionProcessor").splitlines())
    for name, spec in DEFAULT_TEMPLATES.items():
        assert f"{name} (type {spec.type}):" in lines
        assert spec.pattern in lines


def test_the_rule_table_lists_the_rules_in_order() -> None:
    table = _section("ConversationStateProcessor").split("### Rule table", 1)[1]
    documented = re.findall(r"^\| \d+ \| `([a-z_]+)` \|", table, flags=re.MULTILINE)
    assert documented == [rule.label for rule in STATE_RULES]
