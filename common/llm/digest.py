"""Conversation digests: the compact transcript sent to the LLM, within a token budget.

One line per message, oldest first, in the recipe's time zone::

    [2026-11-20 14:03] user: hola, ¿sigue disponible?
    [2026-11-20 14:04] bot: <media>

A conversation over the budget keeps its most recent messages and says how
many earlier ones were left out, in a first line that counts within the
budget::

    [… 12 earlier messages omitted]

A single message longer than the whole budget keeps its end (the newest
words), its text starting with ``…``. Budgets are measured with
`common.llm.tokens.count_tokens`, and ``digest_tokens`` is that exact count.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from common.errors import ConfigError
from common.llm.tokens import count_tokens, count_tokens_batch, encoding
from common.processors.base import LEAD_KEY, normalize_messages

if TYPE_CHECKING:
    from tiktoken import Encoding

MEDIA = "<media>"
"""What a message without text (an image, audio, a sticker) reads as."""
ELLIPSIS = "…"
TIME_FORMAT = "%Y-%m-%d %H:%M"

DIGEST_SCHEMA: dict[str, pl.DataType] = {
    LEAD_KEY: pl.String(),
    "digest": pl.String(),
    "digest_tokens": pl.Int64(),
    "truncated": pl.Boolean(),
    "turns": pl.Int64(),
    "turns_kept": pl.Int64(),
}
"""Columns of `build_digests`' result."""

# Line breaks of every kind (and the blanks around them) become one space, so a
# message is always one line of the digest.
_LINE_BREAKS = r"[ \t]*(?:\r\n|[\r\n\v\f\x85\u2028\u2029])\s*"
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))


def omitted_marker(count: int) -> str:
    """The first line of a truncated digest: ``[… 12 earlier messages omitted]``."""
    noun = "message" if count == 1 else "messages"
    return f"[{ELLIPSIS} {count} earlier {noun} omitted]"


@dataclass(frozen=True)
class _Digest:
    text: str
    truncated: bool
    kept: int


@functools.lru_cache(maxsize=64)
def _marker_cost(count: int) -> int:
    """Tokens of the omitted-messages line and its line break (0 when nothing is omitted)."""
    return count_tokens(omitted_marker(count)) + 1 if count else 0


def _lines(messages: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """``lead_key`` + ``header`` (``[time] sender: ``) + ``body``, oldest first."""
    stamp = pl.col("sent_at").dt.convert_time_zone(timezone).dt.strftime(TIME_FORMAT).fill_null("?")
    sender = pl.col("sender").fill_null("unknown")
    body = pl.col("text").str.replace_all(_LINE_BREAKS, " ").str.strip_chars().fill_null(MEDIA)
    return normalize_messages(messages).select(
        pl.col(LEAD_KEY),
        pl.concat_str([pl.lit("["), stamp, pl.lit("] "), sender, pl.lit(": ")]).alias("header"),
        body.alias("body"),
    )


def _suffix(lines: list[str], start: int) -> _Digest:
    """The digest of ``lines[start:]``, with the omitted-messages line when ``start > 0``."""
    kept = lines[start:]
    text = "\n".join([omitted_marker(start), *kept] if start else kept)
    return _Digest(text, truncated=start > 0, kept=len(kept))


def _estimate_start(line_tokens: list[int], budget: int) -> int:
    """First line of the longest newest run that fits ``budget`` by estimate.

    A line costs its own tokens plus one for its line break; BPE merges across
    line breaks can make the exact count differ by a token, so the caller checks
    the result with `count_tokens`. Returns ``len(line_tokens)`` when not even
    the newest line fits.
    """
    start = len(line_tokens)
    acc = -1  # n lines have n - 1 line breaks
    while start > 0:
        candidate = start - 1
        if _marker_cost(candidate) + acc + line_tokens[candidate] + 1 > budget:
            break
        acc += line_tokens[candidate] + 1
        start = candidate
    return start


def _utf8_tail(enc: Encoding, ids: list[int]) -> str:
    """Decode trailing token ids, dropping a character cut in half at the front."""
    raw = b"".join(enc.decode_tokens_bytes(ids))
    return raw.lstrip(_CONTINUATION_BYTES).decode("utf-8", errors="ignore")


def _keep_end(text: str, budget: int) -> str:
    """The longest end of ``text`` that is at most ``budget`` tokens."""
    enc = encoding()
    ids = enc.encode_ordinary(text)
    take = min(budget, len(ids))
    while take > 0:
        piece = _utf8_tail(enc, ids[-take:])
        if count_tokens(piece) <= budget:
            return piece
        take -= 1
    return ""


def _cut_newest(header: str, body: str, omitted: int, budget: int) -> _Digest:
    """Digest of only the newest message, its text cut from the start to fit ``budget``."""
    prefix = (omitted_marker(omitted) + "\n" if omitted else "") + header + ELLIPSIS
    if count_tokens(prefix) > budget:
        # Not even the header fits (an absurdly small budget): keep what end of it does.
        return _Digest(_keep_end(prefix, budget), truncated=True, kept=0)
    enc = encoding()
    ids = enc.encode_ordinary(body)

    def build(take: int) -> str:
        return prefix + _utf8_tail(enc, ids[-take:]).lstrip() if take else prefix

    # Bisect the number of trailing body tokens kept: the count of the rebuilt
    # text grows with it (give or take a merge at the seam, which only costs
    # a token of slack).
    lo, hi = 0, len(ids)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(build(mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return _Digest(build(lo), truncated=True, kept=1)


def _truncate(
    headers: list[str], bodies: list[str], line_tokens: list[int], budget: int
) -> _Digest:
    """Digest of a conversation whose full transcript is over ``budget``."""
    lines = [h + b for h, b in zip(headers, bodies, strict=True)]
    n = len(lines)
    start = _estimate_start(line_tokens, budget)
    while start < n:
        result = _suffix(lines, start)
        if count_tokens(result.text) <= budget:
            # The estimate errs on the safe side: take back older lines that fit.
            while start > 0:
                wider = _suffix(lines, start - 1)
                if count_tokens(wider.text) > budget:
                    break
                result, start = wider, start - 1
            return result
        start += 1
    return _cut_newest(headers[-1], bodies[-1], n - 1, budget)


def build_digests(
    messages: pl.DataFrame,
    *,
    token_budget: int,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """One digest per conversation, at most ``token_budget`` tokens long.

    Args:
        messages: Messages in the canonical schema
            (`common.processors.base.MESSAGE_SCHEMA`), any order; duplicate
            ``message_id``\\ s of a lead are dropped.
        token_budget: Most ``o200k_base`` tokens of one digest (the recipe's
            ``llm.token_budget``).
        timezone: IANA zone the timestamps are written in (the recipe's zone).

    Returns:
        One row per ``lead_key`` (sorted): ``digest``, ``digest_tokens`` (its
        exact token count), ``truncated`` (some text was left out), ``turns``
        (messages in the conversation) and ``turns_kept`` (messages in the
        digest, whole or cut).

    Raises:
        ConfigError: ``token_budget`` is not positive or ``timezone`` is unknown.
    """
    if token_budget < 1:
        raise ConfigError(
            "the digest token budget must be positive",
            where="llm.token_budget",
            expected="an integer >= 1",
            found=token_budget,
        )
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(
            "unknown time zone for the digest timestamps",
            where="timezone",
            expected="an IANA zone name such as `America/Mexico_City`",
            found=timezone,
        ) from err

    frame = _lines(messages, timezone)
    if frame.is_empty():
        return pl.DataFrame(schema=DIGEST_SCHEMA)

    keys: list[str] = frame.get_column(LEAD_KEY).to_list()
    lines: list[str] = frame.select(pl.concat_str(["header", "body"])).to_series().to_list()
    # Rows are sorted by lead: each conversation is one contiguous run.
    bounds = [0, *(i for i in range(1, len(keys)) if keys[i] != keys[i - 1]), len(keys)]
    spans = list(zip(bounds, bounds[1:], strict=False))

    # Most conversations fit whole: one batched count settles them.
    digests = ["\n".join(lines[lo:hi]) for lo, hi in spans]
    tokens = count_tokens_batch(digests)
    truncated = [False] * len(spans)
    kept = [hi - lo for lo, hi in spans]

    over = [i for i, count in enumerate(tokens) if count > token_budget]
    if over:
        headers: list[str] = frame.get_column("header").to_list()
        bodies: list[str] = frame.get_column("body").to_list()
        over_lines = [line for i in over for line in lines[spans[i][0] : spans[i][1]]]
        over_counts = iter(count_tokens_batch(over_lines))
        for i in over:
            lo, hi = spans[i]
            line_tokens = [next(over_counts) for _ in range(hi - lo)]
            result = _truncate(headers[lo:hi], bodies[lo:hi], line_tokens, token_budget)
            digests[i], truncated[i], kept[i] = result.text, result.truncated, result.kept
        for i, count in zip(over, count_tokens_batch([digests[i] for i in over]), strict=True):
            tokens[i] = count

    return pl.DataFrame(
        {
            LEAD_KEY: [keys[lo] for lo, _ in spans],
            "digest": digests,
            "digest_tokens": tokens,
            "truncated": truncated,
            "turns": [hi - lo for lo, hi in spans],
            "turns_kept": kept,
        },
        schema=DIGEST_SCHEMA,
    )


__all__ = ["DIGEST_SCHEMA", "MEDIA", "build_digests", "omitted_marker"]
