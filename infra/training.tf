# Template of the GPU training VMs that `geocolor cloud train` creates one run at a
# time; each VM deletes itself when its run ends (geocolor/train/gce_vm.py).
resource "google_compute_instance_template" "training" {
  name         = "${var.name}-train"
  machine_type = var.training_machine_type
  tags         = ["geocolor-train"]

  labels = {
    geocolor-job = "train"
  }

  disk {
    source_image = var.training_boot_image
    disk_size_gb = var.training_disk_gb
    disk_type    = "pd-balanced"
    boot         = true
    auto_delete  = true
  }

  guest_accelerator {
    type  = var.training_gpu_type
    count = var.training_gpu_count
  }

  # GPUs cannot live-migrate: a VM stops for host maintenance, and is not restarted
  # behind the back of its startup script.
  scheduling {
    on_host_maintenance = "TERMINATE"
    automatic_restart   = false
    provisioning_model  = "STANDARD"
  }

  network_interface {
    subnetwork = google_compute_subnetwork.main.id
  }

  service_account {
    email  = google_service_account.training.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = false
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    block-project-ssh-keys = true
    enable-oslogin         = "TRUE"
    install-nvidia-driver  = "True"
  }

  # checkov:skip=CKV_GCP_39: Secure Boot refuses the image's NVIDIA kernel module, which is not signed with a key it trusts
  # checkov:skip=CKV_GCP_38: boot disk holds only the image and scratch checkpoints; Google-managed encryption
}
