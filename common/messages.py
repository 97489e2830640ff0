"""The bodies of every Pub/Sub message between functions: versioned pydantic models.

Large data never rides in a message: a shard's rows live as Parquet in the
BlobStore and the message carries their paths.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.errors import PayloadError

SCHEMA_VERSION: Literal[1] = 1

RECIPE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
"""A recipe name: a folder directly under ``LR_RECIPES_DIR`` (no path, no dot, no slash)."""
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$"
"""A run id: one object-name segment and one Firestore document id (no ``/``, no ``..``)."""

RecipeName = Annotated[
    str,
    Field(
        pattern=RECIPE_NAME_PATTERN,
        description="A recipe folder's name: lowercase letters, digits, `_`; a letter first.",
    ),
]
RunId = Annotated[
    str,
    Field(
        pattern=RUN_ID_PATTERN,
        description="Letters, digits, `_`, `.`, `-` (a letter or digit first), at most 120.",
    ),
]


class RunOptions(BaseModel):
    """Options a run carries from its start to its report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int | None = Field(None, ge=1, description="Process only the first N leads.")
    skip_leads_query: bool = Field(
        False, description="Read the recipe's uploaded leads.csv instead of running leads.sql."
    )
    skip_processors: tuple[str, ...] = ()
    run_only_processors: tuple[str, ...] = ()
    include_columns: tuple[str, ...] = ()
    exclude_columns: tuple[str, ...] = ()
    no_cache: bool = Field(
        False, description="Ask the LLM again instead of reading cached answers."
    )
    as_of: datetime | None = Field(
        None, description="Reference 'now' for time features; defaults to the run's start."
    )

    @field_validator("as_of")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("as_of must carry a time zone (e.g. 2026-11-20T18:00:00Z)")
        return value


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION


class RunRequest(_Message):
    """Starts a run: published to ``recipe-runs`` by Scheduler, the CLI or a person."""

    recipe: RecipeName
    run_id: RunId | None = Field(None, description="Chosen by the caller, or derived.")
    options: RunOptions = RunOptions()


class ShardMessage(_Message):
    """One shard of a run moving from one per-shard step to the next."""

    run_id: RunId
    recipe: RecipeName
    shard_index: int = Field(ge=0)
    shard_count: int = Field(ge=1)
    options: RunOptions = RunOptions()


class RunMessage(_Message):
    """A whole run moving between run-level steps (after the fan-in)."""

    run_id: RunId
    recipe: RecipeName
    options: RunOptions = RunOptions()


class DeadLetter(_Message):
    """A message a step refused for good, with the reason, on the hop's dead-letter topic.

    Pub/Sub's own dead-lettering (after too many failed deliveries) forwards the
    original body instead; both land on ``<topic>-dead-letter``.
    """

    topic: str
    step: str
    message_id: str
    error: dict[str, Any]
    body: dict[str, Any] | str
    """The original message (decoded JSON when it was JSON)."""


M = TypeVar("M", bound=_Message)


def decode(model: type[M], data: bytes | str | dict[str, Any], *, where: str) -> M:
    """Parse a message body; a malformed one raises `PayloadError` naming what failed.

    Args:
        model: The message class expected.
        data: Raw bytes/str (JSON) or an already-decoded dict.
        where: Where it came from, for the error (e.g. ``topic leads-fetched``).
    """
    try:
        obj = json.loads(data) if isinstance(data, bytes | str) else data
    except (ValueError, UnicodeDecodeError) as err:
        raise PayloadError(
            "message body is not JSON", where=where, expected="a JSON object"
        ) from err
    if isinstance(obj, dict) and "schema_version" not in obj:
        obj = {**obj, "schema_version": SCHEMA_VERSION}
    try:
        return model.model_validate(obj)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise PayloadError(
            f"invalid {model.__name__} field `{field}`: {first['msg']}",
            where=where,
            found=first.get("input"),
        ) from err


def encode(message: _Message) -> bytes:
    """Serialise a message for the Bus."""
    return message.model_dump_json(exclude_none=True).encode()
