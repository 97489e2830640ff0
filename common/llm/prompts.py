"""The prompt of an analysis: the system message, rendering an item, checking placeholders."""

from __future__ import annotations

from collections.abc import Callable

from common.errors import TerminalError
from common.llm.config import prompt_placeholders
from common.llm.items import Item
from common.text import did_you_mean

SYSTEM = (
    "You analyse sales conversations between a customer (user) and a company's bot or agents. "
    "Answer with one JSON object that matches the given JSON Schema exactly, and nothing else."
)
CONVERSATION = "conversation"
"""Placeholder of the conversation digest in prompt.txt (appended when absent)."""

Renderer = Callable[[str, Item], str]
"""Turns a prompt template and an item into the user message."""


def render_prompt(template: str, item: Item) -> str:
    """Fill the prompt's placeholders; the digest goes where ``{conversation}`` is, or last."""
    values = {k: ("" if v is None else v) for k, v in item.fields.items()}
    values[CONVERSATION] = item.digest
    text = template.format_map(values)
    if CONVERSATION not in prompt_placeholders(template):
        text = f"{text.rstrip()}\n\nConversation:\n{item.digest}"
    return text


def check_prompt(template: str, available: set[str], *, where: str) -> None:
    """Every placeholder must be a column the pipeline supplies (or ``conversation``)."""
    try:
        names = prompt_placeholders(template)
    except ValueError as err:
        raise TerminalError(f"prompt has a broken placeholder: {err}", where=where) from err
    for name in names:
        if name != CONVERSATION and name not in available:
            hint = did_you_mean(name, available | {CONVERSATION})
            raise TerminalError(
                f"placeholder `{{{name}}}`: no lead column or processor column has this name"
                + (f"; did you mean `{{{hint}}}`?" if hint else ""),
                where=where,
                expected="one of {conversation}, "
                + ", ".join(f"{{{c}}}" for c in sorted(available)),
            )
