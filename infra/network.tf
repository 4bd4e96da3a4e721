# One private network: no VM has a public address. Cloud SQL sits on a peered range,
# Google APIs are reached through Private Google Access, the rest of the internet
# (apt, PyPI) through Cloud NAT, and people reach MLflow only through IAP.

resource "google_compute_network" "main" {
  name                    = var.name
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "main" {
  name                     = var.name
  region                   = var.region
  network                  = google_compute_network.main.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_global_address" "private_services" {
  name          = "${var.name}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.main.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

resource "google_compute_router" "main" {
  name    = var.name
  region  = var.region
  network = google_compute_network.main.id
}

resource "google_compute_router_nat" "main" {
  name                               = var.name
  router                             = google_compute_router.main.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# Google's IAP range: `gcloud compute start-iap-tunnel` and `gcloud compute ssh
# --tunnel-through-iap`, each checked against roles/iap.tunnelResourceAccessor.
resource "google_compute_firewall" "iap" {
  name          = "${var.name}-allow-iap"
  network       = google_compute_network.main.id
  direction     = "INGRESS"
  source_ranges = ["35.235.240.0/20"]
  target_tags   = ["mlflow", "geocolor-train"]

  allow {
    protocol = "tcp"
    ports    = ["22", "5000"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# MLflow's port is open to its two clients only, not to the whole subnet (the app's
# Direct VPC egress shares it with every VM): training VMs, known by the service account
# they run as (which only team members may attach), and the app, known by the network
# tag of its VPC egress (app.tf, deploy-app.yml). Both still sign in (mlflow_auth.tf).
resource "google_compute_firewall" "mlflow_from_training" {
  name                    = "${var.name}-allow-mlflow-from-training"
  network                 = google_compute_network.main.id
  direction               = "INGRESS"
  source_service_accounts = [google_service_account.training.email]
  target_service_accounts = [google_service_account.mlflow.email]

  allow {
    protocol = "tcp"
    ports    = ["5000"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "mlflow_from_app" {
  name        = "${var.name}-allow-mlflow-from-app"
  network     = google_compute_network.main.id
  direction   = "INGRESS"
  source_tags = [local.app_network_tag]
  target_tags = ["mlflow"]

  allow {
    protocol = "tcp"
    ports    = ["5000"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
