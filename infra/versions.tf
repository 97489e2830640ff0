terraform {
  # optional() object attributes and `check` blocks; tested with 1.11.
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # Pinned exactly: a provider upgrade is a reviewed change of this line
      # (and of .terraform.lock.hcl once `terraform init` has written it).
      version = "6.14.1"
    }
    # Only for google_project_service_identity (apis.tf), which the GA provider lacks.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "6.14.1"
    }
  }

  # State lives in a bucket made before the first apply (see docs/deploy.md);
  # `terraform init -backend-config=bucket=<state bucket>` names it.
  backend "gcs" {
    prefix = "lead-recovery/terraform"
  }
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app        = "lead-recovery"
    managed-by = "terraform"
  }
}
