# One service account per function, each with only the roles its code needs;
# plus the identity Pub/Sub pushes with and the one that builds the functions.
# Logging needs no role: gen2 functions write JSON lines to stdout and the
# platform ships them to Cloud Logging.

resource "google_service_account" "fn" {
  for_each = module.chain.functions

  project      = var.project_id
  account_id   = "${var.name_prefix}lr-${replace(each.key, "_", "-")}"
  display_name = "Lead Recovery ${each.value.name}"
  description  = "Runtime identity of the ${each.value.name} Cloud Function."

  # A new project: the IAM API is enabled before any account is made.
  depends_on = [google_project_service.enabled]
}

locals {
  warehouse_functions = { for f, spec in module.chain.functions : f => spec if spec.warehouse }

  # (function, topic) for every topic a function's code may publish to.
  publish_grants = merge([
    for f, spec in module.chain.functions : {
      for t in spec.publishes : "${f}/${t}" => { function = f, topic = t }
    }
  ]...)

  # (function, dataset) when the datasets are listed.
  dataset_grants = merge([
    for f in keys(local.warehouse_functions) : {
      for d in var.bigquery_datasets : "${f}/${d}" => { function = f, dataset = d }
    }
  ]...)

  # (secret, function) for every secret a function mounts.
  secret_grants = merge([
    for s, spec in module.chain.secrets : {
      for f in spec.functions : "${s}/${f}" => { secret = s, function = f }
    }
  ]...)
}

# -- every function --------------------------------------------------------------------

# Firestore read/write: the run document and its step marks (claims, fan-in
# transactions), and the summary cache. Firestore IAM stops at the database:
# the condition keeps each function to this deployment's database; collections
# cannot be scoped (docs/deploy.md "What cannot be scoped").
resource "google_project_iam_member" "firestore_user" {
  for_each = module.chain.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.fn[each.key].member

  condition {
    title       = "lead-recovery-database-only"
    description = "Only the Firestore database of this deployment (var.firestore_database)."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${var.firestore_database}\" || resource.name.startsWith(\"projects/${var.project_id}/databases/${var.firestore_database}/\")"
  }
}

# Read, write and overwrite objects in the data bucket only (retried steps
# rewrite the same names; objectCreator cannot overwrite). No bucket admin.
resource "google_storage_bucket_iam_member" "data_objects" {
  for_each = { for f, spec in module.chain.functions : f => spec if spec.storage }

  bucket = google_storage_bucket.data.name
  role   = "roles/storage.objectUser"
  member = google_service_account.fn[each.key].member
}

# Publish to the next hops, topic by topic (module.chain: publishes).
resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.publish_grants

  project = var.project_id
  topic   = google_pubsub_topic.chain[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.fn[each.value.function].member
}

# Publish a refused message, with its reason, to the dead-letter topic of the
# hop the function consumes (common.entrypoints.dead_letter).
resource "google_pubsub_topic_iam_member" "own_dead_letter" {
  for_each = local.push_functions

  project = var.project_id
  topic   = google_pubsub_topic.dead_letter[each.value.consumes].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.fn[each.key].member
}

# -- functions that query BigQuery (fetch_leads, fetch_conversations) -----------------

# Run query jobs, billed to this project.
resource "google_project_iam_member" "bigquery_job_user" {
  for_each = local.warehouse_functions

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.fn[each.key].member
}

# Read the tables the recipes' SQL reads: the listed datasets only (var.bigquery_datasets
# is required; there is no project-wide fallback).
resource "google_bigquery_dataset_iam_member" "data_viewer" {
  for_each = local.dataset_grants

  project    = local.bigquery_data_project
  dataset_id = each.value.dataset
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.fn[each.value.function].member
}

# -- the staging dataset: one scan per run (bigquery.tf) --------------------------------

# fetch-leads creates and overwrites the run's staged tables in the staging
# dataset only (load job of the leads, the scan's destination table, their
# expiration). dataEditor on this one dataset, which holds nothing else.
resource "google_bigquery_dataset_iam_member" "staging_writer" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.staging.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.fn["fetch_leads"].member
}

# fetch-conversations reads its shard of the staged scan: table data of the
# staging dataset only...
resource "google_bigquery_dataset_iam_member" "staging_reader" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.staging.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.fn["fetch_conversations"].member
}

# ...through Storage Read API sessions (billed to this project); the role
# grants no table data by itself.
resource "google_project_iam_member" "read_session_user" {
  project = var.project_id
  role    = "roles/bigquery.readSessionUser"
  member  = google_service_account.fn["fetch_conversations"].member
}

# The report drops the run's staged tables. No predefined role deletes tables
# without also writing them: dataEditor, on the staging dataset only.
resource "google_bigquery_dataset_iam_member" "staging_dropper" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.staging.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.fn["report"].member
}

# The report loads each run's results rows (DELETE of its own run's rows, then a
# Parquet load job): the only writer of the results dataset, dataEditor on it only.
resource "google_bigquery_dataset_iam_member" "results_writer" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.results.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.fn["report"].member
}

# Those DELETE and load jobs (and the previous run's rows, read for the lead
# history) run as jobs billed to this project.
resource "google_project_iam_member" "results_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.fn["report"].member
}

# -- the LLM users: summarize, summarize_http, cluster ---------------------------------

# Call Gemini on Vertex AI with the service account when no API key is set.
resource "google_project_iam_member" "vertex_user" {
  for_each = { for f, spec in module.chain.functions : f => spec if spec.vertex }

  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = google_service_account.fn[each.key].member
}

# Gemini batch mode (llm.batch): Vertex AI's service agent runs the batch
# prediction job, reading its input JSONL from the data bucket and writing the
# predictions back under runs/<run_id>/batches/. Objects of this bucket only.
resource "google_storage_bucket_iam_member" "vertex_batch_objects" {
  bucket = google_storage_bucket.data.name
  role   = "roles/storage.objectUser"
  member = local.vertex_agent
}

# -- secrets ---------------------------------------------------------------------------

# Read the secrets the function mounts, each one by itself (not the project's).
resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.secret_grants

  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.fn[each.value.function].member
}

# -- Pub/Sub push ----------------------------------------------------------------------

resource "google_service_account" "pubsub_push" {
  project      = var.project_id
  account_id   = "${var.name_prefix}lr-pubsub-push"
  display_name = "Lead Recovery Pub/Sub push"
  description  = "Identity in the OIDC token of every push subscription of the chain."

  # A new project: the IAM API is enabled before any account is made.
  depends_on = [google_project_service.enabled]
}

# Invoke the function its subscription pushes to (gen2 functions are Cloud Run
# services named like the function).
resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = local.push_functions

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.pubsub_push.member
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}lr-scheduler"
  display_name = "Lead Recovery Cloud Scheduler"
  description  = "Identity in the OIDC token of the runs-sweep and batches-poll Cloud Scheduler jobs."

  # A new project: the IAM API is enabled before any account is made.
  depends_on = [google_project_service.enabled]
}

# The runs-sweep job calls the sweep function, and nothing else.
resource "google_cloud_run_service_iam_member" "sweep_invoker" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn["sweep"].name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# The batches-poll job calls the poll_batches function.
resource "google_cloud_run_service_iam_member" "poll_batches_invoker" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn["poll_batches"].name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# People and groups who start runs with `gcloud functions call fetch-leads`.
resource "google_cloud_run_service_iam_member" "run_starter" {
  for_each = toset(var.run_starters)

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn["fetch_leads"].name
  role     = "roles/run.invoker"
  member   = each.key
}

# Callers of summarize-http with a Google identity (sent in
# X-Serverless-Authorization, the bearer token staying in Authorization)...
resource "google_cloud_run_service_iam_member" "analysis_invoker" {
  for_each = toset(var.analysis_invokers)

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn["summarize_http"].name
  role     = "roles/run.invoker"
  member   = each.key
}

# ...or anyone, when the bearer token alone is to guard it.
resource "google_cloud_run_service_iam_member" "analysis_public" {
  for_each = var.analysis_allow_unauthenticated ? toset(["allUsers"]) : toset([])

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn["summarize_http"].name
  role     = "roles/run.invoker"
  member   = each.key
}

# The voice-call provider, which cannot present a Google identity: call-webhook
# authenticates each request itself (shared secret or HMAC signature).
resource "google_cloud_run_service_iam_member" "call_webhook_public" {
  for_each = var.call_webhook_allow_unauthenticated ? toset(["allUsers"]) : toset([])

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn["call_webhook"].name
  role     = "roles/run.invoker"
  member   = each.key
}

# Pub/Sub's service agent mints the push identity's OIDC tokens...
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# ...forwards undeliverable messages to the dead-letter topics...
resource "google_pubsub_topic_iam_member" "dead_letter_forwarder" {
  for_each = toset(module.chain.topics)

  project = var.project_id
  topic   = google_pubsub_topic.dead_letter[each.key].name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

# ...and acknowledges the forwarded message on the source subscription.
resource "google_pubsub_subscription_iam_member" "dead_letter_forwarder" {
  for_each = local.push_functions

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# -- building the functions ------------------------------------------------------------

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name_prefix}lr-function-build"
  display_name = "Lead Recovery function builds"
  description  = "Cloud Build identity that turns the function zips into images."

  # A new project: the IAM API is enabled before any account is made.
  depends_on = [google_project_service.enabled]
}

# Write the build logs.
resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

# Push the built images to Artifact Registry (gcf-artifacts).
resource "google_project_iam_member" "build_artifact_writer" {
  project = var.project_id
  role    = "roles/artifactregistry.writer"
  member  = google_service_account.build.member
}

# Read the zips, in the source bucket only.
resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = var.source_bucket
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
