"""infra/ against the BigQuery adapter: the staging dataset, who may use it, and the settings.

The adapter (common/adapters/gcp/bigquery_warehouse.py) stages each run's scan
in ``LR_BIGQUERY_STAGING_DATASET``: fetch-leads loads and writes there,
fetch-conversations reads its shard with the Storage Read API, the report
drops the tables. Each grant goes to exactly those functions, on that dataset.
"""

from __future__ import annotations

from common.settings import Settings
from tests.infra.infra_support import INFRA, Config, resource_comments

STAGING_REF = "${google_bigquery_dataset.staging.dataset_id}"


def _member(function: str) -> str:
    return f'${{google_service_account.fn["{function}"].member}}'


def test_staging_dataset_expires_its_tables_and_is_named_by_a_variable(infra: Config) -> None:
    dataset = infra.resource("google_bigquery_dataset", "staging")
    assert dataset["dataset_id"] == "${var.bigquery_staging_dataset}"
    assert dataset["project"] == "${var.project_id}"  # where the adapter's jobs run
    assert "var.bigquery_staging_expiration_days" in dataset["default_table_expiration_ms"]
    assert dataset["location"] == "${var.bigquery_location}"  # beside the data it scans
    default = infra.variables["bigquery_staging_dataset"]["default"]
    assert default == Settings.model_fields["bigquery_staging_dataset"].default


def test_staging_settings_reach_the_functions_that_use_the_dataset(infra: Config) -> None:
    env = infra.locals["bigquery_env"]
    assert set(env) == {"fetch_leads", "fetch_conversations", "report"}
    for function in ("fetch_conversations", "report"):
        assert env[function] == {"LR_BIGQUERY_STAGING_DATASET": STAGING_REF}
    assert "LR_BIGQUERY_STAGING_DATASET" in str(env["fetch_leads"])
    # The cap is optional and goes where query jobs run.
    assert "LR_BIGQUERY_MAXIMUM_BYTES_BILLED" in str(env["fetch_leads"])
    assert "var.bigquery_maximum_bytes_billed" in str(env["fetch_leads"])
    assert infra.variables["bigquery_maximum_bytes_billed"]["default"] is None
    assert "lookup(local.bigquery_env, f, {})" in (INFRA / "locals.tf").read_text()


def test_staging_grants_are_least_privilege(infra: Config) -> None:
    grants = {
        (body["member"], body["role"])
        for body in infra.of_type("google_bigquery_dataset_iam_member").values()
        if body.get("dataset_id") == STAGING_REF
    }
    assert grants == {
        (_member("fetch_leads"), "roles/bigquery.dataEditor"),
        (_member("fetch_conversations"), "roles/bigquery.dataViewer"),
        (_member("report"), "roles/bigquery.dataEditor"),
    }
    sessions = [
        body["member"]
        for body in infra.of_type("google_project_iam_member").values()
        if body["role"] == "roles/bigquery.readSessionUser"
    ]
    assert sessions == [_member("fetch_conversations")]
    assert "bigquerystorage.googleapis.com" in infra.locals["services"]


def test_staging_grants_say_why(infra: Config) -> None:
    comments = {
        name: commented
        for kind, name, commented in resource_comments((INFRA / "iam.tf").read_text())
        if kind.endswith("_iam_member")
    }
    for name in ("staging_writer", "staging_reader", "read_session_user", "staging_dropper"):
        assert comments.get(name), f"{name}: no grant or no comment"
