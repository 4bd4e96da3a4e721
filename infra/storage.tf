# Prepared stores and scenes, and MLflow's artifacts (models with their normalisation).
# Both private whatever IAM says (public access prevention), one permission model
# (uniform access), and versioned so a bad overwrite or delete can be undone.

resource "google_storage_bucket" "data" {
  name                        = "${var.project_id}-${var.name}-data"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }
  # checkov:skip=CKV_GCP_62: Data Access audit logs record object access; usage logs would need a third bucket
}

resource "google_storage_bucket" "mlflow_artifacts" {
  name                        = "${var.project_id}-${var.name}-mlflow"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }
  # checkov:skip=CKV_GCP_62: Data Access audit logs record object access; usage logs would need a third bucket
}
