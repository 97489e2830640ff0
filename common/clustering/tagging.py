"""The recipe's predefined categories (``clustering.tags``) per text.

Two ways, chosen by ``tag_with``:

- ``embedding`` (default, offline, no calls): each category's name is embedded
  with the same model (and cache) as the texts; a text gets the most similar
  category when its cosine similarity reaches ``tag_min_similarity``. Write
  categories as short phrases (``price too high``) rather than codes.
- ``llm``: the naming LLM picks up to three categories per distinct text
  (structured answer with the categories as an enum), cached like every answer.

Either way the result is one string per text, categories joined by ``; ``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, create_model

if TYPE_CHECKING:
    from common.llm.analysis import Analyzer, Item

SEPARATOR = "; "
MAX_TAGS = 3

TAG_SYSTEM = (
    "You sort what customers wrote into predefined categories. "
    "Answer with one JSON object that matches the given JSON Schema exactly, and nothing else."
)
TAG_PROMPT = """\
Categories: {categories}

Which categories does this customer text belong to? Pick up to three, or none.

Text:
{text}"""


def tag_by_embedding(
    vectors: np.ndarray,
    tags: Sequence[str],
    embed: Callable[[list[str]], np.ndarray],
    min_similarity: float,
) -> list[str]:
    """The most similar tag per row of ``vectors`` (unit rows), or "" below ``min_similarity``."""
    if not tags or vectors.shape[0] == 0:
        return [""] * vectors.shape[0]
    targets = embed(list(tags))
    similarity = vectors @ targets.T
    best = similarity.argmax(axis=1)
    score = similarity[np.arange(vectors.shape[0]), best]
    return [tags[int(j)] if s >= min_similarity else "" for j, s in zip(best, score, strict=True)]


def _render(template: str, item: Item) -> str:
    return template.format_map(dict(item.fields))


def tag_with_llm(
    analyzer: Analyzer, texts: Sequence[str], tags: Sequence[str]
) -> tuple[list[str], dict[str, Any]]:
    """Up to three tags per text from the LLM (one call per distinct text, cached)."""
    from common.llm.analysis import Item

    kinds: Any = Literal[tuple(tags)]
    answer = create_model(
        "TagAnswer",
        __config__=ConfigDict(extra="forbid"),
        tags=(list[kinds], Field(max_length=MAX_TAGS, description="The categories that apply.")),
    )
    tagger = analyzer.variant(
        prompt=TAG_PROMPT,
        answer_model=answer,
        system=TAG_SYSTEM,
        schema_name="tags",
        render=_render,
    )
    unique = list(dict.fromkeys(texts))
    categories = ", ".join(tags)
    items = [
        Item(lead_key=str(i), fields={"categories": categories, "text": t}, digest="")
        for i, t in enumerate(unique)
    ]
    outcomes, stats = tagger.run(items)
    by_text = {
        t: SEPARATOR.join(dict.fromkeys(o.answer["tags"])) if o.answer else ""
        for t, o in zip(unique, outcomes, strict=True)
    }
    return [by_text[t] for t in texts], stats.as_dict()
