# One Cloud Scheduler job per recipe named in var.scheduled_recipes (none by
# default) whose meta.yml has a `schedule` (module.recipes reads them): it publishes {"recipe": NAME} to recipe-runs,
# exactly what `gcloud pubsub topics publish recipe-runs --message=...` does.
resource "google_cloud_scheduler_job" "recipe" {
  for_each = { for name, spec in module.recipes.schedules : name => spec if contains(var.scheduled_recipes, name) }

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

  lifecycle {
    precondition {
      condition     = alltrue([for name in var.scheduled_recipes : contains(keys(module.recipes.schedules), name)])
      error_message = "scheduled_recipes names a recipe without a `schedule` in its meta.yml."
    }
  }
}

# The sweeper: every few minutes, Cloud Scheduler calls the `sweep` function
# (OIDC token of its own service account), which finishes runs whose shards are
# stuck past their lease (common/steps/sweep.py, `lead-recovery runs sweep`).
resource "google_cloud_scheduler_job" "sweep" {
  project     = var.project_id
  region      = local.scheduler_region
  name        = "${var.name_prefix}runs-sweep"
  description = "Finishes runs stuck in running (shards stuck past their lease end failed, the run partial)."
  schedule    = var.sweep_schedule
  time_zone   = "Etc/UTC"
  paused      = var.schedules_paused

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn["sweep"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
    }
  }

  retry_config {
    retry_count = 0 # the next scheduled call is the retry
  }

  depends_on = [google_project_service.enabled]
}

# The batch poller: every few minutes, Cloud Scheduler calls the `poll_batches`
# function (same identity as the sweeper), which collects the LLM provider
# batches that ended and re-delivers their waiting shards (common/steps/batches.py,
# `lead-recovery batches poll`). Batches take up to 24 h: polling more often
# than a few minutes only adds calls.
resource "google_cloud_scheduler_job" "batches_poll" {
  project     = var.project_id
  region      = local.scheduler_region
  name        = "${var.name_prefix}batches-poll"
  description = "Collects ended LLM provider batches (llm.batch) and re-delivers their waiting shards."
  schedule    = var.batch_poll_schedule
  time_zone   = "Etc/UTC"
  paused      = var.schedules_paused

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn["poll_batches"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
    }
  }

  retry_config {
    retry_count = 0 # the next scheduled call is the retry
  }

  depends_on = [google_project_service.enabled]
}
