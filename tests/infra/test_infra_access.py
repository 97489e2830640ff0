"""Issue 18: what the functions may read and write is scoped as far as Google allows.

The fetch functions read only the datasets the recipes read (a required list,
never the whole data project); Firestore access is conditioned to the
deployment's database. docs/deploy.md says what cannot be scoped further.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.infra.infra_support import REPO, Config, terraform_binary


def test_no_function_reads_every_dataset_of_the_data_project(infra: Config) -> None:
    project_wide = [
        name
        for name, body in infra.of_type("google_project_iam_member").items()
        if body["role"] in ("roles/bigquery.dataViewer", "roles/bigquery.dataEditor")
    ]
    assert project_wide == []
    viewer = infra.resource("google_bigquery_dataset_iam_member", "data_viewer")
    assert viewer["for_each"] == "${local.dataset_grants}"


def test_the_dataset_list_is_required_and_not_empty(infra: Config, tmp_path: Path) -> None:
    variable = infra.variables["bigquery_datasets"]
    assert "default" not in variable, "an empty default granted the whole project"
    condition = " ".join(v["condition"] for v in variable["validation"])
    assert "length(var.bigquery_datasets) > 0" in condition
    terraform = terraform_binary()
    if terraform is None:
        pytest.skip("no terraform binary")
    # The validation as written, evaluated by terraform itself.
    module = tmp_path / "m"
    module.mkdir()
    text = (REPO / "infra/variables.tf").read_text()
    start = text.index('variable "bigquery_datasets"')
    end = text.index("\n}\n", start) + 3
    (module / "main.tf").write_text(text[start:end])
    for value, ok in (([], False), (["crm"], True), (["a-b"], False)):
        done = subprocess.run(
            [terraform, "plan", "-input=false", "-var", f"bigquery_datasets={json.dumps(value)}"],
            cwd=module,
            capture_output=True,
            text=True,
            check=False,
            env={"TF_IN_AUTOMATION": "1", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        )
        if "terraform init" in done.stderr:
            subprocess.run(
                [terraform, "init", "-input=false", "-backend=false"],
                cwd=module,
                capture_output=True,
                check=True,
            )
            done = subprocess.run(
                [
                    terraform,
                    "plan",
                    "-input=false",
                    "-var",
                    f"bigquery_datasets={json.dumps(value)}",
                ],
                cwd=module,
                capture_output=True,
                text=True,
                check=False,
            )
        assert (done.returncode == 0) is ok, (value, done.stderr[-400:])


def test_firestore_access_is_conditioned_to_the_database(infra: Config) -> None:
    grants = [
        body
        for body in infra.of_type("google_project_iam_member").values()
        if body["role"] == "roles/datastore.user"
    ]
    assert grants
    for body in grants:
        [condition] = body["condition"]
        assert "var.firestore_database" in condition["expression"]
        assert "resource.name" in condition["expression"]


def test_deploy_docs_say_what_cannot_be_scoped() -> None:
    text = (REPO / "docs/deploy.md").read_text()
    assert "bigquery_datasets" in text and "cannot be scoped" in text
