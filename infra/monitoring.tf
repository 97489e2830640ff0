# What pages someone (docs/deploy.md "What you get paged for"). Every policy
# notifies var.alert_notification_channels plus, when var.alert_email is set,
# an e-mail channel made here.
resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == "" ? 0 : 1

  project      = var.project_id
  display_name = "${var.name_prefix}Lead Recovery alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.enabled]
}

locals {
  alert_channels = concat(var.alert_notification_channels, google_monitoring_notification_channel.email[*].id)
  # The chain's functions write their JSON logs to stdout as Cloud Run services.
  function_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=starts_with(\"${var.name_prefix}\")"
}

# A message in a hop's dead-letter subscription: a shard or run that a step
# refused (TerminalError) or that failed max_delivery_attempts times.
resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  project               = var.project_id
  display_name          = "${var.name_prefix}Lead Recovery: dead-letter backlog"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "undelivered messages in a *-dead-letter-inspect subscription"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.label.subscription_id = ends_with(\"-dead-letter-inspect\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    content = "Pull the messages (`gcloud pubsub subscriptions pull <hop>-dead-letter-inspect`), fix, re-publish their body (docs/deploy.md)."
  }

  depends_on = [google_project_service.enabled]
}

# The report logs `run finished` with run_status; anything but succeeded pages.
resource "google_monitoring_alert_policy" "run_not_succeeded" {
  project               = var.project_id
  display_name          = "${var.name_prefix}Lead Recovery: run failed or partial"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "a run ended failed or partial"
    condition_matched_log {
      filter = "${local.function_logs} AND jsonPayload.event=\"run_finished\" AND jsonPayload.run_status!=\"succeeded\""
      label_extractors = {
        run_id = "EXTRACT(labels.run_id)"
      }
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "300s"
    }
    auto_close = "86400s"
  }

  documentation {
    content = "`lead-recovery runs show $${log.extracted_label.run_id} --backend gcp` lists the failed shards and why."
  }

  depends_on = [google_project_service.enabled]
}

# The sweeper (runs-sweep job) logs a WARNING `sweep: ...` for every run it
# finds stuck past its lease and finishes.
resource "google_monitoring_alert_policy" "run_stuck" {
  project               = var.project_id
  display_name          = "${var.name_prefix}Lead Recovery: run stuck"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "the sweeper finished a stuck run"
    condition_matched_log {
      filter = "${local.function_logs} AND severity>=WARNING AND jsonPayload.message=~\"^sweep: \""
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }

  depends_on = [google_project_service.enabled]
}

# Each run's LLM cost (USD at the price table), from the report's log line.
resource "google_logging_metric" "llm_cost" {
  project = var.project_id
  name    = "${var.name_prefix}lead_recovery_llm_cost_usd"
  filter  = "${local.function_logs} AND jsonPayload.event=\"run_finished\" AND jsonPayload.llm_cost_usd>0"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "USD"
  }
  value_extractor = "EXTRACT(jsonPayload.llm_cost_usd)"
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 32
      growth_factor      = 2
      scale              = 0.01
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "llm_cost_per_day" {
  project               = var.project_id
  display_name          = "${var.name_prefix}Lead Recovery: LLM cost per day above ${var.llm_daily_cost_alert_usd} USD"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "LLM cost over the last 24 h"
    condition_prometheus_query_language {
      query    = "sum(increase(logging_googleapis_com:user_${google_logging_metric.llm_cost.name}_sum[1d])) > ${var.llm_daily_cost_alert_usd}"
      duration = "0s"
    }
  }

  depends_on = [google_project_service.enabled]
}
