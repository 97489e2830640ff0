"""Detectors of personal identifiers in free text, behind one small interface.

A detector turns texts into `Span`\\ s (kind, start, end); `common.privacy.masker`
turns spans into placeholders. `LocalDetector` (the default, offline) runs one
compiled regular expression per kind and validates each candidate (Luhn for
cards, the check digits of CLABE, IBAN, CURP, DNI/NIE, a real date inside CURP
and RFC, `phonenumbers` for phone numbers), so amounts ("$15,000"), dates
("2026-11-20") and durations ("24 meses") are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

KINDS = ("email", "curp", "rfc", "iban", "clabe", "card", "ssn", "dni", "phone", "name")
"""Every kind, in priority order: where two candidates overlap, the earlier kind wins."""
PLACEHOLDER = {
    "email": "EMAIL",
    "curp": "CURP",
    "rfc": "RFC",
    "iban": "ACCOUNT",
    "clabe": "ACCOUNT",
    "card": "CARD",
    "ssn": "SSN",
    "dni": "NATIONAL_ID",
    "phone": "PHONE",
}
"""Placeholder stem of each numbered kind (``<PHONE_1>``); names use ``<NAME>`` & co."""


@dataclass(frozen=True, order=True)
class Span:
    """One identifier found in a text: ``text[start:end]`` is of ``kind``."""

    start: int
    end: int
    kind: str


class Detector(Protocol):
    """Finds identifiers of the asked kinds in many texts at once."""

    name: str

    def find_many(self, texts: Sequence[str], kinds: frozenset[str]) -> list[list[Span]]:
        """The spans of each text (any order, may overlap)."""
        ...


# --- validators -------------------------------------------------------------------------

_DIGITS = re.compile(r"\D")


def _digits(text: str) -> str:
    return _DIGITS.sub("", text)


def luhn_ok(number: str) -> bool:
    """The Luhn checksum of a digit string (cards)."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def clabe_ok(number: str) -> bool:
    """Mexico's 18-digit CLABE: weights 3, 7, 1 and a mod-10 check digit."""
    if len(number) != 18:
        return False
    weights = (3, 7, 1) * 6
    total = sum((int(d) * w) % 10 for d, w in zip(number[:17], weights, strict=False))
    return (10 - total % 10) % 10 == int(number[17])


def iban_ok(text: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces allowed)."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


_CURP_CHARS = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"


def _yymmdd_ok(text: str) -> bool:
    try:
        date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        return False
    return True


def curp_ok(text: str) -> bool:
    """CURP: a real birth date and the check digit (position 18)."""
    value = text.upper()
    if not _yymmdd_ok(value[4:10]):
        return False
    total = sum(_CURP_CHARS.index(c) * (18 - i) for i, c in enumerate(value[:17]))
    return (10 - total % 10) % 10 == int(value[17])


def rfc_ok(text: str) -> bool:
    """RFC (persona física 13 characters, moral 12): a real date after the letters."""
    value = text.upper()
    letters = 4 if len(value) == 13 else 3
    return _yymmdd_ok(value[letters : letters + 6])


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(text: str) -> bool:
    """Spain's DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter), check letter."""
    value = re.sub(r"[\s.-]", "", text.upper())
    if value[0] in "XYZ":
        value = str("XYZ".index(value[0])) + value[1:]
    return _DNI_LETTERS[int(value[:-1]) % 23] == value[-1]


def ssn_ok(text: str) -> bool:
    """US SSN: area not 000, 666 or 9xx; group and serial not zero."""
    d = _digits(text)
    return d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


def _phone_ok(text: str, regions: tuple[str, ...]) -> bool:
    import phonenumbers

    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
        # Written with its country code, a possible number is a phone (old formats such
        # as Mexico's "+52 1" mobile prefix are no longer "valid" but still written).
        if text.lstrip("(").startswith(("+", "00")) and 10 <= len(_digits(text)) <= 15:
            return True
    return False


# --- the local detector -----------------------------------------------------------------

_B = r"(?<![\w@.])"  # not glued to a word, an address or a decimal
_E = r"(?![\w@])"
PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE),
    "curp": re.compile(_B + r"[A-Z][AEIOUX][A-Z]{2}\d{6}[HMX][A-Z]{5}[A-Z\d]\d" + _E, re.I),
    "rfc": re.compile(_B + r"[A-ZÑ&]{3,4}\d{6}[A-Z\d]{3}" + _E, re.I),
    "iban": re.compile(_B + r"[A-Z]{2}\d{2}(?: ?[A-Z\d]{4}){3,7}(?: ?[A-Z\d]{1,3})?" + _E, re.I),
    "clabe": re.compile(_B + r"\d{3}[ -]?\d{3}[ -]?\d{11}[ -]?\d" + _E),
    "card": re.compile(_B + r"\d(?:[ -]?\d){12,18}" + _E),
    "ssn": re.compile(_B + r"\d{3}[- ]\d{2}[- ]\d{4}" + _E),
    "dni": re.compile(_B + r"(?:\d{8}|[XYZ][ -]?\d{7})[ -]?[A-Z]" + _E, re.I),
    # 9-15 digits with the usual separators; an ISO date at the start is never a phone.
    "phone": re.compile(
        _B + r"(?!\d{4}-\d{2}-\d{2})(?:\+|00)?\(?\d(?:[ ().-]{0,2}\d){8,14}" + r"(?![\w@])"
    ),
}
VALIDATORS: dict[str, Callable[[str], bool]] = {
    "curp": curp_ok,
    "rfc": rfc_ok,
    "iban": iban_ok,
    "clabe": lambda t: clabe_ok(_digits(t)),
    "card": lambda t: 13 <= len(_digits(t)) <= 19 and luhn_ok(_digits(t)),
    "ssn": ssn_ok,
    "dni": dni_ok,
}
# Quick guards: a text without any of these characters cannot hold the kind.
_GUARDS: dict[str, re.Pattern[str]] = {
    "email": re.compile("@"),
    "phone": re.compile(r"\d{3}"),
    "clabe": re.compile(r"\d{3}"),
    "card": re.compile(r"\d{4}"),
    "ssn": re.compile(r"\d{2}"),
}


class LocalDetector:
    """Compiled regular expressions + validators, offline (the default).

    Args:
        regions: Regions a phone number without its country code is read in,
            tried in order (ISO 3166 codes, e.g. ``("MX", "ES", "US")``).
    """

    name = "local"

    def __init__(self, regions: Sequence[str] = ("MX", "ES", "US")) -> None:
        self.regions = tuple(regions)

    def find(self, text: str, kinds: frozenset[str]) -> list[Span]:
        """The spans of one text."""
        spans: list[Span] = []
        for kind, pattern in PATTERNS.items():
            if kind not in kinds:
                continue
            guard = _GUARDS.get(kind)
            if guard is not None and guard.search(text) is None:
                continue
            check = VALIDATORS.get(kind)
            for match in pattern.finditer(text):
                value = match.group()
                if kind == "phone":
                    if not _phone_ok(value, self.regions):
                        continue
                elif check is not None and not check(value):
                    continue
                spans.append(Span(match.start(), match.end(), kind))
        return spans

    def find_many(self, texts: Sequence[str], kinds: frozenset[str]) -> list[list[Span]]:
        """`find` over each text."""
        return [self.find(text, kinds) if text else [] for text in texts]


def resolve(spans: Sequence[Span]) -> list[Span]:
    """Non-overlapping spans, sorted: on overlap the earlier kind of `KINDS`, then the longer."""
    rank = {kind: i for i, kind in enumerate(KINDS)}
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (rank.get(s.kind, 99), s.start - s.end)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen)
