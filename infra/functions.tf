# Every deployment of module.chain as a Cloud Function (gen2), built from the
# zip scripts/package_functions.py made for its folder of functions/ (content-
# hashed name: a new zip means a new build; the same zip means no change).
# The folder summarize is deployed twice: `summarize` (Pub/Sub) and
# `summarize-http` (its synchronous HTTP analysis).
#
# No event_trigger: each function is fed by the push subscription in pubsub.tf.
# The CloudEvent handlers are declared with @functions_framework.cloud_event,
# which takes precedence over the HTTP signature type, so functions-framework
# turns the pushed envelope into the Pub/Sub CloudEvent they expect.

resource "google_cloudfunctions2_function" "fn" {
  # checkov:skip=CKV_GCP_124: ingress is per function (var.function_overrides / chain module): call-webhook must take the voice provider's calls from the internet; the rest are IAM-protected
  for_each = module.chain.functions

  project     = var.project_id
  location    = var.region
  name        = each.value.name
  description = each.value.description

  labels = {
    function = replace(each.key, "_", "-")
  }

  build_config {
    runtime         = var.python_runtime
    entry_point     = each.key
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = var.source_bucket
        object = "${var.source_prefix}/${lookup(var.function_sources, each.value.source, "")}"
      }
    }
  }

  service_config {
    available_memory                 = each.value.sizes.memory
    available_cpu                    = each.value.sizes.cpu
    timeout_seconds                  = each.value.sizes.timeout
    max_instance_request_concurrency = each.value.sizes.concurrency
    min_instance_count               = each.value.sizes.min_instances
    max_instance_count               = each.value.sizes.max_instances
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn[each.key].email
    environment_variables            = local.function_env[each.key]

    dynamic "secret_environment_variables" {
      for_each = {
        for s, spec in module.chain.secrets : s => spec
        if spec.mount == "env" && contains(spec.functions, each.key)
      }
      content {
        key        = secret_environment_variables.value.env
        project_id = var.project_id
        secret     = google_secret_manager_secret.secret[secret_environment_variables.key].secret_id
        version    = "latest"
      }
    }

    dynamic "secret_volumes" {
      for_each = {
        for s, spec in module.chain.secrets : s => spec
        if spec.mount == "volume" && contains(spec.functions, each.key)
      }
      content {
        mount_path = secret_volumes.value.mount_path
        project_id = var.project_id
        secret     = google_secret_manager_secret.secret[secret_volumes.key].secret_id

        versions {
          version = "latest"
          path    = secret_volumes.value.file
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = contains(keys(var.function_sources), each.value.source)
      error_message = "function_sources has no zip for functions/${each.value.source}: run scripts/package_functions.py and pass -var-file=../dist/functions/function_sources.tfvars.json."
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_version.placeholder,
    google_secret_manager_secret_iam_member.accessor,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_artifact_writer,
    google_storage_bucket_iam_member.build_source_reader,
  ]
}
