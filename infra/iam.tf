# One service account per job, each granted what that job does and, wherever IAM
# allows, on the one resource it does it to rather than on the project.

resource "google_service_account" "build" {
  account_id   = "${var.name}-build"
  display_name = "GitHub Actions: push images"
}

resource "google_service_account" "deploy" {
  account_id   = "${var.name}-deploy"
  display_name = "GitHub Actions: deploy the app"
}

resource "google_service_account" "app" {
  account_id   = "${var.name}-app"
  display_name = "Cloud Run: the app"
}

resource "google_service_account" "mlflow" {
  account_id   = "${var.name}-mlflow"
  display_name = "MLflow tracking server"
}

resource "google_service_account" "training" {
  account_id   = "${var.name}-train"
  display_name = "GPU training VMs"
}

# build: push to the image repository.
resource "google_artifact_registry_repository_iam_member" "build_writer" {
  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# deploy: new revisions of the app service (and its invoker policy, for APP_PUBLIC),
# run as the app's identity, with Direct VPC egress (which reads the network).
resource "google_cloud_run_v2_service_iam_member" "deploy_admin" {
  name     = google_cloud_run_v2_service.app.name
  location = google_cloud_run_v2_service.app.location
  role     = "roles/run.admin"
  member   = google_service_account.deploy.member
}

resource "google_service_account_iam_member" "deploy_acts_as_app" {
  service_account_id = google_service_account.app.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deploy.member
}

resource "google_project_iam_member" "deploy_network_viewer" {
  project = var.project_id
  role    = "roles/compute.networkViewer"
  member  = google_service_account.deploy.member
}

# app: read scenes, read its Sentinel Hub and MLflow credentials.
resource "google_storage_bucket_iam_member" "app_reads_data" {
  bucket = google_storage_bucket.data.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.app.member
}

resource "google_secret_manager_secret_iam_member" "app_reads_sentinelhub" {
  for_each  = google_secret_manager_secret.sentinelhub
  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.app.member
}

resource "google_secret_manager_secret_iam_member" "app_reads_mlflow_credentials" {
  secret_id = google_secret_manager_secret.mlflow_credentials["app"].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.app.member
}

# mlflow: its database and user passwords, its artifacts, its image, its logs.
resource "google_secret_manager_secret_iam_member" "mlflow_reads_db_password" {
  secret_id = google_secret_manager_secret.mlflow_db_password.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.mlflow.member
}

resource "google_secret_manager_secret_iam_member" "mlflow_reads_user_passwords" {
  for_each  = google_secret_manager_secret.mlflow_password
  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.mlflow.member
}

resource "google_storage_bucket_iam_member" "mlflow_writes_artifacts" {
  bucket = google_storage_bucket.mlflow_artifacts.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.mlflow.member
}

resource "google_artifact_registry_repository_iam_member" "vm_pulls_images" {
  for_each = {
    mlflow   = google_service_account.mlflow.member
    training = google_service_account.training.member
  }
  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.reader"
  member     = each.value
}

resource "google_project_iam_member" "vm_writes_logs" {
  for_each = {
    mlflow   = google_service_account.mlflow.member
    training = google_service_account.training.member
  }
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = each.value
}

# training: read the prepared stores and its MLflow credentials, and delete its own VM
# when the run ends.
resource "google_secret_manager_secret_iam_member" "training_reads_mlflow_credentials" {
  secret_id = google_secret_manager_secret.mlflow_credentials["training"].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.training.member
}

resource "google_storage_bucket_iam_member" "training_reads_data" {
  bucket = google_storage_bucket.data.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.training.member
}

resource "google_project_iam_custom_role" "delete_training_vm" {
  role_id     = "geocolorDeleteTrainingVm"
  title       = "Delete a geocolor training VM"
  description = "Lets a training VM delete itself when its run ends."
  permissions = ["compute.instances.delete", "compute.instances.get", "compute.zoneOperations.get"]
}

resource "google_project_iam_member" "training_deletes_training_vms" {
  project = var.project_id
  role    = google_project_iam_custom_role.delete_training_vm.name
  member  = google_service_account.training.member

  condition {
    title      = "training VMs only"
    expression = "resource.type != \"compute.googleapis.com/Instance\" || resource.name.extract(\"/instances/{name}\").startsWith(\"${var.name}-train-\")"
  }
}

# team members: start, follow and delete training VMs (as the training identity), reach
# MLflow through IAP, manage the data bucket. Not roles/compute.instanceAdmin.v1 on the
# project, which would let them stop, reconfigure or delete the MLflow server, attach
# disks or set any VM's startup script: a custom role holds only what
# `geocolor cloud train` and the following commands in docs/deploy.md use, and its
# condition confines the instance permissions to training VMs (named like the ones the
# VMs may delete). compute.viewer lets them read the rest, e.g. the MLflow VM to tunnel to.
resource "google_project_iam_custom_role" "launch_training_vm" {
  role_id     = "geocolorLaunchTrainingVm"
  title       = "Start and delete geocolor training VMs"
  description = "Create training VMs from the training template, follow and delete them."
  permissions = [
    "compute.disks.create",
    "compute.instanceTemplates.useReadOnly",
    "compute.instances.create",
    "compute.instances.delete",
    "compute.instances.getSerialPortOutput",
    "compute.instances.setLabels",
    "compute.instances.setMetadata",
    "compute.instances.setScheduling",
    "compute.instances.setServiceAccount",
    "compute.instances.setTags",
    "compute.subnetworks.use",
  ]
}

resource "google_project_iam_member" "team_launches_training_vms" {
  for_each = toset(var.team_members)
  project  = var.project_id
  role     = google_project_iam_custom_role.launch_training_vm.name
  member   = each.value

  condition {
    title      = "training VMs only"
    expression = "resource.type != \"compute.googleapis.com/Instance\" || resource.name.extract(\"/instances/{name}\").startsWith(\"${var.name}-train-\")"
  }
}

resource "google_project_iam_member" "team" {
  for_each = {
    for pair in setproduct(var.team_members, ["roles/compute.viewer", "roles/iap.tunnelResourceAccessor"]) :
    "${pair[0]} ${pair[1]}" => { member = pair[0], role = pair[1] }
  }
  project = var.project_id
  role    = each.value.role
  member  = each.value.member
}

# ... and sign in to MLflow as its admin (docs/deploy.md).
resource "google_secret_manager_secret_iam_member" "team_reads_mlflow_admin_password" {
  for_each  = toset(var.team_members)
  secret_id = google_secret_manager_secret.mlflow_password["admin"].id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

resource "google_service_account_iam_member" "team_acts_as_training" {
  for_each           = toset(var.team_members)
  service_account_id = google_service_account.training.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

resource "google_storage_bucket_iam_member" "team_data" {
  for_each = toset(var.team_members)
  bucket   = google_storage_bucket.data.name
  role     = "roles/storage.objectAdmin"
  member   = each.value
}
