"""The summarize function's HTTP face: analyse one lead or a list, synchronously.

``POST`` with ``Authorization: Bearer <token>`` (tokens from ``LR_ANALYSIS_API_TOKENS``,
Secret Manager in the cloud) and a JSON body::

    {"recipe": "stall_reasons",
     "leads": [{"lead_key": "+52...", "fields": {"name": "Ana", ...},
                "messages": [{"sent_at": "2026-11-20T14:03:00Z", "sender": "user", "text": "hola"}]}]}

The recipe's processors run on the given messages, then the same `Analyzer`
as the pipeline (with the cache) answers. The reply lists one result per lead.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import LeadRecoveryError, PayloadError
from common.llm.config import prompt_placeholders
from common.messages import RecipeName, RunOptions
from common.processors.base import LEAD_KEY, MESSAGE_SCHEMA
from common.steps.context import StepContext

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_LEADS = 100


class MessageIn(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid")
    sent_at: datetime
    sender: Literal["user", "bot", "agent"]
    text: str | None = None
    message_id: str | None = None


class LeadIn(BaseModel):
    """One lead to analyse."""

    model_config = ConfigDict(extra="forbid")
    lead_key: str = Field(min_length=1)
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Lead columns the prompt uses."
    )
    messages: list[MessageIn] = Field(min_length=1)


class AnalyzeRequest(BaseModel):
    """The request body."""

    model_config = ConfigDict(extra="forbid")
    recipe: RecipeName
    leads: list[LeadIn] = Field(min_length=1, max_length=MAX_LEADS)
    as_of: datetime | None = None


def _authorized(header: str | None, tokens: list[str]) -> bool:
    if not header or not header.startswith("Bearer ") or not tokens:
        return False
    given = header.removeprefix("Bearer ").encode()
    # Compare against every token in constant time (no early exit on a match).
    return any([hmac.compare_digest(given, t.encode()) for t in tokens])


def _messages_frame(leads: list[LeadIn]) -> pl.DataFrame:
    rows = [
        {
            LEAD_KEY: lead.lead_key,
            "message_id": m.message_id or f"{lead.lead_key}-{i:05d}",
            "sent_at": m.sent_at.astimezone(UTC),
            "sender": m.sender,
            "text": m.text,
        }
        for lead in leads
        for i, m in enumerate(lead.messages)
    ]
    return pl.DataFrame(rows, schema=MESSAGE_SCHEMA)


_SCALARS = (str, bool, int, float)


def _leads_frame(leads: list[LeadIn]) -> pl.DataFrame:
    """One row per lead; each field holds one scalar type across the leads (else a 400)."""
    kinds: dict[str, tuple[int, type]] = {}
    for index, lead in enumerate(leads):
        for name, value in lead.fields.items():
            where = f"leads[{index}].fields"
            if value is None:
                continue
            if not isinstance(value, _SCALARS):
                raise PayloadError(
                    f"field `{name}` is a {type(value).__name__}",
                    where=where,
                    expected="a string, number, boolean or null",
                )
            kind = float if type(value) is int else type(value)
            first = kinds.setdefault(name, (index, kind))
            if first[1] is not kind:
                raise PayloadError(
                    f"field `{name}` is a {type(value).__name__} but "
                    f"leads[{first[0]}].fields.{name} is a {first[1].__name__}",
                    where=where,
                    expected="one type per field across the leads",
                )
    columns = {name: pl.Float64 if kind is float else None for name, (_, kind) in kinds.items()}
    rows = [{LEAD_KEY: lead.lead_key, **lead.fields} for lead in leads]
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.with_columns(
        pl.col(name).cast(dtype) for name, dtype in columns.items() if dtype is not None
    )


def _check_prompt_fields(prompt: str, leads: list[LeadIn], computed: set[str]) -> None:
    """Every prompt placeholder the processors do not compute must be in each lead's fields."""
    from common.llm.prompts import CONVERSATION

    needed = [n for n in prompt_placeholders(prompt) if n != CONVERSATION and n not in computed]
    for index, lead in enumerate(leads):
        missing = [n for n in needed if n not in lead.fields]
        if missing:
            raise PayloadError(
                "missing " + ", ".join(f"`{n}`" for n in missing) + " (the prompt uses them)",
                where=f"leads[{index}].fields",
                expected="fields " + ", ".join(f"`{n}`" for n in needed),
            )


def analyze(ctx: StepContext, body: AnalyzeRequest) -> list[dict[str, Any]]:
    """Processors + LLM analysis for the given leads; one result dict per lead."""
    from common.llm.factory import build_analyzer
    from common.llm.modes.analyze import digest_items
    from common.steps.process import compute_features

    recipe = ctx.recipe(body.recipe)
    if recipe.llm is None or recipe.llm.mode != "analyze":
        raise LeadRecoveryError(
            "the HTTP analysis answers `analyze` recipes only",
            where=recipe.where(field="llm.mode"),
            found=recipe.llm.mode if recipe.llm else None,
        )
    as_of = body.as_of or datetime.now(UTC)
    leads = _leads_frame(body.leads)
    messages = _messages_frame(body.leads)
    features = compute_features(recipe, RunOptions(as_of=as_of), leads, messages).drop(
        "ignore_reason"
    )
    _check_prompt_fields(
        recipe.prompt or "", body.leads, set(features.columns) - set(leads.columns)
    )
    items, _ = digest_items(
        features, messages, token_budget=recipe.llm.token_budget, timezone=recipe.meta.timezone
    )
    outcomes, _ = build_analyzer(recipe, ctx.settings, ctx.backends.cache).run(items)
    return [
        {"lead_key": o.lead_key, "answer": o.answer, "error": o.reason, "cached": o.cached}
        for o in outcomes
    ]


def _unread_rest(answer: tuple[str, int, dict[str, str]]) -> Any:
    """The answer as a streamed response that closes the connection.

    functions-framework drains the whole request body after a plain response
    (`read_request`); a streamed one skips that, so an endless chunked upload is
    not read into memory after it was refused.
    """
    from flask import Response

    text, status, headers = answer
    return Response(iter([text]), status=status, headers={**headers, "Connection": "close"})


def handle_analyze_http(request: Any, ctx: StepContext) -> Any:
    """HTTP wrapper: 405 non-POST, 401 bad token, 413 too large, 415 non-JSON, 400 bad body.

    Returns ``(body, status, headers)``, or a streamed response for a refused
    oversized body (see `_unread_rest`).
    """
    headers = {"Content-Type": "application/json"}

    def reply(payload: Any, status: int) -> tuple[str, int, dict[str, str]]:
        return json.dumps(payload, ensure_ascii=False, default=str), status, headers

    if request.method != "POST":
        return reply({"error": "use POST"}, 405)
    tokens = [t.get_secret_value() for t in ctx.settings.analysis_api_tokens]
    if not _authorized(request.headers.get("Authorization"), tokens):
        return reply({"error": "unauthorized"}, 401)
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return reply({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413)
    if not (request.mimetype or "").endswith("json"):
        return reply({"error": "send application/json"}, 415)
    # A chunked body has no Content-Length: read at most one byte past the limit.
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return _unread_rest(reply({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413))
    try:
        body = AnalyzeRequest.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(body)"
        return reply({"error": f"`{field}`: {first['msg']}"}, 400)
    try:
        results = analyze(ctx, body)
    except LeadRecoveryError as err:
        log.warning("analysis refused: %s", err)
        return reply(
            {"error": str(err)}, 400 if not err.__class__.__name__.startswith("Transient") else 503
        )
    return reply({"recipe": body.recipe, "results": results}, 200)
