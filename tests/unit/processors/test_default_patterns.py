"""The default params recognise the phrases of the sample data (common.sample_templates)."""

from __future__ import annotations

import itertools

import polars as pl
import pytest

from common import sample_templates as st
from common.processors._expressions import text_matches
from common.processors.handoff import (
    DEFAULT_ACCEPT_PATTERNS,
    DEFAULT_DECLINE_PATTERNS,
    DEFAULT_FINALIZED_PATTERNS,
    DEFAULT_INVITATION_PATTERNS,
)
from common.processors.human_transfer import DEFAULT_TRANSFER_PATTERNS
from common.processors.validation import DEFAULT_QUESTION_PATTERNS


def _phrases(by_language: dict[str, list[str]]) -> list[str]:
    return list(itertools.chain.from_iterable(by_language.values()))


USER_PHRASES = ("HANDOFF_ACCEPT", "HANDOFF_DECLINE")


def _bot_phrases() -> list[str]:
    """Every bot phrase of the sample data: each ``{language: [texts]}`` constant but the user's."""
    groups = [
        value
        for name, value in vars(st).items()
        if name.isupper()
        and name not in USER_PHRASES
        and isinstance(value, dict)
        and set(value) == set(st.LANGUAGES)
        and all(isinstance(v, list) for v in value.values())
    ]
    templates = [v for t in st.TEMPLATES.values() for v in _phrases(t)]
    return [*itertools.chain.from_iterable(_phrases(g) for g in groups), *templates]


def test_the_bot_phrases_include_every_group() -> None:
    bot = set(_bot_phrases())
    for group in (st.GREETINGS, st.HANDOFF_INVITATIONS, st.PROFILING_QUESTIONS, st.HUMAN_TRANSFER):
        assert set(_phrases(group)) <= bot
    assert not set(_phrases(st.HANDOFF_ACCEPT)) & bot


def _matching(patterns: tuple[str, ...], texts: list[str]) -> set[str]:
    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String})
    return set(frame.filter(text_matches(patterns, pl.lit(True)))["text"].to_list())


@pytest.mark.parametrize(
    ("patterns", "phrases"),
    [
        (DEFAULT_INVITATION_PATTERNS, st.HANDOFF_INVITATIONS),
        (DEFAULT_FINALIZED_PATTERNS, st.HANDOFF_CONFIRMATIONS),
        (DEFAULT_QUESTION_PATTERNS, st.PROFILING_QUESTIONS),
        (DEFAULT_TRANSFER_PATTERNS, st.HUMAN_TRANSFER),
    ],
    ids=["invitation", "finalized", "profiling", "transfer"],
)
def test_bot_phrases_match_their_default_patterns_and_no_other(patterns, phrases) -> None:
    expected = set(_phrases(phrases))
    assert _matching(patterns, _bot_phrases()) == expected


def _user_variants(phrase: str) -> list[str]:
    return [phrase, phrase.upper(), phrase.capitalize() + " 🙏", "😅 " + phrase]


@pytest.mark.parametrize("phrase", _phrases(st.HANDOFF_ACCEPT))
def test_accept_phrases(phrase: str) -> None:
    variants = _user_variants(phrase)
    assert _matching(DEFAULT_ACCEPT_PATTERNS, variants) == set(variants)
    assert _matching(DEFAULT_DECLINE_PATTERNS, variants) == set()


@pytest.mark.parametrize("phrase", _phrases(st.HANDOFF_DECLINE))
def test_decline_phrases(phrase: str) -> None:
    variants = _user_variants(phrase)
    assert _matching(DEFAULT_DECLINE_PATTERNS, variants) == set(variants)
