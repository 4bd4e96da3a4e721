# MLflow's basic-auth app guards the tracking server: every request but /health needs a
# user. Two accounts, passwords generated here and kept in Secret Manager (like the
# database password, they pass through the private state bucket):
# - admin: created by the server at first start (MLFLOW_AUTH_ADMIN_PASSWORD); people,
#   through the IAP tunnel, and training runs, which create experiments, register
#   versions and move aliases;
# - app: created by the server's startup script; reads (default_permission = READ).
# Clients get an MLflow credentials file (~/.mlflow/credentials), mounted from a secret,
# so no password sits in a client's environment.

locals {
  mlflow_users = {
    admin = { secret = "admin-password" }
    app   = { secret = "app-password" }
  }
  # whose credentials file each account's client gets: training VMs and the app
  mlflow_clients = { training = "admin", app = "app" }
}

resource "random_password" "mlflow_user" {
  for_each = local.mlflow_users
  length   = 32
  special  = false
}

resource "google_secret_manager_secret" "mlflow_password" {
  for_each  = local.mlflow_users
  secret_id = "${var.name}-mlflow-${each.value.secret}"

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "mlflow_password" {
  for_each    = local.mlflow_users
  secret      = google_secret_manager_secret.mlflow_password[each.key].id
  secret_data = random_password.mlflow_user[each.key].result
}

# The credentials files: training VMs sign in as admin, the app as app.
resource "google_secret_manager_secret" "mlflow_credentials" {
  for_each  = local.mlflow_clients
  secret_id = "${var.name}-mlflow-${each.key}-credentials"

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "mlflow_credentials" {
  for_each = local.mlflow_clients
  secret   = google_secret_manager_secret.mlflow_credentials[each.key].id
  secret_data = join("\n", [
    "[mlflow]",
    "mlflow_tracking_username = ${each.value}",
    "mlflow_tracking_password = ${random_password.mlflow_user[each.value].result}",
    "",
  ])
}
