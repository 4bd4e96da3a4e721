# GitHub Actions authenticate through Workload Identity Federation: GitHub's OIDC token
# for this one repository is exchanged for short-lived credentials of a service
# account. No service-account key exists. The condition pins the repository's numeric
# id as well as its name: a name freed by a rename or deletion can be registered again
# by anyone, its id cannot.

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "${var.name}-github"
  display_name              = "GitHub Actions"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub ${var.github_repository}"

  attribute_mapping = {
    "google.subject"          = "assertion.sub"
    "attribute.repository"    = "assertion.repository"
    "attribute.repository_id" = "assertion.repository_id"
    "attribute.ref"           = "assertion.ref"
  }
  attribute_condition = "assertion.repository == \"${var.github_repository}\" && assertion.repository_id == \"${var.github_repository_id}\""

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
  # checkov:skip=CKV_GCP_125: the condition pins assertion.repository and assertion.repository_id; checkov accepts only an assertion.sub equality, which would admit a single ref (per-ref limits sit on the service-account bindings below)
}

locals {
  github_principals = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}"
}

# Any workflow run of the repository (main or a release tag) may push images ...
resource "google_service_account_iam_member" "build_from_github" {
  service_account_id = google_service_account.build.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.github_principals}/attribute.repository/${var.github_repository}"
}

# ... but only runs on the deploy branch may deploy the app.
resource "google_service_account_iam_member" "deploy_from_github" {
  service_account_id = google_service_account.deploy.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.github_principals}/attribute.ref/refs/heads/${var.deploy_branch}"
}
