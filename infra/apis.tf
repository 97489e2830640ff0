# Every API the deployment touches. Left enabled on destroy: other things in the
# project may use them, and disabling an API can delete its data.
locals {
  services = [
    "cloudresourcemanager.googleapis.com", # project-level IAM grants
    "iam.googleapis.com",                  # service accounts
    "cloudfunctions.googleapis.com",       # Cloud Functions (gen2)
    "run.googleapis.com",                  # gen2 functions run as Cloud Run services
    "cloudbuild.googleapis.com",           # builds the function images from the zips
    "artifactregistry.googleapis.com",     # stores those images
    "pubsub.googleapis.com",               # the chain's topics and subscriptions
    "cloudscheduler.googleapis.com",       # scheduled recipe runs
    "firestore.googleapis.com",            # run state, step marks, summary cache
    "storage.googleapis.com",              # runs/, output_run/, function zips
    "bigquery.googleapis.com",             # the recipes' SQL
    "bigquerystorage.googleapis.com",      # fetch-conversations reads its shard of the run's scan
    "secretmanager.googleapis.com",        # LLM keys, webhook secret, Sheets key
    "aiplatform.googleapis.com",           # Gemini on Vertex AI
    "logging.googleapis.com",              # function logs, the log-based metric
    "monitoring.googleapis.com",           # alert policies, notification channels
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.services)

  project            = var.project_id
  service            = each.key
  disable_on_destroy = false
}

# Service agents (Google-managed identities) made explicitly, so that the grants
# to them never race the API's first use on a new project: Pub/Sub's forwards
# dead letters and signs push tokens, Vertex AI's runs Gemini batch jobs.
resource "google_project_service_identity" "agent" {
  provider = google-beta
  for_each = toset(["pubsub.googleapis.com", "aiplatform.googleapis.com"])

  project = var.project_id
  service = each.key

  depends_on = [google_project_service.enabled]
}
