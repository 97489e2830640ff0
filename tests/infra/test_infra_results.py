"""infra/ against the results tables: the dataset, its only writer, its views, the setting."""

from __future__ import annotations

import re

from common.results.views import VIEWS
from common.settings import Settings
from tests.infra.infra_support import INFRA, Config, resource_comments

RESULTS_REF = "${google_bigquery_dataset.results.dataset_id}"
REPORT = '${google_service_account.fn["report"].member}'


def test_results_dataset_is_named_by_the_settings_default(infra: Config) -> None:
    dataset = infra.resource("google_bigquery_dataset", "results")
    assert dataset["dataset_id"] == "${var.results_dataset}"
    assert "default_table_expiration_ms" not in dataset  # results are kept
    default = infra.variables["results_dataset"]["default"]
    assert default == Settings.model_fields["results_dataset"].default
    assert infra.locals["results_env"] == {"report": {"LR_RESULTS_DATASET": RESULTS_REF}}
    assert "lookup(local.results_env, f, {})" in (INFRA / "locals.tf").read_text()


def test_only_the_report_writes_the_results(infra: Config) -> None:
    grants = {
        (body["member"], body["role"])
        for body in infra.of_type("google_bigquery_dataset_iam_member").values()
        if body.get("dataset_id") == RESULTS_REF
    }
    assert grants == {(REPORT, "roles/bigquery.dataEditor")}
    job_users = {
        body["member"]
        for name, body in infra.of_type("google_project_iam_member").items()
        if body["role"] == "roles/bigquery.jobUser" and name == "results_job_user"
    }
    assert job_users == {REPORT}
    comments = {
        name: commented
        for kind, name, commented in resource_comments((INFRA / "iam.tf").read_text())
        if kind.endswith("_iam_member")
    }
    assert comments.get("results_writer") and comments.get("results_job_user")


def test_every_documented_view_is_created_from_its_sql_file(infra: Config) -> None:
    view = infra.resource("google_bigquery_table", "results_view")
    declared = re.findall(r'"(\w+)"', str(infra.locals["results_views"]))
    assert sorted(declared) == sorted(VIEWS)
    assert view["dataset_id"] == RESULTS_REF
    query = str(view["view"][0]["query"])
    assert "common/results/views/${each.key}.sql" in query
    for placeholder in ("{analysis}", "{ignored}", "{runs}"):
        assert placeholder in query
