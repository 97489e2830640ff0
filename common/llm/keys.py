"""A pool of API keys that rotates away from throttled keys.

Keys are plain strings only inside this pool and the provider call; everything
that is logged or raised names a key by its `fingerprint` (``key_id``), the
first 8 hex digits of its SHA-256, which identifies it in logs without
revealing it.

A pool with no keys is "keyless" (service-account auth, a local endpoint): it
holds one entry whose key is ``None``, so a 429 still puts that entry in
cooldown and the next call waits for it like it would for a single key.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

KEYLESS_ID = "keyless"
"""The ``key_id`` of the single entry of a pool built without keys."""


# Things that look like credentials in provider messages: OpenAI keys (also the
# partly masked form OpenAI echoes in 401 messages), Google API keys, bearer tokens.
_KEYLIKE = re.compile(
    r"(sk-[A-Za-z0-9_\-*]{6,}|AIza[0-9A-Za-z_\-]{16,}|(?i:bearer)\s+[A-Za-z0-9._\-~+/=*]{6,})"
)


def fingerprint(key: str) -> str:
    """A short, non-reversible id of ``key`` for logs and errors (8 hex digits of SHA-256)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without any of ``secrets`` nor anything shaped like an API key.

    Each secret becomes ``[key <fingerprint>]``, so a message can still say which
    key was refused; other key-like strings become ``[redacted]``.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, f"[key {fingerprint(secret)}]")
    return _KEYLIKE.sub("[redacted]", text)


@dataclass(frozen=True)
class KeyChoice:
    """The key to use for one attempt."""

    key: str | None
    """The secret itself (None when keyless). Never log it."""
    key_id: str
    """`fingerprint` of the key, or `KEYLESS_ID`."""
    wait_s: float = 0.0
    """Seconds until this key's cooldown ends (0 when it is healthy now)."""

    def __repr__(self) -> str:  # the dataclass default would print the key
        return f"KeyChoice(key_id={self.key_id!r}, wait_s={self.wait_s:.3f})"


class KeyPool:
    """Round-robin over healthy keys; a throttled key cools down while others serve.

    Safe for asyncio: no method awaits, so each runs atomically within a loop.
    """

    def __init__(self, keys: Sequence[str], *, clock: Callable[[], float] = time.monotonic) -> None:
        """Build the pool.

        Args:
            keys: API keys; duplicates and blank entries are dropped. Empty means keyless.
            clock: Monotonic clock in seconds (tests pass a fake one).
        """
        unique = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
        self._keys: list[str | None] = list(unique) or [None]
        self._ids = [fingerprint(k) if k is not None else KEYLESS_ID for k in self._keys]
        self._index = {key_id: i for i, key_id in enumerate(self._ids)}
        self._cool_until = [0.0] * len(self._keys)
        self._uses = [0] * len(self._keys)
        self._next = 0
        self._clock = clock

    def __len__(self) -> int:
        """Number of real keys (0 when keyless)."""
        return 0 if self.keyless else len(self._keys)

    def __repr__(self) -> str:
        return f"KeyPool(key_ids={self._ids!r})"

    @property
    def keyless(self) -> bool:
        """True when the pool was built without keys."""
        return self._keys == [None]

    @property
    def key_ids(self) -> list[str]:
        """The fingerprints of the pool's keys, in order."""
        return list(self._ids)

    def pick(self) -> KeyChoice:
        """The next healthy key in round-robin order.

        When every key is cooling down, the one whose cooldown ends first, with
        ``wait_s`` set to the time left: the caller sleeps that long (or picks
        again later) before using it.
        """
        now = self._clock()
        n = len(self._keys)
        for step in range(n):
            i = (self._next + step) % n
            if self._cool_until[i] <= now:
                self._next = (i + 1) % n
                self._uses[i] += 1
                return KeyChoice(self._keys[i], self._ids[i])
        i = min(range(n), key=lambda j: self._cool_until[j])
        return KeyChoice(self._keys[i], self._ids[i], wait_s=self._cool_until[i] - now)

    def cooldown(self, key_id: str | None, seconds: float) -> None:
        """Keep ``key_id`` out of rotation for ``seconds`` (extends, never shortens).

        Unknown ids are ignored (a key removed from configuration, a foreign error).
        """
        i = self._index.get(key_id or KEYLESS_ID)
        if i is None:
            return
        self._cool_until[i] = max(self._cool_until[i], self._clock() + max(0.0, seconds))

    def cooling(self) -> dict[str, float]:
        """Seconds of cooldown left per key id (only keys that are cooling now)."""
        now = self._clock()
        return {
            key_id: until - now
            for key_id, until in zip(self._ids, self._cool_until, strict=True)
            if until > now
        }

    def uses(self) -> dict[str, int]:
        """How many times each key id was handed out healthy (for stats and tests)."""
        return dict(zip(self._ids, self._uses, strict=True))
