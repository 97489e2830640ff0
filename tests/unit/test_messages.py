"""Message bodies: versioned, strict, with errors that say what was wrong."""

from __future__ import annotations

import pytest

from common.errors import PayloadError
from common.messages import RunRequest, ShardMessage, decode, encode


def test_roundtrip_and_version_default() -> None:
    message = ShardMessage(run_id="r", recipe="demo", shard_index=2, shard_count=5)
    assert decode(ShardMessage, encode(message), where="t") == message
    assert decode(RunRequest, b'{"recipe": "demo"}', where="t").schema_version == 1


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"not json", "not JSON"),
        (b'{"recipe": ""}', "`recipe`"),
        (b'{"recipe": "demo", "options": {"limit": 0}}', "`options.limit`"),
        (b'{"recipe": "demo", "optoins": {}}', "`optoins`"),
        (b'{"recipe": "demo", "schema_version": 9}', "`schema_version`"),
        (b'{"recipe": "demo", "options": {"as_of": "2026-11-20T18:00:00"}}', "time zone"),
    ],
)
def test_invalid_bodies(body: bytes, text: str) -> None:
    with pytest.raises(PayloadError) as info:
        decode(RunRequest, body, where="topic recipe-runs")
    assert text in str(info.value)
    assert str(info.value).startswith("topic recipe-runs:")
