terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.20"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds the generated database password: keep it in a private, versioned
  # bucket (docs/deploy.md creates it), given at init with -backend-config.
  backend "gcs" {
    prefix = "geocolor"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
