output "function_urls" {
  description = "Function => HTTPS endpoint (fetch-leads accepts `gcloud functions call` and POSTs of {\"recipe\": NAME})."
  value       = { for f, fn in google_cloudfunctions2_function.fn : f => fn.service_config[0].uri }
}

output "function_sources" {
  description = "Function => deployed zip object: keep them to roll back to this release."
  value       = { for f, fn in google_cloudfunctions2_function.fn : f => fn.build_config[0].source[0].storage_source[0].object }
}

output "service_accounts" {
  description = "Function => runtime service account email."
  value       = { for f, sa in google_service_account.fn : f => sa.email }
}

output "topics" {
  description = "Hop => Pub/Sub topic name."
  value       = { for t, topic in google_pubsub_topic.chain : t => topic.name }
}

output "dead_letter_subscriptions" {
  description = "Hop => subscription holding its dead letters (pull it to inspect or replay)."
  value       = { for t, sub in google_pubsub_subscription.dead_letter_inspect : t => sub.name }
}

output "scheduler_jobs" {
  description = "Recipe => Cloud Scheduler job name, cron and time zone."
  value       = { for r, job in google_cloud_scheduler_job.recipe : r => "${job.name} (${job.schedule}, ${job.time_zone})" }
}

output "bucket" {
  description = "The data bucket (LR_BUCKET)."
  value       = google_storage_bucket.data.name
}

output "start_commands" {
  description = "Ways to start a run of a recipe by hand."
  value = [
    "gcloud pubsub topics publish ${google_pubsub_topic.chain["recipe-runs"].name} --project=${var.project_id} --message='{\"recipe\":\"NAME\"}'",
    "gcloud functions call ${google_cloudfunctions2_function.fn["fetch_leads"].name} --project=${var.project_id} --region=${var.region} --data='{\"recipe\":\"NAME\"}'",
  ]
}

output "backend_settings" {
  description = "LR_* settings for `lead-recovery runs list/show --backend gcp` from a workstation."
  value = {
    LR_PROJECT                     = var.project_id
    LR_BUCKET                      = google_storage_bucket.data.name
    LR_FIRESTORE_DATABASE          = var.firestore_database
    LR_FIRESTORE_COLLECTION_PREFIX = var.firestore_collection_prefix
    LR_TOPIC_PREFIX                = var.name_prefix
  }
}
