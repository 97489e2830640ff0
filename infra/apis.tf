# Every API the deployment touches. Left enabled on destroy: other things in the
# project may use them, and disabling an API can delete its data.
locals {
  services = [
    "cloudresourcemanager.googleapis.com", # read the project number (data.google_project)
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
    "logging.googleapis.com",              # function logs
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.services)

  project            = var.project_id
  service            = each.key
  disable_on_destroy = false
}
