"""The local provider's grammar bounds: long string limits are lowered, not trusted."""

from __future__ import annotations

from common.llm.providers.local_schema import GRAMMAR_MAX_LENGTH, bounded_schema


def test_long_string_limits_are_capped_for_the_grammar() -> None:
    schema = {
        "type": "object",
        "properties": {
            "body": {"type": "string", "maxLength": 5000},
            "short": {"type": "string", "maxLength": 40},
            "items": {"type": "array", "items": {"type": "string", "maxLength": 2000}},
        },
    }
    out = bounded_schema(schema)
    assert out["properties"]["body"]["maxLength"] == GRAMMAR_MAX_LENGTH
    assert out["properties"]["short"]["maxLength"] == 40
    assert out["properties"]["items"]["items"]["maxLength"] == GRAMMAR_MAX_LENGTH
    assert schema["properties"]["body"]["maxLength"] == 5000  # the input is not modified
