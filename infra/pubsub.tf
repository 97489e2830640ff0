# One topic per hop of common/chain.py, each with a dead-letter topic, and a
# push subscription per consuming function.
#
# Push subscriptions managed here, not Eventarc triggers: Terraform then owns
# the retry and dead-letter policies (an Eventarc trigger's subscription is
# created by Eventarc and cannot carry a dead-letter policy from Terraform), and
# the functions receive exactly what the emulator tests deliver (the wrapped
# push JSON, which functions-framework turns into a Pub/Sub CloudEvent for the
# CloudEvent handlers, and which fetch-leads' HTTP handler reads directly).

resource "google_pubsub_topic" "chain" {
  # checkov:skip=CKV_GCP_83: messages carry run ids and object names only, never lead data (common/messages.py); Google-managed keys
  for_each = toset(module.chain.topics)

  project                    = var.project_id
  name                       = "${var.name_prefix}${each.key}"
  message_retention_duration = "86400s" # lets a fixed deployment replay a day (gcloud pubsub subscriptions seek)

  depends_on = [google_project_service.enabled]
}

# `<topic>-dead-letter`: where a hop's poison messages end, either forwarded by
# Pub/Sub after max_delivery_attempts, or published by the step itself with
# its reason (common.entrypoints.dead_letter, a DeadLetter message).
resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83: the dead-lettered messages are the chain's (ids and reasons only); Google-managed keys
  for_each = toset(module.chain.topics)

  project = var.project_id
  name    = "${var.name_prefix}${each.key}${module.chain.dead_letter_suffix}"

  depends_on = [google_project_service.enabled]
}

# A topic without a subscription drops what it receives: this one keeps every
# dead letter for inspection and replay (`gcloud pubsub subscriptions pull`).
resource "google_pubsub_subscription" "dead_letter_inspect" {
  for_each = toset(module.chain.topics)

  project                    = var.project_id
  name                       = "${google_pubsub_topic.dead_letter[each.key].name}-inspect"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = var.dead_letter_retention
  retain_acked_messages      = false

  expiration_policy {
    ttl = "" # never expires, however long the chain stays healthy
  }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.push_functions

  project = var.project_id
  name    = "${var.name_prefix}${each.value.consumes}-${replace(each.key, "_", "-")}"
  topic   = google_pubsub_topic.chain[each.value.consumes].id

  # The longest Pub/Sub allows, above every function timeout (at most 540 s):
  # a slow step is not redelivered while it still runs.
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.fn[each.key].service_config[0].uri

    # Authenticated push: the functions accept only callers with run.invoker.
    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
    }

    attributes = {
      x-goog-version = "v1"
    }
  }

  # Retry on failure: any non-2xx answer (a TransientError, a crash, a timeout)
  # is redelivered with exponential backoff...
  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  # ...a bounded number of times, then the message goes to the hop's dead-letter topic.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.consumes].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_forwarder,
    google_cloud_run_service_iam_member.push_invoker,
  ]
}
