# The production deployment's variables, versioned: Cloud Build applies this file
# as it is (cloudbuild.yaml: -var-file=environments/${_ENV}.tfvars, no -var flags),
# and a manual apply uses the same file, so neither undoes the other:
#
#   terraform apply -var-file=environments/prod.tfvars \
#     -var-file=../dist/functions/function_sources.tfvars.json
#
# Change a setting here, in a reviewed commit; another environment is another
# file (environments/staging.tfvars, built with _ENV=staging). Every variable
# is documented in variables.tf; those not set here keep their defaults.
# The values below are placeholders: replace them with your project's.

project_id    = "my-project"
region        = "us-central1"
name_prefix   = ""
bucket_name   = "my-project-lead-recovery"
source_bucket = "my-project-lr-deploy" # = Cloud Build's _STATE_BUCKET (state and function zips)

# Who may start runs by hand, and the datasets the recipes' SQL reads.
run_starters      = ["group:sales-ops@example.com"]
bigquery_datasets = ["crm"]

# Recipes run on their meta.yml `schedule` (none by default; never the samples).
scheduled_recipes = []
schedules_paused  = false

# Paging (docs/deploy.md "What you get paged for").
alert_email                 = "oncall@example.com"
alert_notification_channels = []
llm_daily_cost_alert_usd    = 50
