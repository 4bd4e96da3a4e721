# The app on Cloud Run. Terraform makes the service (identity, network, probes, first
# revision); deploy-app.yml deploys each new image with its settings and secrets, so
# those are left to it here. Private unless app_public: callers need run.invoker.
# Secrets reach the app as files from Secret Manager volumes (deploy-app.yml), never as
# environment variables, which a process that can read files reads in /proc/self/environ.

locals {
  # the network tag of the app's VPC egress: MLflow's firewall lets it in (network.tf)
  app_network_tag = "${var.name}-app"
}

resource "google_cloud_run_v2_service" "app" {
  name                = "${var.name}-app"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account = google_service_account.app.email

    scaling {
      min_instance_count = 0
      max_instance_count = 4
    }

    vpc_access {
      egress = "PRIVATE_RANGES_ONLY"
      network_interfaces {
        network    = google_compute_network.main.id
        subnetwork = google_compute_subnetwork.main.id
        tags       = [local.app_network_tag]
      }
    }

    containers {
      image = var.app_image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "2"
          memory = "4Gi"
        }
      }

      env {
        name  = "GEOCOLOR_MLFLOW_URI"
        value = local.mlflow_uri
      }
      env {
        name  = "GEOCOLOR_MODEL_NAME"
        value = var.model_name
      }
      env {
        name  = "GEOCOLOR_MODEL_ALIAS"
        value = var.model_alias
      }
      env {
        name  = "GEOCOLOR_SCENES"
        value = "gs://${google_storage_bucket.data.name}/scenes"
      }
      # Cloud Run's /tmp is memory counted against the 4 GiB limit: keep the app's
      # scratch (uploads and results) well under it. One HTTP/1 request is at most
      # 32 MiB there, so larger uploads could never arrive; scenes come from the bucket.
      env {
        name  = "GEOCOLOR_MAX_WORKDIR_MB"
        value = "1024"
      }
      env {
        name  = "GEOCOLOR_MAX_UPLOAD_MB"
        value = "32"
      }

      startup_probe {
        http_get {
          path = "/_stcore/health"
        }
        period_seconds    = 5
        failure_threshold = 24
      }

      liveness_probe {
        http_get {
          path = "/_stcore/health"
        }
        period_seconds = 30
      }
    }
  }

  lifecycle {
    ignore_changes = [
      client,
      client_version,
      template[0].labels,
      template[0].containers[0].image,
      template[0].containers[0].env,
      template[0].containers[0].volume_mounts,
      template[0].volumes,
    ]
  }
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.app_public ? 1 : 0

  name     = google_cloud_run_v2_service.app.name
  location = google_cloud_run_v2_service.app.location
  role     = "roles/run.invoker"
  member   = "allUsers"
  # checkov:skip=CKV_GCP_102: created only when var.app_public is set on purpose
}

resource "google_cloud_run_v2_service_iam_member" "team" {
  for_each = toset(var.team_members)

  name     = google_cloud_run_v2_service.app.name
  location = google_cloud_run_v2_service.app.location
  role     = "roles/run.invoker"
  member   = each.value
}

# Sentinel Hub credentials of the app: empty secrets here, values added by hand
# (docs/deploy.md) so they never pass through Terraform state or GitHub.
resource "google_secret_manager_secret" "sentinelhub" {
  for_each  = toset(["client-id", "client-secret"])
  secret_id = "${var.name}-sh-${each.key}"

  replication {
    auto {}
  }
}
