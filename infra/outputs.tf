output "mlflow_uri" {
  description = "MLflow as training VMs and the app reach it (people: an IAP tunnel, docs/deploy.md)."
  value       = local.mlflow_uri
}

output "mlflow_admin_password_secret" {
  description = "Secret Manager secret of MLflow's admin password (people sign in with it, docs/deploy.md)."
  value       = google_secret_manager_secret.mlflow_password["admin"].secret_id
}

output "mlflow_training_credentials_secret" {
  description = "Secret Manager secret of the training VMs' MLflow credentials file (GEOCOLOR_MLFLOW_CREDENTIALS_SECRET)."
  value       = google_secret_manager_secret.mlflow_credentials["training"].secret_id
}

output "data_bucket" {
  description = "Bucket of prepared stores (gs://…/stores) and scenes (gs://…/scenes)."
  value       = "gs://${google_storage_bucket.data.name}"
}

output "image_registry" {
  description = "Artifact Registry path of the train, app and mlflow images."
  value       = local.registry
}

output "training_template" {
  description = "Instance template that `geocolor cloud train` starts VMs from."
  value       = google_compute_instance_template.training.name
}

output "app_url" {
  description = "URL of the app."
  value       = google_cloud_run_v2_service.app.uri
}

output "github_variables" {
  description = "Repository variables of build-push.yml and deploy-app.yml (none is a secret)."
  value = {
    GCP_PROJECT                    = var.project_id
    GCP_REGION                     = var.region
    GCP_REPOSITORY                 = google_artifact_registry_repository.images.repository_id
    GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.github.name
    GCP_BUILD_SERVICE_ACCOUNT      = google_service_account.build.email
    GCP_DEPLOY_SERVICE_ACCOUNT     = google_service_account.deploy.email
    APP_SERVICE                    = google_cloud_run_v2_service.app.name
    APP_SERVICE_ACCOUNT            = google_service_account.app.email
    APP_NETWORK                    = google_compute_network.main.name
    APP_SUBNET                     = google_compute_subnetwork.main.name
    MLFLOW_URI                     = local.mlflow_uri
    MODEL_NAME                     = var.model_name
    MODEL_ALIAS                    = var.model_alias
    SCENES_URI                     = "gs://${google_storage_bucket.data.name}/scenes"
    SH_CLIENT_ID_SECRET            = google_secret_manager_secret.sentinelhub["client-id"].secret_id
    SH_CLIENT_SECRET_SECRET        = google_secret_manager_secret.sentinelhub["client-secret"].secret_id
    MLFLOW_CREDENTIALS_SECRET      = google_secret_manager_secret.mlflow_credentials["app"].secret_id
    APP_NETWORK_TAG                = local.app_network_tag
    APP_PUBLIC                     = tostring(var.app_public)
  }
}

output "vertex_service_account" {
  description = "Identity of Vertex AI training jobs (GEOCOLOR_VERTEX_SERVICE_ACCOUNT)."
  value       = google_service_account.vertex.email
}

output "vertex_staging" {
  description = "Folder of Vertex AI jobs' configs and outputs (GEOCOLOR_VERTEX_STAGING)."
  value       = "gs://${google_storage_bucket.data.name}/vertex"
}

output "vertex_network" {
  description = "Network Vertex AI jobs are peered into to reach MLflow (GEOCOLOR_VERTEX_NETWORK)."
  value       = "projects/${data.google_project.current.number}/global/networks/${google_compute_network.main.name}"
}

output "optuna_storage_secret" {
  description = "Secret Manager secret of the Optuna storage URL `geocolor cloud tune` workers share (GEOCOLOR_OPTUNA_STORAGE_SECRET)."
  value       = google_secret_manager_secret.optuna_storage.id
}
