"""Terraform enforces every kind of the retention table (issue 15, acceptance 3), offline.

The table is `common.retention.KINDS`; docs/privacy.md's "Retention" table is
rendered from the same list, so code, docs and infra cannot drift.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.retention import KINDS, TTL_FIELD, RetentionKind, markdown_table
from tests.infra.infra_support import Config, blocks, load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config()


def _bucket_rules(config: Config) -> list[dict]:
    bucket = config.resource("google_storage_bucket", "data")
    rules = blocks(bucket, "lifecycle_rule")
    for dynamic in blocks(bucket, "dynamic"):
        body = dynamic.get("lifecycle_rule")
        if body:
            rules += blocks(body, "content")
    return rules


def _collections(config: Config, body: dict) -> set[str]:
    """The collections (prefix dropped) one google_firestore_field declares, for_each expanded."""
    collection = str(body["collection"]).replace("${var.firestore_collection_prefix}", "")
    if collection == "${each.value}":
        local = str(body["for_each"]).removeprefix("${local.").removesuffix("}")
        return set(config.locals[local].values())
    return {collection}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_kind_is_enforced_in_terraform(config: Config, kind: RetentionKind) -> None:
    assert kind.terraform_variable in config.variables, f"no variable {kind.terraform_variable}"
    variable = config.variables[kind.terraform_variable]
    assert variable.get("default") == kind.default_days, "infra default differs from the table"
    if kind.enforcement == "firestore_ttl":
        policies = [
            body
            for body in config.of_type("google_firestore_field").values()
            if kind.target in _collections(config, body)
            and body["field"] == TTL_FIELD
            and "ttl_config" in body
        ]
        assert policies, f"no TTL policy on {kind.target}.{TTL_FIELD}"
    elif kind.enforcement == "bucket_lifecycle":
        rules = [
            rule
            for rule in _bucket_rules(config)
            if kind.target in blocks(rule, "condition")[0].get("matches_prefix", [])
            and blocks(rule, "action")[0]["type"] == "Delete"
        ]
        assert rules, f"no lifecycle rule deleting {kind.target}"
        assert f"var.{kind.terraform_variable}" in str(
            config.resource("google_storage_bucket", "data")
        )
    else:
        dataset = config.resource(*kind.target.split("."))
        assert kind.terraform_variable in str(dataset["default_table_expiration_ms"])


def test_the_documented_table_is_the_code_table() -> None:
    text = (REPO / "docs/privacy.md").read_text(encoding="utf-8")
    assert "## Retention" in text
    assert markdown_table() in text


FIRESTORE_KINDS = [k for k in KINDS if k.enforcement == "firestore_ttl"]


@pytest.mark.parametrize("kind", FIRESTORE_KINDS, ids=lambda k: k.name)
def test_firestore_retention_days_reach_every_function(config: Config, kind: RetentionKind) -> None:
    """The adapters write expires_at = now + LR_RETENTION_<KIND>_DAYS: Terraform sets it from
    the same variable as the TTL policy, for every function (each writes run documents)."""
    env = config.locals["retention_env"]
    assert kind.env in env, f"{kind.env} is not in local.retention_env"
    assert env[kind.env] == f"${{tostring(var.{kind.terraform_variable})}}"
    locals_tf = (REPO / "infra/locals.tf").read_text(encoding="utf-8")
    function_env = locals_tf[locals_tf.index("function_env = {") :]
    assert "local.retention_env," in function_env[: function_env.index("push_functions")]
    service = blocks(config.resource("google_cloudfunctions2_function", "fn"), "service_config")
    assert service[0]["environment_variables"] == "${local.function_env[each.key]}"


def test_run_subcollections_have_their_own_ttl_policy(config: Config) -> None:
    """Firestore deletes no subcollection with its parent: every subcollection the state
    store writes under runs/{run_id} has a TTL policy on its (unprefixed) collection group."""
    source = (REPO / "common/adapters/gcp/firestore_state.py").read_text(encoding="utf-8")
    subcollections = set(re.findall(r'\.collection\("([a-z_]+)"\)', source))
    assert subcollections >= {"steps", "fanin"}
    covered = set()
    for body in config.of_type("google_firestore_field").values():
        if body["field"] == TTL_FIELD and "ttl_config" in body:
            if "firestore_collection_prefix" not in str(body["collection"]):
                covered |= _collections(config, body)
    assert subcollections <= covered, f"no TTL policy on {sorted(subcollections - covered)}"
