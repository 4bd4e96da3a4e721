# The three images (train, app, mlflow), tagged by build-push.yml with the commit SHA
# and the release tag.
resource "google_artifact_registry_repository" "images" {
  repository_id = var.name
  location      = var.region
  format        = "DOCKER"
  description   = "geocolor training, app and MLflow images"

  cleanup_policies {
    id     = "drop-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }
  # checkov:skip=CKV_GCP_84: images are built from public sources; Google-managed encryption, no KMS key to run
}

locals {
  registry_host = "${var.region}-docker.pkg.dev"
  registry      = "${local.registry_host}/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}
