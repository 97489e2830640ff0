"""Processors registered by name (``TemporalProcessor``) and by module path."""

from __future__ import annotations

import difflib
import functools
from typing import Any

from pydantic import ValidationError

from common.errors import RecipeError
from common.processors.base import Processor, ProcessorContext

_REGISTRY: dict[str, type[Processor]] = {}


def register(cls: type[Processor]) -> type[Processor]:
    """Class decorator: make a processor findable by its name and module path."""
    _REGISTRY[cls.name] = cls
    return cls


@functools.cache
def _load_builtins() -> None:
    # Importing the modules runs their @register decorators. Once per process, and not
    # "when the registry is empty": importing one processor module directly registers it.
    from common.processors import (  # noqa: F401
        conversation_state,
        handoff,
        human_transfer,
        metadata,
        template,
        temporal,
        validation,
    )


def registry() -> dict[str, type[Processor]]:
    """Name → class for every known processor."""
    _load_builtins()
    return dict(_REGISTRY)


def module_path(cls: type[Processor]) -> str:
    """The dotted path a recipe may use, e.g. ``common.processors.temporal.TemporalProcessor``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve(name: str, *, where: str) -> type[Processor]:
    """Find a processor by short name or module path; unknown names list the valid ones."""
    known = registry()
    short = name.rsplit(".", 1)[-1]
    cls = known.get(short)
    if cls is not None and (name == short or name == module_path(cls)):
        return cls
    valid = sorted(known)
    hint = difflib.get_close_matches(short, valid, n=1)
    raise RecipeError(
        f"unknown processor `{name}`" + (f"; did you mean `{hint[0]}`?" if hint else ""),
        where=where,
        expected="one of " + ", ".join(valid) + " (or common.processors.<module>.<Name>)",
    )


def build(name: str, params: dict[str, Any], context: ProcessorContext, *, where: str) -> Processor:
    """Instantiate a processor with validated params."""
    cls = resolve(name, where=where)
    try:
        typed = cls.Params.model_validate(params or {})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise RecipeError(
            f"params of {cls.name}: `{field}`: {first['msg']}",
            where=where,
            found=first.get("input"),
        ) from err
    return cls(typed, context)
