"""Conversation digests: format, order, time zone, and the token budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from common.errors import ConfigError
from common.llm.digest import DIGEST_SCHEMA, build_digests, omitted_marker
from common.llm.tokens import count_tokens
from common.processors.base import MESSAGE_SCHEMA

T0 = datetime(2026, 11, 20, 20, 3, tzinfo=UTC)
"""14:03 in Mexico City (UTC-6)."""


def frame(rows: list[tuple[str, str, str | None, datetime]]) -> pl.DataFrame:
    """Messages from ``(lead_key, sender, text, sent_at)`` rows, ids in row order."""
    return pl.DataFrame(
        {
            "lead_key": [r[0] for r in rows],
            "message_id": [f"m{i:04d}" for i in range(len(rows))],
            "sent_at": [r[3] for r in rows],
            "sender": [r[1] for r in rows],
            "text": [r[2] for r in rows],
        },
        schema=MESSAGE_SCHEMA,
    )


def chat(lead: str, texts: list[str | None], *, every: timedelta = timedelta(minutes=1)):
    senders = ("user", "bot", "agent")
    return [(lead, senders[i % 3], t, T0 + i * every) for i, t in enumerate(texts)]


def one(df: pl.DataFrame, lead: str) -> dict:
    return df.filter(pl.col("lead_key") == lead).row(0, named=True)


def test_one_line_per_message_oldest_first() -> None:
    rows = chat("a", ["hola", "¿En qué te ayudo?", "Soy Ana, te llamo"])
    shuffled = [rows[2], rows[0], rows[1]]

    out = build_digests(frame(shuffled), token_budget=1000)

    assert out.schema == pl.Schema(DIGEST_SCHEMA)
    assert one(out, "a") == {
        "lead_key": "a",
        "digest": (
            "[2026-11-20 20:03] user: hola\n"
            "[2026-11-20 20:04] bot: ¿En qué te ayudo?\n"
            "[2026-11-20 20:05] agent: Soy Ana, te llamo"
        ),
        "digest_tokens": count_tokens(one(out, "a")["digest"]),
        "truncated": False,
        "turns": 3,
        "turns_kept": 3,
    }


def test_times_are_written_in_the_recipe_zone() -> None:
    out = build_digests(
        frame(chat("a", ["hola"])), token_budget=100, timezone="America/Mexico_City"
    )

    assert one(out, "a")["digest"] == "[2026-11-20 14:03] user: hola"


def test_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        build_digests(frame(chat("a", ["hola"])), token_budget=100, timezone="Mars/Olympus")


def test_null_text_is_media_and_newlines_collapse() -> None:
    texts = [None, "línea uno\nlínea dos\r\n\r\n  tres", "a\u2028b", "  espacios  "]

    digest = one(build_digests(frame(chat("a", texts)), token_budget=1000), "a")["digest"]

    assert digest.split("\n") == [
        "[2026-11-20 20:03] user: <media>",
        "[2026-11-20 20:04] bot: línea uno línea dos tres",
        "[2026-11-20 20:05] agent: a b",
        "[2026-11-20 20:06] user: espacios",
    ]


def test_consecutive_duplicates_are_kept() -> None:
    rows = [("a", "user", "hola", T0), ("a", "user", "hola", T0)]

    digest = one(build_digests(frame(rows), token_budget=100), "a")["digest"]

    assert digest == "[2026-11-20 20:03] user: hola\n[2026-11-20 20:03] user: hola"


def test_unicode_and_emoji_survive() -> None:
    text = "Me encantó 😍🏡 ¿cuánto cuesta? 日本語"

    digest = one(build_digests(frame(chat("a", [text])), token_budget=100), "a")["digest"]

    assert digest == f"[2026-11-20 20:03] user: {text}"


def test_several_leads_and_determinism() -> None:
    rows = chat("b", ["x", "y"]) + chat("a", ["hola", None, "ok"])
    df = frame(rows)

    first = build_digests(df, token_budget=1000)
    again = build_digests(df.reverse(), token_budget=1000)

    assert first["lead_key"].to_list() == ["a", "b"]
    assert first["turns"].to_list() == [3, 2]
    assert first.equals(again)


def test_empty_input_gives_an_empty_frame() -> None:
    out = build_digests(frame([]), token_budget=100)

    assert out.is_empty()
    assert out.schema == pl.Schema(DIGEST_SCHEMA)


def test_truncation_keeps_the_newest_turns_and_says_so() -> None:
    texts = [f"mensaje número {i}: me interesa la casa de la calle {i}" for i in range(60)]
    budget = 200

    row = one(build_digests(frame(chat("a", texts)), token_budget=budget), "a")
    lines = row["digest"].split("\n")
    omitted = 60 - row["turns_kept"]

    assert row["truncated"] is True
    assert row["turns"] == 60
    assert 0 < row["turns_kept"] < 60
    assert lines[0] == omitted_marker(omitted) == f"[… {omitted} earlier messages omitted]"
    assert lines[-1].endswith(texts[-1])
    assert [line.split(": ", 1)[1] for line in lines[1:]] == texts[omitted:]
    assert row["digest_tokens"] == count_tokens(row["digest"]) <= budget
    # As many turns as fit: one more would break the budget.
    wider = "\n".join([omitted_marker(omitted - 1), *_lines(texts, omitted - 1)])
    assert count_tokens(wider) > budget


def _lines(texts: list[str], start: int) -> list[str]:
    full = one(build_digests(frame(chat("a", texts)), token_budget=100_000), "a")["digest"]
    return full.split("\n")[start:]


@pytest.mark.parametrize("budget", [100, 137, 250, 999])
def test_budget_is_respected_exactly(budget: int) -> None:
    texts = [("¿Cuánto cuesta? 😀 " * (i % 7 + 1)) + f"#{i}" for i in range(80)]

    row = one(build_digests(frame(chat("a", texts)), token_budget=budget), "a")

    assert row["digest_tokens"] == count_tokens(row["digest"]) <= budget
    assert row["digest_tokens"] >= budget - 60  # the budget is used, not wasted


def test_a_conversation_that_fits_exactly_is_not_truncated() -> None:
    texts = ["hola", "buenas tardes", "me interesa"]
    full = one(build_digests(frame(chat("a", texts)), token_budget=10_000), "a")

    row = one(build_digests(frame(chat("a", texts)), token_budget=full["digest_tokens"]), "a")

    assert row["truncated"] is False
    assert row["digest"] == full["digest"]


def test_a_single_long_message_keeps_its_end() -> None:
    text = " ".join(f"palabra{i}" for i in range(2000)) + " FIN"
    budget = 120

    row = one(build_digests(frame(chat("a", [text])), token_budget=budget), "a")

    assert row["truncated"] is True
    assert (row["turns"], row["turns_kept"]) == (1, 1)
    assert row["digest"].startswith("[2026-11-20 20:03] user: …")
    assert row["digest"].endswith("palabra1999 FIN")
    assert row["digest_tokens"] == count_tokens(row["digest"]) <= budget
    assert row["digest_tokens"] >= budget - 5


def test_a_long_newest_message_after_others_is_cut_and_the_rest_omitted() -> None:
    texts = ["hola", "buenas", "🏠" * 3000 + " última frase"]
    budget = 100

    row = one(build_digests(frame(chat("a", texts)), token_budget=budget), "a")
    lines = row["digest"].split("\n")

    assert lines[0] == "[… 2 earlier messages omitted]"
    assert lines[1].startswith("[2026-11-20 20:05] agent: …🏠")
    assert lines[1].endswith("🏠 última frase")
    assert "\ufffd" not in row["digest"]  # no emoji cut in half
    assert row["turns_kept"] == 1
    assert row["digest_tokens"] == count_tokens(row["digest"]) <= budget


def test_other_conversations_are_untouched_by_a_long_one() -> None:
    rows = chat("long", ["x " * 5000]) + chat("short", ["hola"])

    out = build_digests(frame(rows), token_budget=100)

    assert one(out, "short")["digest"] == "[2026-11-20 20:03] user: hola"
    assert one(out, "short")["truncated"] is False
    assert one(out, "long")["truncated"] is True


def test_non_positive_budget_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="budget"):
        build_digests(frame(chat("a", ["hola"])), token_budget=0)
