"""Issue 18: BigQuery's PARSE_TIMESTAMP forms run on the local DuckDB warehouse as on BigQuery."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from common.adapters.local.duckdb_warehouse import transpile


def _parse(sql: str) -> datetime:
    value = duckdb.connect().execute(transpile(sql, where="q.sql")).fetchone()[0]
    return value.astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T14:03:00.123+02:00", datetime(2026, 11, 20, 12, 3, 0, 123000, tzinfo=UTC)),
        ("2026-11-20T14:03:00+02:00", datetime(2026, 11, 20, 12, 3, tzinfo=UTC)),
        ("2026-11-20T14:03:00.5-06:00", datetime(2026, 11, 20, 20, 3, 0, 500000, tzinfo=UTC)),
    ],
)
def test_iso_strings_with_any_fraction_and_an_offset(text: str, expected: datetime) -> None:
    sql = f"SELECT PARSE_TIMESTAMP('%Y-%m-%dT%H:%M:%E*S%Ez', '{text}') AS sent_at"
    assert _parse(sql) == expected


def test_a_string_without_offset_is_utc_or_the_given_zone() -> None:
    assert _parse("SELECT PARSE_TIMESTAMP('%F %T', '2026-11-20 14:03:00')") == datetime(
        2026, 11, 20, 14, 3, tzinfo=UTC
    )
    zoned = "SELECT PARSE_TIMESTAMP('%Y-%m-%d %H:%M:%S', '2026-11-20 14:03:00', 'America/Bogota')"
    assert _parse(zoned) == datetime(2026, 11, 20, 19, 3, tzinfo=UTC)


def test_parameters_and_one_statement_still_hold() -> None:
    assert "$lead_keys" in transpile("SELECT 1 FROM t WHERE k IN UNNEST(@lead_keys);", where="q")
    with pytest.raises(Exception, match="exactly one SQL statement"):
        transpile("SELECT 1; SELECT 2", where="q.sql")
