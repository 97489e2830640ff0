# One Cloud Scheduler job per recipe whose meta.yml has a `schedule`
# (module.recipes reads them): it publishes {"recipe": NAME} to recipe-runs,
# exactly what `gcloud pubsub topics publish recipe-runs --message=...` does.
resource "google_cloud_scheduler_job" "recipe" {
  for_each = module.recipes.schedules

  project     = var.project_id
  region      = local.scheduler_region
  name        = "${var.name_prefix}run-${replace(each.key, "_", "-")}"
  description = "Starts a run of recipe ${each.key} (recipes/${each.key}/meta.yml schedule)."
  schedule    = each.value.cron
  time_zone   = each.value.time_zone
  paused      = var.schedules_paused

  pubsub_target {
    topic_name = google_pubsub_topic.chain["recipe-runs"].id
    data       = base64encode(jsonencode({ recipe = each.key }))
    attributes = {
      recipe = each.key
      origin = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.enabled]
}
