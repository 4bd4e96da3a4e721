# The team's MLflow tracking server: a small VM on a fixed private address, running
# the MLflow image against the Cloud SQL database, with artifacts proxied to the
# artifacts bucket, behind MLflow's basic-auth app (mlflow_auth.tf). Training VMs and
# the app reach it inside the network (firewall rules in network.tf); people through an
# IAP tunnel (docs/deploy.md). No server exists until mlflow_image_tag
# names an image that build-push.yml has pushed.

resource "google_compute_address" "mlflow" {
  name         = "${var.name}-mlflow"
  region       = var.region
  subnetwork   = google_compute_subnetwork.main.id
  address_type = "INTERNAL"
}

locals {
  mlflow_uri = "http://${google_compute_address.mlflow.address}:5000"
  mlflow_startup = templatefile("${path.module}/mlflow-startup.sh.tftpl", {
    project       = var.project_id
    registry_host = local.registry_host
    image         = "${local.registry}/mlflow:${var.mlflow_image_tag}"
    secret        = google_secret_manager_secret.mlflow_db_password.secret_id
    admin_secret  = google_secret_manager_secret.mlflow_password["admin"].secret_id
    app_secret    = google_secret_manager_secret.mlflow_password["app"].secret_id
    database_host = google_sql_database_instance.mlflow.private_ip_address
    database      = google_sql_database.mlflow.name
    user          = google_sql_user.mlflow.name
    artifacts     = "gs://${google_storage_bucket.mlflow_artifacts.name}/artifacts"
  })
}

resource "google_compute_instance" "mlflow" {
  count = var.mlflow_image_tag == "" ? 0 : 1

  name                      = "${var.name}-mlflow"
  zone                      = var.zone
  machine_type              = var.mlflow_machine_type
  tags                      = ["mlflow"] # the IAP and app firewall rules (network.tf)
  allow_stopping_for_update = true

  boot_disk {
    initialize_params {
      image = "debian-cloud/debian-12"
      size  = 20
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.main.id
    network_ip = google_compute_address.mlflow.address
  }

  service_account {
    email  = google_service_account.mlflow.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    block-project-ssh-keys = true
    enable-oslogin         = "TRUE"
    startup-script         = local.mlflow_startup
  }

  depends_on = [
    google_secret_manager_secret_version.mlflow_db_password,
    google_secret_manager_secret_version.mlflow_password,
  ]
  # checkov:skip=CKV_GCP_38: boot disk holds no data (the database and artifacts live elsewhere); Google-managed encryption
}
