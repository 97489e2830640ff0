"""Placeholders per conversation: mask what leaves, restore what comes back.

One `Masking` per conversation gives every distinct identifier a stable
placeholder (``<PHONE_1>``, ``<EMAIL_2>``…; the same number written twice, or in a
lead column and in the chat, gets the same one) and remembers the originals, so
the answer's placeholders can be put back (`Masking.restore`). The lead's own
name (from its lead columns) becomes ``<NAME>`` (the full name), ``<FIRST_NAME>``
and ``<LAST_NAME>`` (its parts, each part of the surname numbered after the first).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.privacy.detectors import PLACEHOLDER, Detector, LocalDetector, Span, resolve

_PLACEHOLDER = re.compile(r"<(?:[A-Z]+(?:_[A-Z]+)*_\d+|NAME|FIRST_NAME|LAST_NAME(?:_\d+)?)>")
_MIN_PART = 3
"""Name parts shorter than this ("de", "la", "Li") are not masked on their own."""


def _norm(kind: str, value: str) -> str:
    """What makes two writings of one identifier the same one."""
    if kind in ("phone", "card", "clabe", "ssn"):
        digits = re.sub(r"\D", "", value)
        return digits[-10:] if kind == "phone" else digits
    return re.sub(r"[\s.-]", "", value).casefold()


def _fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()


@dataclass
class Masking:
    """The placeholders of one conversation."""

    names: dict[str, str] = field(default_factory=dict)
    """Name placeholder -> the lead's original spelling."""
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    _originals: dict[str, str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _name_pattern: re.Pattern[str] | None = None
    _name_lookup: dict[str, str] = field(default_factory=dict)

    def set_name(self, full_name: str) -> None:
        """The lead's name: the whole, the first part, the other parts (accents optional)."""
        parts = [p for p in re.split(r"\s+", full_name.strip()) if p]
        if not parts:
            return
        found: dict[str, str] = {}
        if len(parts) > 1:
            found[" ".join(parts)] = "<NAME>"
        if len(parts[0]) >= _MIN_PART:
            found.setdefault(parts[0], "<FIRST_NAME>" if len(parts) > 1 else "<NAME>")
        rest = [p for p in parts[1:] if len(p) >= _MIN_PART]
        for i, part in enumerate(rest):
            found.setdefault(part, "<LAST_NAME>" if i == 0 else f"<LAST_NAME_{i + 1}>")
        self.names = {ph: value for value, ph in found.items()}
        self._name_lookup = {_fold(value): ph for value, ph in found.items()}
        alternatives = sorted(found, key=len, reverse=True)
        body = "|".join(_loose(a) for a in alternatives)
        self._name_pattern = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)

    def placeholder(self, kind: str, value: str) -> str:
        """The stable placeholder of ``value`` (numbered per kind in order of appearance)."""
        stem = PLACEHOLDER[kind]
        key = (stem, _norm(kind, value))
        found = self._by_value.get(key)
        if found is None:
            self._counts[stem] = self._counts.get(stem, 0) + 1
            found = f"<{stem}_{self._counts[stem]}>"
            self._by_value[key] = found
            self._originals[found] = value
        return found

    def apply(self, text: str, spans: Sequence[Span]) -> str:
        """``text`` with the spans replaced and the lead's name masked."""
        if spans:
            out: list[str] = []
            last = 0
            for span in resolve(spans):
                out.append(text[last : span.start])
                out.append(self.placeholder(span.kind, text[span.start : span.end]))
                last = span.end
            out.append(text[last:])
            text = "".join(out)
        if self._name_pattern is not None:
            text = self._name_pattern.sub(lambda m: self._name_lookup[_fold(m.group())], text)
        return text

    def restore(self, value: Any) -> Any:
        """``value`` (an answer: dicts, lists, strings) with its placeholders put back."""
        if isinstance(value, str):
            return _PLACEHOLDER.sub(self._original, value) if "<" in value else value
        if isinstance(value, dict):
            return {k: self.restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.restore(v) for v in value]
        return value

    def _original(self, match: re.Match[str]) -> str:
        token = match.group()
        return self.names.get(token) or self._originals.get(token) or token


def _loose(word: str) -> str:
    """A regex matching ``word`` with or without its accents."""
    out = []
    for ch in word:
        base = _fold(ch)
        if base != ch.casefold() and len(base) == 1:
            out.append(f"[{re.escape(ch)}{re.escape(base)}]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


class Masker:
    """Masks texts per conversation with a detector and the lead's name.

    Args:
        kinds: The kinds to mask (`common.privacy.detectors.KINDS`).
        detector: Finds the identifiers (default: `LocalDetector`).
        name_columns: Lead columns holding the lead's name, first found wins.
    """

    def __init__(
        self,
        kinds: Iterable[str],
        *,
        detector: Detector | None = None,
        name_columns: Sequence[str] = (),
    ) -> None:
        self.kinds = frozenset(kinds)
        self.detector: Detector = detector or LocalDetector()
        self.name_columns = tuple(name_columns)

    def new(self, fields: Mapping[str, Any]) -> Masking:
        """A conversation's masking, its name taken from ``fields``."""
        masking = Masking()
        if "name" in self.kinds:
            parts = [str(fields[c]) for c in self.name_columns if fields.get(c)]
            if parts:
                masking.set_name(" ".join(parts) if len(parts) > 1 else parts[0])
        return masking

    def mask_many(self, maskings: Sequence[Masking], texts: Sequence[str]) -> list[str]:
        """``texts[i]`` masked with ``maskings[i]`` (one detector call for all)."""
        found = self.detector.find_many(texts, self.kinds - {"name"})
        return [m.apply(t, s) for m, t, s in zip(maskings, texts, found, strict=True)]

    def mask_records(
        self, records: Sequence[tuple[Mapping[str, Any], str]]
    ) -> tuple[list[tuple[dict[str, Any], str]], list[Masking]]:
        """Each ``(fields, text)`` masked with its own `Masking` (one detector call for all).

        Every string value of ``fields`` is masked (a name column becomes its
        placeholder), then ``text``, so an identifier in both gets one placeholder.
        """
        maskings = [self.new(fields) for fields, _ in records]
        owners: list[int] = []
        keys: list[str | None] = []
        texts: list[str] = []
        for i, (fields, text) in enumerate(records):
            for key, value in fields.items():
                if isinstance(value, str) and value:
                    owners.append(i)
                    keys.append(key)
                    texts.append(value)
            owners.append(i)
            keys.append(None)
            texts.append(text)
        found = self.detector.find_many(texts, self.kinds - {"name"})
        out: list[tuple[dict[str, Any], str]] = [(dict(f), t) for f, t in records]
        for owner, column, text, spans in zip(owners, keys, texts, found, strict=True):
            masked_text = maskings[owner].apply(text, spans)
            if column is None:
                out[owner] = (out[owner][0], masked_text)
            else:
                out[owner][0][column] = masked_text
        return out, maskings
