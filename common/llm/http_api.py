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

from common.errors import LeadRecoveryError
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
    leads = pl.DataFrame([{LEAD_KEY: lead.lead_key, **lead.fields} for lead in body.leads])
    messages = _messages_frame(body.leads)
    features = compute_features(recipe, RunOptions(as_of=as_of), leads, messages).drop(
        "ignore_reason"
    )
    items, _ = digest_items(
        features, messages, token_budget=recipe.llm.token_budget, timezone=recipe.meta.timezone
    )
    outcomes, _ = build_analyzer(recipe, ctx.settings, ctx.backends.cache).run(items)
    return [
        {"lead_key": o.lead_key, "answer": o.answer, "error": o.reason, "cached": o.cached}
        for o in outcomes
    ]


def handle_analyze_http(request: Any, ctx: StepContext) -> tuple[str, int, dict[str, str]]:
    """HTTP wrapper: 405 non-POST, 401 bad token, 413 too large, 415 non-JSON, 400 bad body."""
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
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY_BYTES:
        return reply({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413)
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
