"""What each cluster is about: distinctive keywords, representative texts, an LLM's name.

- **Keywords** are class-based TF-IDF (BERTopic's c-TF-IDF): the texts of one
  cluster form one document, and a term scores ``tf(t, c) · log(1 + A / f(t))``
  where ``A`` is the average number of words per cluster and ``f(t)`` the
  term's frequency over all clusters of that depth (noise included, so words
  common everywhere rank low). English and Spanish stop words and chat filler
  are dropped; unigrams and bigrams are kept.
- **Representatives** are the texts nearest the cluster's centroid (cosine, in
  the embedding space), without repeats.
- **Names**: with ``name_with_llm`` one structured LLM call per cluster
  (`ClusterName`: name + description) through the project's `Analyzer`, so it
  is rate-limited, retried, validated (one repair) and cached like every other
  LLM answer: a re-run with the same clusters asks nothing. Without it, or when
  an answer stays invalid, the name is the top keywords.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from common.clustering.config import ClusteringConfig, NamingLLM

if TYPE_CHECKING:
    from common.llm.analysis import Analyzer, Item
    from common.ports.summarycache import SummaryCache
    from common.recipe import Recipe
    from common.settings import Settings

NOISE_NAME = "Unclustered"

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his how
    i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves im ive dont cant didnt doesnt isnt wont its
    hi hello hey thanks thank please ok okay yes yeah sure bye good morning afternoon
    evening get got one would like want
    de la que el en y a los del se las por un para con no una su al lo como más mas pero
    sus le ya o este sí si porque esta entre cuando muy sin sobre también tambien me hasta
    hay donde quien desde todo nos durante todos uno les ni contra otros ese eso ante ellos
    e esto mí mi mis tus antes algunos qué que unos yo otro otras otra él tanto esa estos mucho
    quienes nada muchos cual poco ella estar estas algunas algo nosotros tu tus te ti
    es son está estoy estás estan están fue ser soy eres era hola gracias buenos buenas
    días dias tardes noches bueno vale ok favor tengo tiene quiero puedo puede hacer
    usted ustedes qué cómo como cuál cuanto cuánto
    """.split()
)


@dataclass
class NodeText:
    """What naming needs about one cluster."""

    label: str
    parent: str
    depth: int
    size: int
    noise: bool
    keywords: list[str]
    samples: list[str]


def class_keywords(texts: Sequence[str], labels: Sequence[str], top: int) -> dict[str, list[str]]:
    """The ``top`` most distinctive terms of each label's texts (c-TF-IDF).

    Args:
        texts: One text per row.
        labels: The class of each row (one depth's labels, noise included).
        top: Terms kept per class.

    Returns:
        Label → terms, best first (empty when the texts have no usable words).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    if not texts:
        return {}
    vectorizer = CountVectorizer(
        lowercase=True,
        stop_words=sorted(STOP_WORDS),
        token_pattern=r"(?u)\b[^\W\d_]{3,}\b",
        ngram_range=(1, 2),
        min_df=2 if len(texts) >= 20 else 1,
        dtype=np.float64,
    )
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # empty vocabulary
        return {label: [] for label in set(labels)}
    terms = vectorizer.get_feature_names_out()
    classes = sorted(set(labels))
    index = {label: i for i, label in enumerate(classes)}
    from scipy import sparse

    rows = np.asarray([index[label] for label in labels])
    indicator = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(classes), len(rows))
    )
    per_class = np.asarray((indicator @ counts).todense())
    words = per_class.sum(axis=1, keepdims=True)
    tf = per_class / np.where(words == 0, 1.0, words)
    frequency = per_class.sum(axis=0)
    average = float(words.sum()) / max(len(classes), 1)
    idf = np.log1p(average / np.where(frequency == 0, 1.0, frequency))
    scores = tf * idf
    out: dict[str, list[str]] = {}
    for label, i in index.items():
        row = scores[i]
        best = np.argsort(-row, kind="stable")[: top * 2]
        chosen: list[str] = []
        for j in best:
            if row[j] <= 0 or len(chosen) == top:
                break
            term = str(terms[j])
            # A unigram already inside a chosen bigram adds nothing.
            if not any(term in kept.split() for kept in chosen if " " in kept):
                chosen.append(term)
        out[label] = chosen
    return out


def representatives(
    vectors: np.ndarray, members: np.ndarray, texts: Sequence[str], k: int, chars: int
) -> list[str]:
    """Up to ``k`` distinct texts nearest the members' centroid, cut to ``chars``."""
    if members.size == 0:
        return []
    rows = vectors[members]
    centre = rows.mean(axis=0)
    norm = float(np.linalg.norm(centre))
    if norm > 0:
        centre = centre / norm
    order = np.argsort(-(rows @ centre), kind="stable")
    out: list[str] = []
    seen: set[str] = set()
    for j in order:
        text = " ".join(texts[int(members[j])].split())
        if text and text not in seen:
            seen.add(text)
            out.append(text if len(text) <= chars else text[: chars - 1] + "…")
            if len(out) == k:
                break
    return out


def keyword_name(keywords: Sequence[str], noise: bool = False) -> str:
    """The name used without an LLM: the top three keywords."""
    if noise:
        return NOISE_NAME
    return " / ".join(keywords[:3]) if keywords else "(no keywords)"


# --- LLM naming ---------------------------------------------------------------------


class ClusterName(BaseModel):
    """The LLM's answer for one cluster."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=60, description="A short name for the theme (2-6 words)."
    )
    description: str = Field(
        max_length=300, description="One or two sentences: what these customers say or want."
    )


NAMING_SYSTEM = (
    "You name the themes found by clustering what customers wrote to a company. "
    "Answer with one JSON object that matches the given JSON Schema exactly, and nothing else."
)
NAMING_PROMPT = """\
Clustering customer messages found this group: {size} of {total} texts ({share}).
{context}Most distinctive keywords: {keywords}

Messages nearest the centre of the group:
{samples}

Give the group a short name (2-6 words) that says what these customers talk about, and a
one-sentence description. Write in the language most of the messages use."""


def _render(template: str, item: Item) -> str:
    return template.format_map(dict(item.fields))


def resolve_naming_llm(recipe: Recipe, config: ClusteringConfig) -> NamingLLM:
    """The naming LLM: ``clustering.naming.llm``, else the recipe's `llm` section, else local."""
    if config.naming.llm is not None:
        return config.naming.llm
    if recipe.llm is not None:
        llm = recipe.llm
        return NamingLLM(
            provider=llm.provider,
            model=llm.model,
            base_url=llm.base_url,
            temperature=llm.temperature,
            limits=llm.limits,
        )
    return NamingLLM()


def build_namer(
    recipe: Recipe,
    config: ClusteringConfig,
    settings: Settings,
    cache: SummaryCache | None,
    *,
    read_cache: bool = True,
) -> Analyzer:
    """An `Analyzer` answering `ClusterName` with the naming LLM (settings override the recipe).

    Like `common.llm.factory.build_analyzer` (same client, `build_client`), but
    that one needs the recipe's own `llm` section and prompt; naming has neither
    necessarily.

    Raises:
        ConfigError: the provider cannot be built (missing key or package).
    """
    from common.llm.analysis import Analyzer
    from common.llm.config import LLMConfig
    from common.llm.factory import build_client, effective_provider_model

    section = resolve_naming_llm(recipe, config)
    provider_name, model = effective_provider_model(settings, section.provider, section.model)
    # Only the fields the provider and the analyzer read; naming has no output_schema.
    effective = LLMConfig.model_construct(
        provider=provider_name,
        model=model,
        base_url=section.base_url,
        temperature=section.temperature,
        max_output_tokens=section.max_output_tokens,
        limits=section.limits,
    )
    client = build_client(effective, settings)
    return Analyzer(
        config=effective,
        prompt=NAMING_PROMPT,
        provider_name=provider_name,
        model=model,
        client=client,
        cache=cache if settings.llm_cache else None,
        ttl=timedelta(days=settings.llm_cache_ttl_days),
        read_cache=read_cache,
        answer_model=ClusterName,
        system=NAMING_SYSTEM,
        schema_name="cluster_name",
        render=_render,
    )


def name_with_llm(
    analyzer: Analyzer, nodes: Sequence[NodeText], total: int
) -> tuple[dict[str, tuple[str, str]], dict[str, Any]]:
    """Ask ``analyzer`` for every non-noise node's name and description.

    Returns:
        Label → (name, description) for the answered nodes, and the analyzer's
        counters (cache hits, calls, tokens, ignored).
    """
    from common.llm.analysis import Item

    by_label = {n.label: n for n in nodes}
    items = []
    for node in nodes:
        if node.noise:
            continue
        parent = by_label.get(node.parent)
        context = (
            f"It is a sub-group of a larger group whose keywords are: {', '.join(parent.keywords[:6])}.\n"
            if parent is not None
            else ""
        )
        fields = {
            "size": node.size,
            "total": total,
            "share": f"{node.size / max(total, 1):.1%}",
            "context": context,
            "keywords": ", ".join(node.keywords) or "(none)",
            "samples": "\n".join(f"- {s}" for s in node.samples) or "(none)",
        }
        items.append(Item(lead_key=node.label, fields=fields, digest=""))
    if not items:
        return {}, {}
    outcomes, stats = analyzer.run(items)
    names = {
        o.lead_key: (str(o.answer["name"]).strip(), str(o.answer["description"]).strip())
        for o in outcomes
        if o.answer is not None
    }
    return names, stats.as_dict()


def fallback_names(nodes: Sequence[NodeText]) -> dict[str, tuple[str, str]]:
    """Keyword names for every node."""
    return {n.label: (keyword_name(n.keywords, n.noise), "") for n in nodes}


def share(size: int, total: int) -> float:
    """``size / total`` rounded to four decimals (0 when empty)."""
    return round(size / total, 4) if total else 0.0
