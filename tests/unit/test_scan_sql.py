"""`scan_sql`: the recipe's conversations SQL read for every lead of a run at once."""

from __future__ import annotations

import pytest
import sqlglot

from common.errors import DataError
from common.sql import parameters, scan_sql


def test_in_unnest_lead_keys_becomes_a_semi_join_and_the_shard_a_join() -> None:
    sql = scan_sql(
        "SELECT lead_key, text FROM `p.d.messages` WHERE lead_key IN UNNEST(@lead_keys) "
        "AND sent_at <= @as_of ORDER BY lead_key",
        leads_table="my-project.staging.run_leads",
        shard_column="_shard",
        where="w",
    )
    assert "@lead_keys" not in sql and "ORDER BY" not in sql
    assert "IN (SELECT lead_key FROM `my-project`.`staging`.`run_leads`)" in sql
    assert "l.shard AS _shard" in sql
    assert parameters(sql, where="w") == {"as_of"}
    sqlglot.transpile(sql, read="bigquery", write="duckdb")  # still valid SQL


def test_other_uses_of_lead_keys_read_the_table_as_an_array() -> None:
    sql = scan_sql(
        "SELECT m.* FROM d.m AS m JOIN UNNEST(@lead_keys) AS k ON k = m.lead_key",
        leads_table="t",
        shard_column="_shard",
        where="w",
    )
    assert "UNNEST(ARRAY(SELECT lead_key FROM `t`))" in sql


def test_sql_without_a_lead_key_column_is_refused() -> None:
    with pytest.raises(DataError, match="no `lead_key` column"):
        scan_sql(
            "SELECT text FROM d.m WHERE lead_key IN UNNEST(@lead_keys)",
            leads_table="t",
            shard_column="_shard",
            where="recipes/x/conversations.sql",
        )
