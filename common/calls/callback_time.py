"""The callback time a customer asked for, read from words: "el lunes a las 4", "tomorrow after 6pm".

An end-of-call report states a callback in one of three ways, read in this order:

1. the assistant's structured data gives a time with a zone (ISO 8601): used as is
   (`common.calls.disposition.callback_time`);
2. a structured callback field holds words (``"callbackTime": "lunes a las 4"``), or
   no field does and the summary asks for a callback (`asks_for_callback`): the words
   are read here, relative to when the call ended, in the **lead's** zone;
3. nothing: the retry plan's first interval.

Words are read with `dateparser` (Spanish and English, offline). Two habits of
speech it does not read alone are written out first: a bare hour "a las 4" means
the afternoon (nobody asks for a 4 a.m. sales call; 8-12 stay morning and noon)
and is written "16:00", and "de la tarde/noche" means p.m. A time that is not after the call's end is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_CUE = re.compile(
    r"call(?:ed|ing)?\s+(?:\w+\s+)?back|callback|call\s+(?:me|him|her|them)\b|"
    r"\bllam(?:a|e|en|ar|arle|arme|arlo|arla|ame|ame|enme)\w*|vuelv\w+\s+a\s+llamar|"
    r"devolver\s+la\s+llamada|re-?llamar",
    re.IGNORECASE,
)
_BARE_HOUR = re.compile(
    r"\b(a\s+las|a\s+la|at)\s+(\d{1,2})(?!\d)(?::(\d{2}))?(?!\d|\s*(?::\d|[ap]\.?\s?m\b|hrs?\b|h\b|horas\b))",
    re.IGNORECASE,
)
_TARDE = re.compile(r"\s+de\s+la\s+(tarde|noche)\b", re.IGNORECASE)
_MANANA = re.compile(r"\s+de\s+la\s+mañana\b", re.IGNORECASE)
_LANGUAGES = ["es", "en"]
_NOT_A_TIME = {"now", "ahora", "today", "hoy"}


def asks_for_callback(text: str | None) -> bool:
    """Whether ``text`` (a summary) says the customer wants to be called back."""
    return bool(text and _CUE.search(text))


def _spoken(text: str) -> str:
    """Write out what `dateparser` misreads: bare afternoon hours, "de la tarde"."""

    def hour(match: re.Match[str]) -> str:
        h = int(match.group(2))
        minutes = match.group(3) or "00"
        if h > 23:
            return match.group(0)
        if 1 <= h <= 7:  # a bare 1-7 in a sales call is the afternoon
            h += 12
        return f"{match.group(1)} {h}:{minutes}"  # dateparser misreads a bare "a las 11"

    text = _TARDE.sub(" pm", text)
    text = _MANANA.sub(" am", text)
    return _BARE_HOUR.sub(hour, text)


def read_callback(
    texts: Iterable[str | None], *, after: datetime, zone: ZoneInfo
) -> datetime | None:
    """The first time named in ``texts`` that lies after ``after``, in UTC.

    Args:
        texts: Candidate phrases or sentences, most trusted first.
        after: When the call ended (aware); relative words ("tomorrow") count from it.
        zone: The lead's zone: "4 pm" is 4 pm there.

    Returns:
        The time (UTC), or None when no text names a time after ``after``.
    """
    from dateparser.search import search_dates  # lazy: only reports with words pay for it

    local = after.astimezone(zone)
    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": local.replace(tzinfo=None),
        "TIMEZONE": zone.key,
        "RETURN_AS_TIMEZONE_AWARE": True,
    }
    for text in texts:
        if not text or not text.strip():
            continue
        found = search_dates(_spoken(text), languages=_LANGUAGES, settings=settings) or []
        for words, moment in found:
            if words.strip().lower() in _NOT_A_TIME:
                continue
            # dateparser attaches pytz zones; re-read the wall time in the zoneinfo zone.
            wall = moment.replace(tzinfo=None).replace(tzinfo=zone)
            if wall > after:
                return wall.astimezone(UTC)
    return None
