"""Every resource and data block of infra/ uses only what the pinned google provider has.

``terraform validate`` cannot run here (the provider cannot be downloaded), so
the arguments and nested blocks are checked against an extract of the
provider's schema for the exact version ``infra/versions.tf`` pins
(tests/infra/data/google_provider_schema.json, written by
scripts/extract_provider_schema.py from the npm package @cdktf/provider-google).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.infra.infra_support import INFRA, load_provider_schema, schema_violations


@pytest.fixture(scope="module")
def schema() -> dict:
    return load_provider_schema()


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "infra"
    shutil.copytree(INFRA, root, ignore=shutil.ignore_patterns(".terraform*"))
    return root


def _new_problems(root: Path, schema: dict) -> list[str]:
    """The problems of the mutated copy that infra/ itself does not have."""
    baseline = set(schema_violations(INFRA, schema))
    return [p for p in schema_violations(root, schema) if p not in baseline]


def _mutate(root: Path, file: str, old: str, new: str) -> None:
    path = root / file
    text = path.read_text()
    assert old in text, f"the mutation's anchor left infra/{file}: update this test"
    path.write_text(text.replace(old, new, 1))


def test_schema_extract_is_of_the_pinned_provider(schema: dict) -> None:
    pinned = re.search(
        r'source\s*=\s*"hashicorp/google"\s*\n(?:\s*#.*\n)*\s*version\s*=\s*"([^"]+)"',
        (INFRA / "versions.tf").read_text(),
    )
    assert pinned, "infra/versions.tf pins no exact hashicorp/google version"
    assert schema["version"] == pinned.group(1), (
        f"the schema extract is of google {schema['version']}, infra/ pins {pinned.group(1)}: "
        "run scripts/extract_provider_schema.py"
    )


def test_every_block_of_infra_matches_the_provider_schema(schema: dict) -> None:
    problems = schema_violations(INFRA, schema)
    assert not problems, "\n".join(problems)


def test_a_misspelt_argument_fails(schema: dict, tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _mutate(root, "pubsub.tf", "  ack_deadline_seconds       = 600", "  ack_deadline_secs = 600")
    problems = _new_problems(root, schema)
    assert len(problems) == 1, problems
    assert "google_pubsub_subscription.push" in problems[0]
    assert "`ack_deadline_secs`: no such argument" in problems[0]
    assert "ack_deadline_seconds" in problems[0]  # the valid names are listed


def test_a_block_at_the_wrong_level_fails(schema: dict, tmp_path: Path) -> None:
    root = _copy(tmp_path)
    # oidc_token belongs inside push_config, not on the subscription itself.
    _mutate(
        root,
        "pubsub.tf",
        "  retry_policy {\n",
        '  oidc_token {\n    service_account_email = "x@y"\n  }\n\n  retry_policy {\n',
    )
    # and a subscription's block nested one level too deep.
    _mutate(
        root,
        "pubsub.tf",
        "    attributes = {\n",
        "    dead_letter_policy {\n      max_delivery_attempts = 5\n    }\n\n    attributes = {\n",
    )
    problems = _new_problems(root, schema)
    assert len(problems) == 2, problems
    assert any("push: block `oidc_token`: no such block" in p for p in problems)
    assert any("push.push_config: block `dead_letter_policy`: no such block" in p for p in problems)


def test_an_unknown_resource_type_fails(schema: dict, tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "extra.tf").write_text('resource "google_pubsub_topik" "t" {\n  name = "t"\n}\n')
    problems = _new_problems(root, schema)
    assert problems == [
        f"extra.tf: resource google_pubsub_topik.t: {schema['source']} "
        f"(google {schema['version']}) has no resource type `google_pubsub_topik`"
    ]
