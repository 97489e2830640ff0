"""The answer schema as the local model gets it: bounded, in words, and as a grammar.

A 135M model under constrained decoding needs every string and list bounded
(or it writes until ``max_tokens`` cuts the JSON), small integer ranges
spelled out (llama.cpp's grammar ignores minimum/maximum), and the keys
explained in plain words rather than JSON Schema. `LocalProvider`
(`common.llm.providers.local`) uses `bounded_schema`, `system_prompt` and
`grammar_for`.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from common.llm.providers.base import ProviderRejected

DEFAULT_MAX_LENGTH = 200
"""maxLength given to strings that have none, so generation always terminates."""
GRAMMAR_MAX_LENGTH = 1000
"""Longest string the grammar may spell out: llama.cpp fails to build (and can crash
on) repetition bounds much above this, so longer limits are lowered to it."""
DEFAULT_MAX_ITEMS = 10
"""maxItems given to arrays that have none."""
ENUM_RANGE_LIMIT = 256
"""Integer ranges with at most this many values become an enum (see `bounded_schema`)."""

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONES = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return set()


def _bound(node: dict[str, Any], max_length: int, max_items: int) -> None:
    """Add the missing bounds to one schema node, in place, then to its subschemas."""
    kinds = _types(node)
    fixed = "enum" in node or "const" in node
    if "string" in kinds and not fixed and "maxLength" not in node and "format" not in node:
        node["maxLength"] = max(max_length, int(node.get("minLength", 0)))
    if "string" in kinds and int(node.get("maxLength", 0)) > GRAMMAR_MAX_LENGTH:
        node["maxLength"] = max(GRAMMAR_MAX_LENGTH, int(node.get("minLength", 0)))
    if "array" in kinds and "maxItems" not in node:
        node["maxItems"] = max(max_items, int(node.get("minItems", 0)))
    if kinds == {"integer"} and not fixed:
        # llama-cpp-python's schema-to-grammar conversion ignores
        # minimum/maximum, so a 0-100 score could come back as 250. A small
        # range spelled out as an enum is enforced by the grammar itself.
        low, high = _integer_range(node)
        if low is not None and high is not None and 0 <= high - low < ENUM_RANGE_LIMIT:
            node["enum"] = list(range(low, high + 1))
    node.pop("title", None)  # noise in the prompt; pydantic adds one per field

    for key in _SCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, dict):
            for child in children.values():
                if isinstance(child, dict):
                    _bound(child, max_length, max_items)
    for key in _SCHEMA_LISTS:
        children = node.get(key)
        if isinstance(children, list):
            for child in children:
                if isinstance(child, dict):
                    _bound(child, max_length, max_items)
    for key in _SCHEMA_ONES:
        child = node.get(key)
        if isinstance(child, dict):
            _bound(child, max_length, max_items)


def _integer_range(node: dict[str, Any]) -> tuple[int | None, int | None]:
    """Inclusive integer bounds of a node (``exclusive*`` folded in), None when open."""
    low: int | None = None
    high: int | None = None
    if isinstance(node.get("minimum"), int | float):
        low = int(-(-node["minimum"] // 1))  # ceil
    if isinstance(node.get("exclusiveMinimum"), int | float):
        low = int(node["exclusiveMinimum"] // 1) + 1
    if isinstance(node.get("maximum"), int | float):
        high = int(node["maximum"] // 1)
    if isinstance(node.get("exclusiveMaximum"), int | float):
        high = int(-(-node["exclusiveMaximum"] // 1)) - 1
    return low, high


def bounded_schema(
    schema: dict[str, Any],
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> dict[str, Any]:
    """A copy of ``schema`` a tiny model can follow, and that always ends.

    Without an upper bound a small model under constrained decoding can keep
    writing a string (or list) until ``max_tokens`` cuts it off mid-JSON. So:

    - strings without ``maxLength`` (and without ``enum``/``const``/``format``)
      get ``maxLength`` = ``max_length``;
    - arrays without ``maxItems`` get ``maxItems`` = ``max_items``;
    - integers with both bounds and fewer than `ENUM_RANGE_LIMIT` values get
      an ``enum`` of every allowed value (the grammar ignores min/max);
    - ``title`` keys are dropped (the schema is also shown to the model).

    Subschemas under ``properties``, ``items``, ``anyOf``, ``$defs`` and the
    other schema keywords are handled the same way; ``schema`` is not modified.

    Args:
        schema: A JSON Schema (typically from ``model_json_schema()``).
        max_length: Bound for unbounded strings.
        max_items: Bound for unbounded arrays.

    Returns:
        The bounded copy.
    """
    out = copy.deepcopy(schema)
    _bound(out, max_length, max_items)
    return out


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/Name``) once; other nodes come back as they are."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        if isinstance(target, dict):
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _number(value: Any) -> Any:
    """``100.0`` reads as ``100`` (pydantic writes integer bounds as floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _phrase(node: dict[str, Any], root: dict[str, Any]) -> str:
    """How a value of ``node`` reads in plain words: ``integer from 0 to 100``."""
    node = _resolve(node, root)
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list):
        real = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        words = " or ".join(_phrase(o, root) for o in real) or "null"
        return f"{words} or null" if len(real) < len(options) else words
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in node["enum"])
    if "const" in node:
        return "exactly " + json.dumps(node["const"], ensure_ascii=False)
    kinds = _types(node)
    nullable = " or null" if "null" in kinds else ""
    kinds.discard("null")
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    if kind in ("integer", "number"):
        low, high = _number(node.get("minimum")), _number(node.get("maximum"))
        if low is not None and high is not None:
            return f"{kind} from {low} to {high}{nullable}"
        if low is not None:
            return f"{kind}, at least {low}{nullable}"
        if high is not None:
            return f"{kind}, at most {high}{nullable}"
        return f"{kind}{nullable}"
    if kind == "string":
        limit = node.get("maxLength")
        return f"text of at most {limit} characters{nullable}" if limit else f"text{nullable}"
    if kind == "boolean":
        return f"true or false{nullable}"
    if kind == "array":
        items = node.get("items")
        inner = _phrase(items, root) if isinstance(items, dict) else "values"
        limit = node.get("maxItems")
        return (
            f"list of up to {limit} items, each {inner}{nullable}"
            if limit
            else f"list, each {inner}"
        )
    return "a JSON value" + nullable


def _field_guide(schema: dict[str, Any]) -> str:
    """The answer's keys, one line each, in words a small model follows better than JSON Schema.

    The grammar (built from the bounded schema) enforces the shape anyway; this
    only tells the model what each key means. A schema that is not an object
    with properties is shown as compact JSON instead.
    """
    root = _resolve(schema, schema)
    properties = root.get("properties")
    if not isinstance(properties, dict) or not properties:
        return "Answer with JSON that follows this JSON Schema: " + json.dumps(
            schema, ensure_ascii=False, separators=(",", ":")
        )
    lines = ["Answer with one JSON object with exactly these keys:"]
    for key, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        description = _resolve(spec, schema).get("description", "")
        line = f"- {json.dumps(key)}: {_phrase(spec, schema)}."
        lines.append(f"{line} {description}".rstrip())
    return "\n".join(lines)


@functools.lru_cache(maxsize=32)
def grammar_for(schema_json: str) -> Any:
    """The GBNF grammar of a (bounded) schema; a schema it cannot express is rejected.

    ``response_format={"type": "json_object", "schema": ...}`` would do the same
    conversion, but silently falls back to "any JSON" when it fails, and the
    answers would then fail validation one by one. Converting here fails once,
    loudly, and the grammar is reused for every conversation of the recipe.

    Raises:
        ProviderRejected: The schema uses something the converter does not support.
    """
    from llama_cpp.llama_grammar import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema_json, verbose=False)
    except Exception as err:  # the converter raises bare Exception/ValueError/KeyError
        raise ProviderRejected(
            "the answer schema cannot be turned into a llama.cpp grammar",
            where="llm.provider=local",
            expected="a JSON Schema of objects, strings, numbers, booleans, enums and lists",
            found=str(err),
        ) from err


def system_prompt(system: str, schema: dict[str, Any]) -> str:
    """The recipe's instructions plus the answer's keys (the model never sees the grammar)."""
    return f"{system.rstrip()}\n\n{_field_guide(schema)}"
