# Training as Vertex AI CustomJobs (`geocolor cloud train --platform vertex`): the
# managed alternative to the self-deleting VMs of training.tf. A job runs as its own
# service account, reads the data bucket and the training MLflow credentials, and is
# peered into the network through the private services range Cloud SQL already uses, so
# it reaches MLflow's private address like a training VM.

resource "google_project_service" "aiplatform" {
  project            = var.project_id
  service            = "aiplatform.googleapis.com"
  disable_on_destroy = false
}

data "google_project" "current" {
  project_id = var.project_id
}

locals {
  # Vertex AI's Custom Code Service Agent pulls the job's image
  vertex_code_agent = "serviceAccount:service-${data.google_project.current.number}@gcp-sa-aiplatform-cc.iam.gserviceaccount.com"
}

resource "google_service_account" "vertex" {
  account_id   = "${var.name}-vertex"
  display_name = "Vertex AI training jobs"
}

resource "google_storage_bucket_iam_member" "vertex_reads_data" {
  bucket = google_storage_bucket.data.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.vertex.member
}

resource "google_secret_manager_secret_iam_member" "vertex_reads_mlflow_credentials" {
  secret_id = google_secret_manager_secret.mlflow_credentials["training"].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.vertex.member
}

resource "google_artifact_registry_repository_iam_member" "vertex_pulls_images" {
  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.reader"
  member     = local.vertex_code_agent

  depends_on = [google_project_service.aiplatform]
}

# Peered jobs come from the private services range; they still sign in (mlflow_auth.tf).
resource "google_compute_firewall" "mlflow_from_vertex" {
  name                    = "${var.name}-allow-mlflow-from-vertex"
  network                 = google_compute_network.main.id
  direction               = "INGRESS"
  source_ranges           = ["${google_compute_global_address.private_services.address}/${google_compute_global_address.private_services.prefix_length}"]
  target_service_accounts = [google_service_account.mlflow.email]

  allow {
    protocol = "tcp"
    ports    = ["5000"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# team members: submit, follow and cancel jobs, run as the Vertex identity only.
resource "google_project_iam_custom_role" "vertex_training" {
  role_id     = "geocolorVertexTraining"
  title       = "Run geocolor training on Vertex AI"
  description = "Submit, follow and cancel Vertex AI custom jobs."
  permissions = [
    "aiplatform.customJobs.cancel",
    "aiplatform.customJobs.create",
    "aiplatform.customJobs.get",
    "aiplatform.customJobs.list",
  ]
}

resource "google_project_iam_member" "team_runs_vertex_training" {
  for_each = toset(var.team_members)
  project  = var.project_id
  role     = google_project_iam_custom_role.vertex_training.name
  member   = each.value
}

resource "google_service_account_iam_member" "team_acts_as_vertex" {
  for_each           = toset(var.team_members)
  service_account_id = google_service_account.vertex.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

# `geocolor cloud tune`: the workers of a study share an Optuna storage, a database of
# its own on the MLflow Cloud SQL instance (private address, TLS only). Its URL, password
# included, is a secret the Vertex jobs read themselves (GEOCOLOR_OPTUNA_STORAGE_SECRET).
resource "random_password" "optuna_db" {
  length  = 32
  special = false
}

resource "google_sql_database" "optuna" {
  name     = "optuna"
  instance = google_sql_database_instance.mlflow.name
}

resource "google_sql_user" "optuna" {
  name     = "optuna"
  instance = google_sql_database_instance.mlflow.name
  password = random_password.optuna_db.result
}

resource "google_secret_manager_secret" "optuna_storage" {
  secret_id = "${var.name}-optuna-storage"

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "optuna_storage" {
  secret      = google_secret_manager_secret.optuna_storage.id
  secret_data = "postgresql+psycopg2://optuna:${random_password.optuna_db.result}@${google_sql_database_instance.mlflow.private_ip_address}:5432/optuna?sslmode=require"
}

resource "google_secret_manager_secret_iam_member" "vertex_reads_optuna_storage" {
  secret_id = google_secret_manager_secret.optuna_storage.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.vertex.member
}
