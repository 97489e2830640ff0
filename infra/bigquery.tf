# The staging dataset: each run's leads and its one conversations scan
# (common/adapters/gcp/bigquery_warehouse.py: `<run>_leads`, `<run>_conversations`,
# clustered by shard). The report step drops a run's tables; the default
# expiration removes those of runs that never reached it.
resource "google_bigquery_dataset" "staging" {
  # checkov:skip=CKV_GCP_81: transient tables (expire in days) of data already in the project; Google-managed encryption as for the source tables
  project     = var.project_id
  dataset_id  = var.bigquery_staging_dataset
  location    = var.bigquery_location # the scan writes here: same location as the messages
  description = "Lead Recovery: each run's staged leads and conversations scan (transient)."

  default_table_expiration_ms = var.bigquery_staging_expiration_days * 24 * 60 * 60 * 1000
  delete_contents_on_destroy  = true # only transient tables live here

  labels = { app = "lead-recovery" }

  depends_on = [google_project_service.enabled]
}

locals {
  # The functions that touch the staging dataset, and the settings they get.
  bigquery_env = {
    fetch_leads = merge(
      { LR_BIGQUERY_STAGING_DATASET = google_bigquery_dataset.staging.dataset_id },
      # Only fetch-leads runs query jobs (the leads query and the one scan).
      var.bigquery_maximum_bytes_billed != null ? { LR_BIGQUERY_MAXIMUM_BYTES_BILLED = tostring(var.bigquery_maximum_bytes_billed) } : {},
    )
    fetch_conversations = { LR_BIGQUERY_STAGING_DATASET = google_bigquery_dataset.staging.dataset_id }
    report              = { LR_BIGQUERY_STAGING_DATASET = google_bigquery_dataset.staging.dataset_id }
  }
}
