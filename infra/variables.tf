# ---- where ---------------------------------------------------------------------------
variable "project_id" {
  description = "Google Cloud project that runs the chain (functions, topics, Firestore, bucket)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits, hyphens), not its name or number."
  }
}

variable "region" {
  description = "Region of the functions, the bucket (unless bucket_location is set) and the scheduler jobs."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix of every topic, subscription, function, service account, secret and job name, to run several environments in one project (e.g. \"dev-\"). Empty in production, so the topics are exactly those of common/chain.py."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z][a-z0-9-]{0,6}-)?$", var.name_prefix))
    error_message = "name_prefix must be empty or up to 8 lowercase characters ending in \"-\" (service account ids are limited to 30 characters)."
  }
}

# ---- storage -------------------------------------------------------------------------
variable "bucket_name" {
  description = "Cloud Storage bucket for runs/ (intermediate Parquet), output_run/ (reports) and uploads/ (LR_BUCKET). Created here."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid bucket name: 3-63 lowercase letters, digits, dots, hyphens, underscores."
  }
}

variable "bucket_location" {
  description = "Location of the data bucket; null means the region."
  type        = string
  default     = null
}

variable "intermediate_retention_days" {
  description = "Days before the intermediate Parquet under runs/ is deleted by a lifecycle rule. A run needs its intermediates only until its report is written."
  type        = number
  default     = 14

  validation {
    condition     = var.intermediate_retention_days >= 1 && floor(var.intermediate_retention_days) == var.intermediate_retention_days
    error_message = "intermediate_retention_days must be a whole number of days, at least 1."
  }
}

variable "output_retention_days" {
  description = "Days before reports under output_run/<recipe>/<stamp>/ are deleted; 0 keeps them forever. latest.csv is rewritten by every run, so it never ages out while the recipe runs."
  type        = number
  default     = 365

  validation {
    condition     = var.output_retention_days >= 0 && floor(var.output_retention_days) == var.output_retention_days
    error_message = "output_retention_days must be a whole number of days (0 = keep forever)."
  }
}

variable "source_bucket" {
  description = "Existing bucket holding the function zips under functions/ (made with the Terraform state bucket before the first apply; see docs/deploy.md). Zips are never deleted by Terraform, so older releases stay available for a rollback."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.source_bucket))
    error_message = "source_bucket must be a bucket name (no gs:// prefix)."
  }
}

variable "source_prefix" {
  description = "Folder of the function zips inside source_bucket."
  type        = string
  default     = "functions"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.source_prefix))
    error_message = "source_prefix must be a relative object path without leading or trailing slash."
  }
}

variable "function_sources" {
  description = "Function folder => zip object name, as written by scripts/package_functions.py to dist/functions/function_sources.tfvars.json (pass it with -var-file). A rollback applies an earlier release's names."
  type        = map(string)

  validation {
    condition     = alltrue([for f, zip in var.function_sources : can(regex("^${f}-[0-9a-f]{12}\\.zip$", zip))])
    error_message = "Each function_sources value must be \"<function>-<sha256[:12]>.zip\" as scripts/package_functions.py names it."
  }
}

# ---- Firestore -----------------------------------------------------------------------
variable "create_firestore_database" {
  description = "Create the Firestore database. Set false when the project already has it (a project has one (default) database, often made by hand)."
  type        = bool
  default     = true
}

variable "firestore_database" {
  description = "Firestore database id (LR_FIRESTORE_DATABASE)."
  type        = string
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be \"(default)\" or a database id (4-63 lowercase letters, digits, hyphens)."
  }
}

variable "firestore_location" {
  description = "Firestore location (a region such as us-central1 or a multi-region such as nam5). Fixed once the database exists."
  type        = string
  default     = "nam5"
}

variable "firestore_collection_prefix" {
  description = "Prefix of the Firestore collections (LR_FIRESTORE_COLLECTION_PREFIX): runs, summary_cache."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9_]*$", var.firestore_collection_prefix))
    error_message = "firestore_collection_prefix may hold only letters, digits and underscores."
  }
}

variable "cache_ttl_days" {
  description = "Days an LLM answer stays in the summary cache (LR_LLM_CACHE_TTL_DAYS); the TTL policy on summary_cache.expires_at deletes it afterwards."
  type        = number
  default     = 30

  validation {
    condition     = var.cache_ttl_days >= 1 && floor(var.cache_ttl_days) == var.cache_ttl_days
    error_message = "cache_ttl_days must be a whole number of days, at least 1."
  }
}

# ---- Pub/Sub delivery ----------------------------------------------------------------
variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub moves it to the hop's dead-letter topic (a step that keeps failing transiently)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "sweep_schedule" {
  description = "Cron (UTC) of the Cloud Scheduler job that calls the sweep function: finishes runs whose shards are stuck past their lease (README, Operations)."
  type        = string
  default     = "*/15 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.sweep_schedule))) == 5
    error_message = "sweep_schedule must be a five-field cron expression such as \"*/15 * * * *\"."
  }
}

variable "batch_poll_schedule" {
  description = "Cron (UTC) of the Cloud Scheduler job that calls the poll_batches function: collects ended LLM provider batches (llm.batch) and re-delivers their shards (README, Operations)."
  type        = string
  default     = "*/5 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.batch_poll_schedule))) == 5
    error_message = "batch_poll_schedule must be a five-field cron expression such as \"*/5 * * * *\"."
  }
}

variable "sweep_grace_seconds" {
  description = "How long a shard may show no progress (and hold no live claim) before the sweeper fails it as stuck (LR_SWEEP_GRACE_SECONDS); above the retry backoff so a pending redelivery is not pre-empted."
  type        = number
  default     = 1800

  validation {
    condition     = var.sweep_grace_seconds >= 600 && floor(var.sweep_grace_seconds) == var.sweep_grace_seconds
    error_message = "sweep_grace_seconds must be whole seconds, at least 600 (the longest retry backoff)."
  }
}

variable "retry_minimum_backoff" {
  description = "Shortest wait before Pub/Sub redelivers a message a function failed (e.g. \"10s\")."
  type        = string
  default     = "10s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.retry_minimum_backoff)) && tonumber(trimsuffix(var.retry_minimum_backoff, "s")) <= 600
    error_message = "retry_minimum_backoff must be a duration in seconds such as \"10s\", at most \"600s\"."
  }
}

variable "retry_maximum_backoff" {
  description = "Longest wait before Pub/Sub redelivers a message a function failed (e.g. \"600s\")."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.retry_maximum_backoff)) && tonumber(trimsuffix(var.retry_maximum_backoff, "s")) <= 600
    error_message = "retry_maximum_backoff must be a duration in seconds such as \"600s\", at most \"600s\"."
  }
}

variable "dead_letter_retention" {
  description = "How long a dead-lettered message waits in its inspection subscription (<topic>-dead-letter-inspect)."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.dead_letter_retention)) && tonumber(trimsuffix(var.dead_letter_retention, "s")) >= 600 && tonumber(trimsuffix(var.dead_letter_retention, "s")) <= 2678400
    error_message = "dead_letter_retention must be between \"600s\" and \"2678400s\" (31 days)."
  }
}

# ---- functions -----------------------------------------------------------------------
variable "function_overrides" {
  description = "Per-function changes to the sizes in locals.tf, e.g. { process = { memory = \"4Gi\", max_instances = 50 } }."
  type = map(object({
    memory        = optional(string)
    cpu           = optional(string)
    timeout       = optional(number)
    concurrency   = optional(number)
    min_instances = optional(number)
    max_instances = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for f in keys(var.function_overrides) : contains(["fetch_leads", "fetch_conversations", "process", "summarize", "summarize_http", "cluster", "report", "call_webhook", "sweep", "poll_batches"], f)])
    error_message = "function_overrides keys must be functions: fetch_leads, fetch_conversations, process, summarize, summarize_http, cluster, report, call_webhook, sweep, poll_batches."
  }

  validation {
    condition     = alltrue([for o in values(var.function_overrides) : o.memory == null || can(regex("^[0-9]+(Mi|Gi)$", o.memory))])
    error_message = "memory must look like \"512Mi\" or \"2Gi\"."
  }

  validation {
    # Pub/Sub's push acknowledgement deadline is at most 600 s: a function may
    # not outlive the delivery that started it.
    condition     = alltrue([for o in values(var.function_overrides) : o.timeout == null || (o.timeout >= 60 && o.timeout <= 540)])
    error_message = "timeout must be between 60 and 540 seconds."
  }

  validation {
    condition     = alltrue([for o in values(var.function_overrides) : (o.max_instances == null || o.max_instances >= 1) && (o.min_instances == null || o.min_instances >= 0) && (o.concurrency == null || (o.concurrency >= 1 && o.concurrency <= 1000))])
    error_message = "max_instances must be >= 1, min_instances >= 0, concurrency between 1 and 1000."
  }
}

variable "python_runtime" {
  description = "Cloud Functions runtime; the zips pin packages built for this Python."
  type        = string
  default     = "python311"

  validation {
    condition     = can(regex("^python3[0-9]+$", var.python_runtime))
    error_message = "python_runtime must be a Cloud Functions Python runtime such as python311."
  }
}

variable "log_level" {
  description = "Python log level of every function (LR_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "run_starters" {
  description = "IAM members allowed to start runs with `gcloud functions call fetch-leads` (roles/run.invoker on fetch-leads), e.g. [\"group:sales-ops@example.com\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.run_starters : can(regex("^(user|group|serviceAccount|domain):", m))])
    error_message = "run_starters must be IAM members such as user:ana@example.com or group:ops@example.com."
  }
}

variable "analysis_invokers" {
  description = "IAM members allowed to call summarize-http with a Google identity (roles/run.invoker); they send the ID token in X-Serverless-Authorization and the analysis bearer token in Authorization."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.analysis_invokers : can(regex("^(user|group|serviceAccount|domain):", m))])
    error_message = "analysis_invokers must be IAM members such as serviceAccount:crm@p.iam.gserviceaccount.com."
  }
}

variable "analysis_allow_unauthenticated" {
  description = "Let anyone reach summarize-http (allUsers run.invoker), leaving the bearer tokens (LR_ANALYSIS_API_TOKENS) as its only guard. Off by default."
  type        = bool
  default     = false
}

variable "call_webhook_allow_unauthenticated" {
  description = "Let the voice-call provider reach call-webhook without a Google identity (allUsers run.invoker); it authenticates with the shared secret or HMAC signature (LR_CALL_WEBHOOK_AUTH, LR_CALL_WEBHOOK_SECRET) instead. Providers cannot send Google ID tokens, so this is on by default."
  type        = bool
  default     = true
}

# ---- BigQuery and LLM ----------------------------------------------------------------
variable "bigquery_location" {
  description = "BigQuery job location (LR_BIGQUERY_LOCATION), e.g. US; null lets BigQuery choose from the tables."
  type        = string
  default     = null
}

variable "bigquery_data_project" {
  description = "Project holding the tables the recipes' SQL reads; null means project_id."
  type        = string
  default     = null
}

variable "bigquery_datasets" {
  description = "Datasets (in bigquery_data_project) the recipes' SQL reads, e.g. [\"crm\"]: the fetch functions get bigquery.dataViewer on these only. Required: there is no project-wide fallback."
  type        = list(string)

  validation {
    condition     = length(var.bigquery_datasets) > 0 && alltrue([for d in var.bigquery_datasets : can(regex("^[A-Za-z0-9_]+$", d)) && length(d) <= 1024])
    error_message = "bigquery_datasets must list one or more dataset ids (letters, digits, underscores) that the recipes read, e.g. [\"crm\"]."
  }
}

variable "bigquery_staging_dataset" {
  description = "Dataset (in project_id, created here) of each run's staged leads and conversations scan (LR_BIGQUERY_STAGING_DATASET)."
  type        = string
  default     = "lead_recovery_staging"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.bigquery_staging_dataset)) && length(var.bigquery_staging_dataset) <= 1024
    error_message = "bigquery_staging_dataset must be a dataset id (letters, digits, underscores)."
  }
}

variable "bigquery_staging_expiration_days" {
  description = "Days a staged table lives when no report drops it (the dataset's default table expiration)."
  type        = number
  default     = 2

  validation {
    condition     = var.bigquery_staging_expiration_days >= 1 && var.bigquery_staging_expiration_days <= 30 && floor(var.bigquery_staging_expiration_days) == var.bigquery_staging_expiration_days
    error_message = "bigquery_staging_expiration_days must be a whole number of days from 1 to 30."
  }
}

variable "bigquery_maximum_bytes_billed" {
  description = "Fail any BigQuery query job that would bill more bytes than this (LR_BIGQUERY_MAXIMUM_BYTES_BILLED; a recipe's maximum_bytes_billed overrides it); null: no cap."
  type        = number
  default     = null

  validation {
    # BigQuery bills at least 10 MB per query: a lower cap would refuse every query.
    condition     = var.bigquery_maximum_bytes_billed == null ? true : var.bigquery_maximum_bytes_billed >= 10485760 && floor(var.bigquery_maximum_bytes_billed) == var.bigquery_maximum_bytes_billed
    error_message = "bigquery_maximum_bytes_billed must be whole bytes, at least 10485760 (10 MiB, BigQuery's minimum bill per query), or null."
  }
}

variable "gemini_location" {
  description = "Vertex AI region for Gemini (LR_GEMINI_LOCATION)."
  type        = string
  default     = "us-central1"
}

# ---- scheduling ----------------------------------------------------------------------
variable "recipes_dir" {
  description = "The recipes folder, relative to infra/: its */meta.yml schedules become Cloud Scheduler jobs."
  type        = string
  default     = "../recipes"
}

variable "scheduled_recipes" {
  description = "Recipes whose meta.yml `schedule` gets a Cloud Scheduler job. None by default: a deployment names the recipes it runs on a timer. The sample recipes (demo, customer_themes, stall_reasons) read sample tables or the local model and are refused."
  type        = list(string)
  default     = []

  validation {
    condition     = length(setintersection(var.scheduled_recipes, ["demo", "customer_themes", "stall_reasons"])) == 0
    error_message = "demo, customer_themes and stall_reasons are sample recipes (sample tables, the offline model): copy one under a new name to schedule it."
  }
}

variable "schedules_paused" {
  description = "Create the scheduler jobs paused (e.g. a staging project that should not run on its own)."
  type        = bool
  default     = false
}

variable "alert_notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) every alert policy notifies."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each channel is a full id: projects/PROJECT/notificationChannels/ID."
  }
}

variable "alert_email" {
  description = "An e-mail address to page (an e-mail notification channel is made for it); empty: none."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@ ]+@[^@ ]+$", var.alert_email))
    error_message = "alert_email is an e-mail address or empty."
  }
}

variable "llm_daily_cost_alert_usd" {
  description = "Page when the runs' LLM cost over 24 h (price table estimate) exceeds this many USD."
  type        = number
  default     = 50

  validation {
    condition     = var.llm_daily_cost_alert_usd > 0
    error_message = "llm_daily_cost_alert_usd must be positive."
  }
}

variable "call_retention_days" {
  description = "Days before call documents (transcripts, phone numbers) expire in Firestore (TTL policy on expires_at). The retention table: docs/privacy.md (common/retention.py)."
  type        = number
  default     = 90

  validation {
    condition     = var.call_retention_days >= 1 && floor(var.call_retention_days) == var.call_retention_days
    error_message = "call_retention_days must be a whole number of days, at least 1."
  }
}

variable "lead_outcome_retention_days" {
  description = "Days before leads' call outcomes expire in Firestore (TTL policy on expires_at). The retention table: docs/privacy.md (common/retention.py)."
  type        = number
  default     = 365

  validation {
    condition     = var.lead_outcome_retention_days >= 1 && floor(var.lead_outcome_retention_days) == var.lead_outcome_retention_days
    error_message = "lead_outcome_retention_days must be a whole number of days, at least 1."
  }
}

variable "run_retention_days" {
  description = "Days before run documents expire in Firestore (TTL policy on expires_at). The retention table: docs/privacy.md (common/retention.py)."
  type        = number
  default     = 180

  validation {
    condition     = var.run_retention_days >= 1 && floor(var.run_retention_days) == var.run_retention_days
    error_message = "run_retention_days must be a whole number of days, at least 1."
  }
}

variable "rate_budget_retention_days" {
  description = "Days before LLM rate-budget buckets expire in Firestore (TTL policy on expires_at). The retention table: docs/privacy.md (common/retention.py)."
  type        = number
  default     = 2

  validation {
    condition     = var.rate_budget_retention_days >= 1 && floor(var.rate_budget_retention_days) == var.rate_budget_retention_days
    error_message = "rate_budget_retention_days must be a whole number of days, at least 1."
  }
}

variable "results_dataset" {
  description = "Dataset (in project_id, created here) of the results tables and KPI views (LR_RESULTS_DATASET); only the report function writes it."
  type        = string
  default     = "lead_recovery_results"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.results_dataset)) && length(var.results_dataset) <= 1024
    error_message = "results_dataset must be a dataset id (letters, digits, underscores)."
  }
}
