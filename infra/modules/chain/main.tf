# The chain's shape as data: topics, functions and their sizes, secrets.
#
# No provider and no resource, so the tests evaluate it offline with the real
# terraform binary and compare the result with the code (tests/infra): every
# function folder, every topic of common/chain.py and every secret the settings
# read must appear here, and nothing else.

variable "name_prefix" {
  description = "Prefix of function names (see the root module's name_prefix)."
  type        = string
  default     = ""
}

variable "function_overrides" {
  description = "Per-function size changes (see the root module's function_overrides)."
  type = map(object({
    memory        = optional(string)
    cpu           = optional(string)
    timeout       = optional(number)
    concurrency   = optional(number)
    min_instances = optional(number)
    max_instances = optional(number)
  }))
  default = {}
}

locals {
  # The topics of common/chain.py (STAGES), one per hop, each with a dead-letter
  # topic `<topic>-dead-letter` (chain.dead_letter_topic). tests/infra checks
  # this list against the code both ways.
  chain_topics = [
    "recipe-runs",           # start a run: Cloud Scheduler, gcloud pubsub topics publish, the CLI
    "leads-fetched",         # one message per shard, to fetch_conversations
    "conversations-fetched", # to process
    "processed",             # to summarize (recipes with an llm section)
    "summarized",            # run-level message after the fan-in, to cluster (recipes with clustering)
    "clustered",             # to report: from cluster, or from the fan-in when a recipe does not cluster
  ]

  # One entry per deployed function (tests/infra checks them against the code).
  #   source:    the folder of functions/ whose zip it runs; the key is the
  #              entry point (a handler of that folder's main.py)
  #   consumes:  the topic whose push subscription feeds it (chain.STAGES), or
  #              null for an HTTP-only function
  #   publishes: the topics its code may publish to, besides its own dead-letter
  #              topic (tests/infra derives them from common/chain.py). A
  #              per-shard step can publish the run-level message: the shard
  #              that completes the fan-in (or fails for good) starts the next
  #              run-level stage (cluster through `summarized`, or report
  #              through `clustered`).
  #   warehouse: runs the recipe's SQL on BigQuery
  #   storage:   reads and writes the data bucket
  #   vertex:    may call Gemini on Vertex AI with its service account
  #   sizes:     memory/cpu/timeout/concurrency/instances; function_overrides wins
  functions = {
    fetch_leads = {
      source      = "fetch_leads"
      description = "Starts a run: runs the recipe's leads SQL, writes the shards, publishes one message per shard."
      consumes    = "recipe-runs"
      publishes   = ["leads-fetched", "clustered"] # clustered: a run with no leads goes straight to report
      warehouse   = true
      storage     = true
      vertex      = false
      # Also the HTTP entry point of `gcloud functions call fetch-leads`.
      ingress = "ALLOW_ALL"
      sizes   = { memory = "1Gi", cpu = "1", timeout = 540, concurrency = 1, min_instances = 0, max_instances = 5 }
    }
    fetch_conversations = {
      source      = "fetch_conversations"
      description = "Runs the recipe's conversations SQL for one shard's leads."
      consumes    = "leads-fetched"
      publishes   = ["conversations-fetched", "summarized", "clustered"]
      warehouse   = true
      storage     = true
      vertex      = false
      ingress     = "ALLOW_INTERNAL_ONLY"
      sizes       = { memory = "2Gi", cpu = "1", timeout = 540, concurrency = 1, min_instances = 0, max_instances = 20 }
    }
    process = {
      source      = "process"
      description = "Runs the recipe's Python processors over one shard's messages."
      consumes    = "conversations-fetched"
      publishes   = ["processed", "summarized", "clustered"]
      warehouse   = false
      storage     = true
      vertex      = false
      ingress     = "ALLOW_INTERNAL_ONLY"
      sizes       = { memory = "2Gi", cpu = "1", timeout = 540, concurrency = 1, min_instances = 0, max_instances = 20 }
    }
    summarize = {
      source      = "summarize"
      description = "Asks the recipe's LLM for a structured answer per conversation of one shard, through the cache."
      consumes    = "processed"
      publishes   = ["summarized", "clustered"]
      warehouse   = false
      storage     = true
      vertex      = true
      ingress     = "ALLOW_INTERNAL_ONLY"
      # Waits on the LLM most of the time: a few shards per instance; the LLM's
      # rate limits, not CPU, bound max_instances.
      sizes = { memory = "1Gi", cpu = "1", timeout = 540, concurrency = 4, min_instances = 0, max_instances = 10 }
    }
    summarize_http = {
      source      = "summarize"
      description = "Synchronous HTTP analysis of one lead or a list (bearer token), through the same cache."
      consumes    = null # called over HTTPS, not fed by Pub/Sub
      publishes   = []
      warehouse   = false
      storage     = false # the leads and messages come in the request
      vertex      = true
      ingress     = "ALLOW_ALL"
      sizes       = { memory = "1Gi", cpu = "1", timeout = 300, concurrency = 8, min_instances = 0, max_instances = 10 }
    }
    cluster = {
      source      = "cluster"
      description = "Embeds a run's texts, clusters them recursively and names each cluster with the LLM."
      consumes    = "summarized"
      publishes   = ["clustered"]
      warehouse   = false
      storage     = true
      vertex      = true
      ingress     = "ALLOW_INTERNAL_ONLY"
      # Every text of the run, its embeddings and the clustering in memory.
      sizes = { memory = "4Gi", cpu = "2", timeout = 540, concurrency = 1, min_instances = 0, max_instances = 3 }
    }
    call_webhook = {
      source      = "call_webhook"
      description = "The voice-call provider's server messages: call status and end-of-call reports onto calls and leads."
      consumes    = null # called by the provider over HTTPS
      publishes   = []
      warehouse   = false
      storage     = false # Firestore only (calls, lead_outcomes)
      vertex      = false
      ingress     = "ALLOW_ALL"
      sizes       = { memory = "512Mi", cpu = "1", timeout = 60, concurrency = 20, min_instances = 0, max_instances = 10 }
    }
    sweep = {
      source      = "sweep"
      description = "Finishes runs stuck in running: fails and counts shards stuck past their lease, so the report runs (runs partial)."
      consumes    = null # called by the Cloud Scheduler job `runs-sweep` (scheduler.tf)
      # The run-level message of a run whose fan-in it completes (or whose
      # run-level stage never started): cluster, or report.
      publishes = ["summarized", "clustered"]
      warehouse = false
      storage   = true # the chain's backends need the bucket; it reads no object
      vertex    = false
      ingress   = "ALLOW_INTERNAL_ONLY" # Cloud Scheduler counts as internal
      sizes     = { memory = "512Mi", cpu = "1", timeout = 300, concurrency = 1, min_instances = 0, max_instances = 1 }
    }
    poll_batches = {
      source      = "poll_batches"
      description = "Collects ended LLM provider batches (llm.batch) and re-delivers their waiting summarize shards."
      consumes    = null # called by the Cloud Scheduler job `batches-poll` (scheduler.tf)
      # The shard's message again, on the summarize topic.
      publishes = ["processed"]
      warehouse = false
      storage   = true                  # batch state and results; Gemini's batch output in the data bucket
      vertex    = true                  # Gemini: batchPredictionJobs.get with its service account
      ingress   = "ALLOW_INTERNAL_ONLY" # Cloud Scheduler counts as internal
      sizes     = { memory = "512Mi", cpu = "1", timeout = 300, concurrency = 1, min_instances = 0, max_instances = 1 }
    }
    report = {
      source      = "report"
      description = "Merges a run's shards and writes the analysis CSV, ignored.csv and latest.csv."
      consumes    = "clustered"
      publishes   = [] # a dead letter only
      warehouse   = false
      storage     = true
      vertex      = false
      ingress     = "ALLOW_INTERNAL_ONLY"
      # Holds every shard of the run at once.
      sizes = { memory = "4Gi", cpu = "2", timeout = 540, concurrency = 1, min_instances = 0, max_instances = 3 }
    }
  }

  # Sizes after var.function_overrides.
  function_sizes = {
    for f, spec in local.functions : f => {
      for k, v in spec.sizes : k => coalesce(try(var.function_overrides[f][k], null), v)
    }
  }

  # Function names as gcloud shows them: fetch-leads, fetch-conversations, ...
  function_names = { for f in keys(local.functions) : f => "${var.name_prefix}${replace(f, "_", "-")}" }

  # Secret Manager secrets and how each reaches its functions. `env` secrets
  # become that environment variable; `volume` secrets are mounted as a file
  # under `mount_path` and `env` holds the file's path. The placeholder is the
  # first version, so a function can deploy before the real value is added
  # (`gcloud secrets versions add`, docs/deploy.md); "," reads as "no keys".
  secrets = {
    openai-api-keys = {
      description = "OpenAI API keys, comma-separated (a pool that rotates away from throttled keys)."
      env         = "LR_OPENAI_API_KEYS"
      mount       = "env"
      mount_path  = null
      file        = null
      # poll_batches: an OpenAI batch is read with the key that created it.
      functions   = ["summarize", "summarize_http", "cluster", "poll_batches"]
      placeholder = ","
    }
    gemini-api-keys = {
      description = "Gemini / Vertex AI express-mode keys, comma-separated; none means the function's service account."
      env         = "LR_GEMINI_API_KEYS"
      mount       = "env"
      mount_path  = null
      file        = null
      functions   = ["summarize", "summarize_http", "cluster"]
      placeholder = ","
    }
    analysis-api-tokens = {
      description = "Bearer tokens accepted by summarize-http, comma-separated (none: every call is refused)."
      env         = "LR_ANALYSIS_API_TOKENS"
      mount       = "env"
      mount_path  = null
      file        = null
      functions   = ["summarize_http"]
      placeholder = ","
    }
    call-webhook-secret = {
      description = "Shared secret(s) or HMAC key(s) the voice-call provider authenticates call-webhook with, comma-separated while rotating (none: every call is refused)."
      env         = "LR_CALL_WEBHOOK_SECRET"
      mount       = "env"
      mount_path  = null
      file        = null
      functions   = ["call_webhook"]
      placeholder = ","
    }
    webhook-secret = {
      description = "Signing secret of the report's webhooks whose recipe entry names none (LR_WEBHOOK_SECRET); the placeholder `unset` counts as none, so nothing is signed with it."
      env         = "LR_WEBHOOK_SECRET"
      mount       = "env"
      mount_path  = null
      file        = null
      functions   = ["report"]
      placeholder = "unset"
    }
    webhook-secrets = {
      description = "Named signing secrets of the recipes' webhooks, name=value pairs separated by commas, or a JSON object for values with commas (LR_WEBHOOK_SECRETS)."
      env         = "LR_WEBHOOK_SECRETS"
      mount       = "env"
      mount_path  = null
      file        = null
      functions   = ["report"]
      placeholder = ","
    }
    sheets-service-account = {
      description = "JSON key of the service account the report updates the recipes' Google Sheets with, mounted as a file (LR_GSHEETS_CREDENTIALS_FILE). Until a real key is added, Sheets updates fail with the placeholder."
      env         = "LR_GSHEETS_CREDENTIALS_FILE"
      mount       = "volume"
      mount_path  = "/secrets/sheets"
      file        = "service-account.json"
      functions   = ["report"]
      placeholder = "{}"
    }
  }
}

output "topics" {
  description = "The chain's topics, without prefix (common/chain.py TOPICS)."
  value       = local.chain_topics
}

output "dead_letter_suffix" {
  description = "Suffix of each hop's dead-letter topic (common/chain.py DEAD_LETTER_SUFFIX)."
  value       = "-dead-letter"
}

output "functions" {
  description = "Deployed function (entry point) => source folder, description, consumed topic (or null), published topics, needs, ingress, name and sizes."
  value = {
    for f, spec in local.functions : f => {
      source      = spec.source
      description = spec.description
      consumes    = spec.consumes
      publishes   = spec.publishes
      warehouse   = spec.warehouse
      storage     = spec.storage
      vertex      = spec.vertex
      ingress     = spec.ingress
      name        = local.function_names[f]
      sizes       = local.function_sizes[f]
    }
  }
}

output "subscribers" {
  description = "The functions fed by a push subscription (consumes is set), by entry point."
  value       = [for f, spec in local.functions : f if spec.consumes != null]
}

output "secrets" {
  description = "Secret id (without prefix) => description, env, mount, functions, placeholder (and mount_path/file for volumes)."
  value       = local.secrets
}
