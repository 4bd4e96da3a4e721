variable "project_id" {
  description = "Google Cloud project that holds the whole deployment."
  type        = string
}

variable "region" {
  description = "Region of the buckets, database, registry, Cloud Run and subnet."
  type        = string
  default     = "europe-west4"
}

variable "zone" {
  description = "Zone of the MLflow VM; training VMs go to any zone of the region with the GPU."
  type        = string
  default     = "europe-west4-a"
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "geocolor"
}

variable "github_repository" {
  description = "The only GitHub repository (OWNER/NAME) whose workflows may act on this project."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be OWNER/NAME."
  }
}

variable "github_repository_id" {
  description = "Numeric id of github_repository (`gh api repos/OWNER/NAME --jq .id`): unlike the name, it cannot be re-registered by someone else."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.github_repository_id))
    error_message = "github_repository_id must be the repository's numeric id."
  }
}

variable "deploy_branch" {
  description = "The branch whose workflows may deploy the app."
  type        = string
  default     = "main"
}

variable "team_members" {
  description = "Principals (group:…, user:…) who start training VMs, use MLflow through IAP as its admin, and use the app."
  type        = list(string)
  default     = []
}

variable "subnet_cidr" {
  description = "Range of the subnet of the VMs and of the app's VPC egress."
  type        = string
  default     = "10.20.0.0/20"
}

variable "deletion_protection" {
  description = "Protect the database and the app from terraform destroy."
  type        = bool
  default     = true
}

variable "db_tier" {
  description = "Cloud SQL machine tier of the MLflow database."
  type        = string
  default     = "db-custom-1-3840"
}

variable "mlflow_image_tag" {
  description = "Tag of the MLflow server image (a commit SHA); empty until build-push has pushed one, so no server yet."
  type        = string
  default     = ""
}

variable "mlflow_machine_type" {
  description = "Machine type of the MLflow server VM."
  type        = string
  default     = "e2-medium"
}

variable "app_public" {
  description = "Let anyone on the internet open the app (allUsers may invoke it); otherwise only team_members."
  type        = bool
  default     = false
}

variable "app_image" {
  description = "Image of the app's first revision; deploy-app.yml deploys the real ones."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "model_name" {
  description = "Registered MLflow model the app serves."
  type        = string
  default     = "geocolor"
}

variable "model_alias" {
  description = "Alias of the model version the app serves."
  type        = string
  default     = "production"
}

variable "training_machine_type" {
  description = "Machine type of training VMs (g2-* for L4 GPUs)."
  type        = string
  default     = "g2-standard-8"
}

variable "training_gpu_type" {
  description = "GPU type of training VMs."
  type        = string
  default     = "nvidia-l4"
}

variable "training_gpu_count" {
  description = "GPUs per training VM."
  type        = number
  default     = 1
}

variable "training_boot_image" {
  description = "Boot image of training VMs: NVIDIA driver >= 580 (CUDA 13), Docker with the NVIDIA runtime, gcloud."
  type        = string
  default     = "projects/deeplearning-platform-release/global/images/family/common-cu129-ubuntu-2204-nvidia-580"
}

variable "training_disk_gb" {
  description = "Boot disk of training VMs (the training image is about 10 GB)."
  type        = number
  default     = 200
}
