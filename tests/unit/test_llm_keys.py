"""KeyPool: round-robin over healthy keys, cooldown after 429, keys never shown."""

from __future__ import annotations

import hashlib

import pytest

from common.llm.keys import KEYLESS_ID, KeyPool, fingerprint, redact
from common.retry import MAX_RETRY_AFTER_S, retry_after_from_headers

KEYS = ["sk-test-alpha-0001", "sk-test-bravo-0002", "sk-test-charlie-03"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fingerprint_is_short_stable_and_not_the_key() -> None:
    key_id = fingerprint(KEYS[0])
    assert key_id == hashlib.sha256(KEYS[0].encode()).hexdigest()[:8]
    assert len(key_id) == 8 and key_id not in KEYS[0]
    assert fingerprint(KEYS[1]) != key_id


def test_round_robin_over_all_keys() -> None:
    pool = KeyPool(KEYS)
    picked = [pool.pick().key for _ in range(6)]
    assert picked == KEYS + KEYS
    assert pool.key_ids == [fingerprint(k) for k in KEYS]
    assert len(pool) == 3


def test_duplicates_and_blanks_are_dropped() -> None:
    pool = KeyPool([KEYS[0], " ", KEYS[0], "", KEYS[1]])
    assert len(pool) == 2
    assert [pool.pick().key for _ in range(2)] == KEYS[:2]


def test_a_cooling_key_is_skipped_until_its_cooldown_ends() -> None:
    clock = FakeClock()
    pool = KeyPool(KEYS, clock=clock)
    pool.cooldown(fingerprint(KEYS[1]), 5)
    picked = [pool.pick().key for _ in range(4)]
    assert KEYS[1] not in picked
    assert picked == [KEYS[0], KEYS[2], KEYS[0], KEYS[2]]
    assert pool.cooling() == {fingerprint(KEYS[1]): 5}
    clock.now += 5
    assert KEYS[1] in {pool.pick().key for _ in range(3)}
    assert pool.cooling() == {}


def test_when_all_keys_cool_the_soonest_comes_back_with_its_wait() -> None:
    clock = FakeClock()
    pool = KeyPool(KEYS[:2], clock=clock)
    pool.cooldown(fingerprint(KEYS[0]), 10)
    pool.cooldown(fingerprint(KEYS[1]), 3)
    choice = pool.pick()
    assert choice.key == KEYS[1]
    assert choice.wait_s == pytest.approx(3)
    clock.now += 3
    assert pool.pick().wait_s == 0


def test_cooldown_extends_but_never_shortens() -> None:
    clock = FakeClock()
    pool = KeyPool(KEYS[:1], clock=clock)
    key_id = fingerprint(KEYS[0])
    pool.cooldown(key_id, 10)
    pool.cooldown(key_id, 2)
    assert pool.cooling()[key_id] == pytest.approx(10)
    pool.cooldown("unknown0", 99)  # a foreign id is ignored
    assert set(pool.cooling()) == {key_id}


def test_keyless_pool_yields_none_and_can_cool_down() -> None:
    clock = FakeClock()
    pool = KeyPool([], clock=clock)
    assert pool.keyless and len(pool) == 0
    choice = pool.pick()
    assert choice.key is None and choice.key_id == KEYLESS_ID
    pool.cooldown(None, 2)
    assert pool.pick().wait_s == pytest.approx(2)


def test_uses_count_healthy_picks_per_key_id() -> None:
    pool = KeyPool(KEYS[:2])
    for _ in range(5):
        pool.pick()
    assert pool.uses() == {fingerprint(KEYS[0]): 3, fingerprint(KEYS[1]): 2}


def test_reprs_never_show_keys() -> None:
    pool = KeyPool(KEYS)
    text = repr(pool) + repr(pool.pick())
    assert not any(k in text for k in KEYS)
    assert fingerprint(KEYS[0]) in text


def test_redact_removes_known_keys_and_key_shaped_strings() -> None:
    message = (
        f"Incorrect API key provided: {KEYS[0]}. Also sk-proj-****abcd and "
        "AIzaSyA1234567890abcdefghij and Authorization: Bearer ya29.token-value"
    )
    cleaned = redact(message, [KEYS[0], None])
    assert KEYS[0] not in cleaned
    assert f"[key {fingerprint(KEYS[0])}]" in cleaned
    assert "sk-proj" not in cleaned and "AIza" not in cleaned and "ya29" not in cleaned
    assert redact("plain words, no secrets") == "plain words, no secrets"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "99999"}, MAX_RETRY_AFTER_S),
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_from_headers(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after_from_headers(headers) == expected


def test_retry_after_http_date() -> None:
    value = retry_after_from_headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert value == 0.0  # in the past: retry now
