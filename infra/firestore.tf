# Firestore (native mode): runs/{run_id} with steps/{step-shard}, and the LLM
# summary cache. Collection names carry var.firestore_collection_prefix, as
# the code does (LR_FIRESTORE_COLLECTION_PREFIX).
resource "google_firestore_database" "state" {
  count = var.create_firestore_database ? 1 : 0

  project     = var.project_id
  name        = var.firestore_database
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  # Run history lives here: refuse a delete, and leave the database behind on
  # `terraform destroy`.
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"

  depends_on = [google_project_service.enabled]
}

# Retention (common/retention.py KINDS, docs/privacy.md "Retention"): a TTL
# policy per collection group deletes a document once its `expires_at` has
# passed (typically within a day). The Firestore adapters of the call store,
# state store and rate budget write expires_at = last write + the kind's days,
# read from the settings in retention_env below (given to every
# function: each writes run documents and step marks). A document without the
# field is kept.
locals {
  retention_ttl_collections = {
    calls            = "calls"
    lead_outcomes    = "lead_outcomes"
    runs             = "runs"
    llm_rate_buckets = "llm_rate_buckets"
  }

  # A run's step marks and fan-in documents live in subcollections of
  # runs/{run_id}, named without the prefix (FirestoreStateStore). Deleting the
  # run document leaves them, so they carry expires_at and have policies of
  # their own (collection groups: every runs/*/steps of the database).
  retention_ttl_run_subcollections = {
    steps = "steps"
    fanin = "fanin"
  }

  retention_env = {
    LR_RETENTION_CALLS_DAYS           = tostring(var.call_retention_days)
    LR_RETENTION_LEAD_OUTCOMES_DAYS   = tostring(var.lead_outcome_retention_days)
    LR_RETENTION_RUNS_DAYS            = tostring(var.run_retention_days)
    LR_RETENTION_LLM_RATE_BUDGET_DAYS = tostring(var.rate_budget_retention_days)
  }
}

resource "google_firestore_field" "retention_ttl" {
  for_each = local.retention_ttl_collections

  project    = var.project_id
  database   = local.firestore_database
  collection = "${var.firestore_collection_prefix}${each.value}"
  field      = "expires_at"

  ttl_config {}
  # No single-field index: nothing queries expires_at here, and an index on a
  # timestamp every write moves forward caps the collection's write rate.
  index_config {}
}

resource "google_firestore_field" "retention_ttl_run_subcollections" {
  for_each = local.retention_ttl_run_subcollections

  project    = var.project_id
  database   = local.firestore_database
  collection = each.value
  field      = "expires_at"

  ttl_config {}
  index_config {}
}

# The summary cache expires by a TTL policy on `expires_at` (set by
# common/adapters/gcp/firestore_cache.py to created_at + LR_LLM_CACHE_TTL_DAYS).
# Its single-field index stays: the cache's own sweep queries expires_at <= now.
resource "google_firestore_field" "summary_cache_ttl" {
  project    = var.project_id
  database   = local.firestore_database
  collection = "${var.firestore_collection_prefix}summary_cache"
  field      = "expires_at"

  ttl_config {}
}

# `lead-recovery runs list --recipe X` (FirestoreStateStore.list_runs):
# recipe == X ordered by _created_at, newest first.
resource "google_firestore_index" "runs_by_recipe" {
  project    = var.project_id
  database   = local.firestore_database
  collection = "${var.firestore_collection_prefix}runs"

  fields {
    field_path = "recipe"
    order      = "ASCENDING"
  }

  fields {
    field_path = "_created_at"
    order      = "DESCENDING"
  }
}

# The sweeper's query (FirestoreStateStore.list_runs(status=...)): runs with
# status == "running", newest first.
resource "google_firestore_index" "runs_by_status" {
  project    = var.project_id
  database   = local.firestore_database
  collection = "${var.firestore_collection_prefix}runs"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "_created_at"
    order      = "DESCENDING"
  }
}
