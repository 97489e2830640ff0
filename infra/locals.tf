# The chain's topics, functions and secrets as data (a provider-free module the
# tests evaluate offline), and the recipes' schedules read from their meta.yml.
module "chain" {
  source             = "./modules/chain"
  name_prefix        = var.name_prefix
  function_overrides = var.function_overrides
}

module "recipes" {
  source      = "./modules/recipes"
  recipes_dir = "${path.module}/${var.recipes_dir}"
}

locals {
  # Settings every function reads (common/settings.py; tests/infra checks each
  # name is a setting).
  common_env = {
    LR_BACKEND                     = "gcp"
    LR_PROJECT                     = var.project_id
    LR_BUCKET                      = google_storage_bucket.data.name
    LR_FIRESTORE_DATABASE          = var.firestore_database
    LR_FIRESTORE_COLLECTION_PREFIX = var.firestore_collection_prefix
    LR_TOPIC_PREFIX                = var.name_prefix
    LR_RECIPES_DIR                 = "recipes" # shipped inside every zip
    LR_LOG_FORMAT                  = "json"
    LR_LOG_LEVEL                   = var.log_level
    # The push subscriptions' limit: a step failing on that delivery records
    # itself failed for good, so its shard is counted and the run ends.
    LR_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
    LR_SWEEP_GRACE_SECONDS   = tostring(var.sweep_grace_seconds)
  }

  function_env = {
    for f, spec in module.chain.functions : f => merge(
      local.common_env,
      {
        # A claim outlives the invocation holding it, so a redelivery never
        # takes over a step that is still running.
        LR_STEP_LEASE_SECONDS = tostring(spec.sizes.timeout + 60)
      },
      spec.warehouse ? { LR_WAREHOUSE = "bigquery" } : {},
      spec.warehouse && var.bigquery_location != null ? { LR_BIGQUERY_LOCATION = var.bigquery_location } : {},
      lookup(local.bigquery_env, f, {}), # bigquery.tf: the staging dataset, the bytes cap
      lookup(local.results_env, f, {}),  # results.tf: the results dataset
      lookup(local.calls_env, f, {}),    # calls.tf: call-webhook's settings
      local.retention_env,               # firestore.tf: the days expires_at adds
      spec.vertex ? {
        LR_GEMINI_LOCATION    = var.gemini_location
        LR_LLM_CACHE_TTL_DAYS = tostring(var.cache_ttl_days)
      } : {},
      {
        for name, s in module.chain.secrets : s.env => "${s.mount_path}/${s.file}"
        if s.mount == "volume" && contains(s.functions, f)
      },
    )
  }

  # The functions a push subscription feeds (all but the HTTP-only ones).
  push_functions = { for f, spec in module.chain.functions : f => spec if spec.consumes != null }

  bigquery_data_project = coalesce(var.bigquery_data_project, var.project_id)
  scheduler_region      = var.region
  firestore_database    = var.create_firestore_database ? google_firestore_database.state[0].name : var.firestore_database

  # Pub/Sub's own service agent: it forwards dead letters and signs push tokens.
  pubsub_agent = "serviceAccount:${google_project_service_identity.agent["pubsub.googleapis.com"].email}"
  # Vertex AI's service agent (created when aiplatform.googleapis.com is enabled):
  # it runs Gemini batch prediction jobs.
  vertex_agent = "serviceAccount:${google_project_service_identity.agent["aiplatform.googleapis.com"].email}"
}
