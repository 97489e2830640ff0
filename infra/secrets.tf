# Secret Manager: the containers and a placeholder first version. Real values
# never pass through Terraform (or its state): add them with
#   gcloud secrets versions add <name> --data-file=-
# Functions read version "latest": new instances pick up a new value.
resource "google_secret_manager_secret" "secret" {
  for_each = module.chain.secrets

  project   = var.project_id
  secret_id = "${var.name_prefix}${each.key}"

  labels = {
    consumer = join("-", [for f in each.value.functions : replace(f, "_", "-")])
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "placeholder" {
  for_each = module.chain.secrets

  secret      = google_secret_manager_secret.secret[each.key].id
  secret_data = each.value.placeholder

  lifecycle {
    # Real versions are added outside Terraform and become "latest"; this one
    # only makes the first deployment possible.
    ignore_changes = [secret_data, enabled]
  }
}
