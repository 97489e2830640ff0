# The results dataset: every run's analysis, ignored leads and run row
# (common/results/, loaded by the report step with Parquet load jobs into
# tables partitioned by run_date and clustered by recipe and lead_key), and the
# documented KPI views over them (common/results/views/*.sql) for Looker Studio.
resource "google_bigquery_dataset" "results" {
  # checkov:skip=CKV_GCP_81: the leads' analysis, from data already in the project; Google-managed encryption as for the source tables
  project     = var.project_id
  dataset_id  = var.results_dataset
  location    = var.bigquery_location
  description = "Lead Recovery: each run's results (analysis, ignored, runs) and the recovery KPI views."

  labels = { app = "lead-recovery" }

  depends_on = [google_project_service.enabled]
}

locals {
  # The report function's settings (merged into its environment by locals.tf).
  results_env = {
    report = { LR_RESULTS_DATASET = google_bigquery_dataset.results.dataset_id }
  }
  # The views: the same SQL files the CLI runs (`lead-recovery results kpis`),
  # with the tables' full names put in.
  results_views = toset(["recovery_kpis", "recovery_kpis_by_dimension", "lead_history"])
}

resource "google_bigquery_table" "results_view" {
  # checkov:skip=CKV_GCP_121: a view stores no data; it is recreated from its committed SQL (common/results/views/)
  # checkov:skip=CKV_GCP_80: a view stores no data to encrypt; the tables it reads use the dataset's encryption
  for_each = local.results_views

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.results.dataset_id
  table_id            = each.key
  deletion_protection = false
  description         = "Lead Recovery KPI view (common/results/views/${each.key}.sql)."

  view {
    use_legacy_sql = false
    query = replace(replace(replace(
      file("${path.module}/../common/results/views/${each.key}.sql"),
      "{analysis}", "`${var.project_id}.${var.results_dataset}.analysis`"),
      "{ignored}", "`${var.project_id}.${var.results_dataset}.ignored`"),
    "{runs}", "`${var.project_id}.${var.results_dataset}.runs`")
  }

  labels = { app = "lead-recovery" }
}
