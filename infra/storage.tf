# The data bucket (LR_BUCKET): runs/<run_id>/... intermediate Parquet,
# output_run/<recipe>/... reports, uploads/<recipe>/leads.csv.
resource "google_storage_bucket" "data" {
  # checkov:skip=CKV_GCP_62: access is audited by Cloud Audit Logs (data access logs), not legacy bucket access logs
  # checkov:skip=CKV_GCP_78: objects are derived and rewritten each run (runs/ expire by lifecycle rule); versions would only keep deleted intermediates
  name                        = var.bucket_name
  project                     = var.project_id
  location                    = coalesce(var.bucket_location, var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Reports are business data: `terraform destroy` must not empty the bucket.
  force_destroy = false

  # A run needs its intermediates only until its report is written; a retried
  # step rewrites the same object names, so nothing else refers to them.
  lifecycle_rule {
    condition {
      age            = var.intermediate_retention_days
      matches_prefix = ["runs/"]
    }
    action {
      type = "Delete"
    }
  }

  # Reports age out when output_retention_days > 0. latest.csv and
  # latest_ignored.csv are rewritten (a new object, age 0) by every run of the
  # recipe, so only a recipe that stopped running loses its latest.
  dynamic "lifecycle_rule" {
    for_each = var.output_retention_days > 0 ? [var.output_retention_days] : []
    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["output_run/"]
      }
      action {
        type = "Delete"
      }
    }
  }

  # Uploads interrupted half-way are never completed by a retry (it starts over).
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.enabled]
}
