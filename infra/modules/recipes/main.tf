# Reads every recipe's meta.yml and returns the Cloud Scheduler schedules they ask for.
#
# Terraform reads the YAML itself (yamldecode over fileset) instead of a file a
# script generates: the recipes stay the single source of truth, adding a
# `schedule:` to a meta.yml is enough to get its job on the next apply, and no
# generated file can go stale. The module uses no provider, so the tests
# evaluate it offline with the real terraform binary (tests/infra).
# The YAML itself is validated by the recipe loader (`lead-recovery recipes
# validate`, run by the tests), which checks the cron and the time zone.

variable "recipes_dir" {
  description = "Folder holding one folder per recipe, each with a meta.yml (the repository's recipes/)."
  type        = string

  validation {
    condition     = length(fileset(var.recipes_dir, "*/meta.yml")) > 0
    error_message = "No */meta.yml under recipes_dir: point it at the repository's recipes/ folder."
  }
}

locals {
  metas = {
    for path in fileset(var.recipes_dir, "*/meta.yml") :
    dirname(path) => yamldecode(file("${var.recipes_dir}/${path}"))
  }

  # `timezone` defaults to UTC, as in the recipe model (common/recipe/model.py).
  schedules = {
    for name, meta in local.metas :
    name => {
      cron      = meta.schedule.cron
      time_zone = try(meta.schedule.timezone, "UTC")
    }
    if try(meta.schedule, null) != null
  }
}

output "recipes" {
  description = "Every recipe name (folder of recipes_dir with a meta.yml), sorted."
  value       = sort(keys(local.metas))
}

output "schedules" {
  description = "Recipe name => {cron, time_zone} for each recipe whose meta.yml has a schedule."
  value       = local.schedules
}
