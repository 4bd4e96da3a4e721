"""The Terraform of the GCP deployment: formatted, checkov-clean, and its security
properties asserted on the parsed HCL (no provider can be downloaded here)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from geocolor.train.gce_vm import DEFAULT_TEMPLATE, default_instance_name
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL", re.IGNORECASE)
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(?P<check>[A-Z0-9_]+)(?::\s*(?P<reason>.*))?")


def _parse(text: str) -> dict[str, Any]:
    """HCL as a dict with unquoted strings and no markers, whichever hcl2 is installed."""
    options = getattr(hcl2, "SerializationOptions", None)
    if options is None:
        data = hcl2.loads(text)
    else:  # python-hcl2 >= 8 keeps quotes and marks blocks unless told otherwise
        compact = options(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
        data = hcl2.loads(text, serialization_options=compact)
    assert isinstance(data, dict)
    return data


# Some hcl2 builds (checkov's fork) wrap every attribute value in a one-item list.
WRAPPED = _parse("probe = 1\n")["probe"] == [1]


def value(body: dict[str, Any], key: str) -> Any:
    """An attribute's value."""
    found = body[key]
    return found[0] if WRAPPED else found


def blocks(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The nested blocks named ``key`` (none: an empty list)."""
    found = body.get(key, [])
    assert isinstance(found, list)
    return found


def is_true(attribute: Any) -> bool:
    return attribute is True or attribute == "true"


@pytest.fixture(scope="module")
def config() -> dict[str, dict[str, dict[str, Any]]]:
    """Every top-level block of infra/*.tf: {kind: {name: body}}, resources as 'resource'."""
    merged: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(INFRA.glob("*.tf")):
        data = _parse(path.read_text(encoding="utf-8"))
        for kind in ("resource", "data"):
            for entry in data.get(kind, []):
                for resource_type, named in entry.items():
                    for name, body in named.items():
                        merged.setdefault(kind, {})[f"{resource_type}.{name}"] = body
        for kind in ("variable", "output", "locals"):
            for entry in data.get(kind, []):
                for name, body in entry.items():
                    merged.setdefault(kind, {})[name] = body
    return merged


def resources(config: dict[str, Any], resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for address, body in config["resource"].items():
        if address.split(".")[0] == resource_type:
            yield address, body


def default(config: dict[str, Any], variable: str) -> Any:
    return value(config["variable"][variable], "default")


# --- tools ------------------------------------------------------------------------------


def test_terraform_fmt_check() -> None:
    terraform = require_tool("terraform")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def checkov_report() -> tuple[int, str, float]:
    """One checkov run over infra/, docker/ and the workflows (it takes seconds)."""
    own_venv = ROOT / ".venv" / "checkov" / "bin" / "checkov"  # checkov's deps clash with ours
    checkov = require_tool(str(own_venv) if own_venv.is_file() else "checkov")
    started = time.perf_counter()
    result = subprocess.run(
        [
            checkov,
            *("--directory", str(INFRA), "--directory", str(ROOT / "docker")),
            *("--directory", str(ROOT / ".github")),
            *("--framework", "terraform", "dockerfile", "github_actions"),
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        check=False,
        # offline: no policy metadata download, no telemetry
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    return result.returncode, result.stdout + result.stderr, time.perf_counter() - started


def test_checkov_passes_on_terraform_dockerfiles_and_workflows(
    checkov_report: tuple[int, str, float],
) -> None:
    returncode, output, _ = checkov_report
    assert returncode == 0, output
    assert "terraform scan results" in output
    assert "dockerfile scan results" in output
    assert "github_actions scan results" in output
    assert "Failed checks: 0" in output


def test_every_skipped_check_says_why() -> None:
    files = [
        *INFRA.glob("*.tf"),
        *(ROOT / "docker").glob("Dockerfile.*"),
        *(ROOT / ".github" / "workflows").glob("*.yml"),
    ]
    skips = [
        match for path in files for match in SKIP_COMMENT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert skips
    for skip in skips:
        assert skip["reason"] and len(skip["reason"].split()) >= 5, skip.group(0)


# --- storage ----------------------------------------------------------------------------


def test_buckets_are_uniform_versioned_and_never_public(config: dict[str, Any]) -> None:
    buckets = dict(resources(config, "google_storage_bucket"))
    assert set(buckets) == {
        "google_storage_bucket.data",
        "google_storage_bucket.mlflow_artifacts",
    }
    for address, bucket in buckets.items():
        assert is_true(value(bucket, "uniform_bucket_level_access")), address
        assert value(bucket, "public_access_prevention") == "enforced", address
        assert [is_true(value(v, "enabled")) for v in blocks(bucket, "versioning")] == [True]


# --- database ---------------------------------------------------------------------------


def test_cloud_sql_has_a_private_address_only(config: dict[str, Any]) -> None:
    (_, instance), *others = resources(config, "google_sql_database_instance")
    assert not others
    assert value(instance, "database_version").startswith("POSTGRES_")
    (settings,) = blocks(instance, "settings")
    (network,) = blocks(settings, "ip_configuration")
    assert value(network, "ipv4_enabled") is False or value(network, "ipv4_enabled") == "false"
    assert value(network, "private_network") == "${google_compute_network.main.id}"
    assert not blocks(network, "authorized_networks")


def test_database_password_is_generated_and_kept_in_secret_manager(
    config: dict[str, Any],
) -> None:
    generated = "${random_password.mlflow_db.result}"
    (_, user), *_ = resources(config, "google_sql_user")
    assert value(user, "password") == generated
    versions = dict(resources(config, "google_secret_manager_secret_version"))
    stored = versions["google_secret_manager_secret_version.mlflow_db_password"]
    assert value(stored, "secret_data") == generated


def test_mlflow_server_reads_the_password_from_secret_manager_and_stores_artifacts_in_gcs(
    config: dict[str, Any],
) -> None:
    script = (INFRA / "mlflow-startup.sh.tftpl").read_text(encoding="utf-8")
    assert "gcloud secrets versions access latest --secret=${secret}" in script
    assert "--artifacts-destination=${artifacts}" in script
    assert not re.search(r"://[^/\s@]*:[^/\s@]*@", script), "a password in the backend URI"
    (locals_,) = [config["locals"][name] for name in config["locals"] if name == "mlflow_uri"]
    assert locals_ is not None
    source = (INFRA / "mlflow.tf").read_text(encoding="utf-8")
    assert re.search(r'artifacts\s*=\s*"gs://\$\{google_storage_bucket\.mlflow_artifacts', source)


# --- identity ---------------------------------------------------------------------------


def test_workload_identity_is_restricted_to_the_repository(config: dict[str, Any]) -> None:
    (_, provider), *others = resources(config, "google_iam_workload_identity_pool_provider")
    assert not others
    (oidc,) = blocks(provider, "oidc")
    assert value(oidc, "issuer_uri") == "https://token.actions.githubusercontent.com"
    condition = value(provider, "attribute_condition")
    assert re.fullmatch(
        r'assertion\.repository == \\?"\$\{var\.github_repository\}\\?"'
        r' && assertion\.repository_id == \\?"\$\{var\.github_repository_id\}\\?"',
        condition,
    ), condition
    assert "validation" in config["variable"]["github_repository"]
    assert "validation" in config["variable"]["github_repository_id"]
    assert not list(resources(config, "google_service_account_key")), "no keys, ever"
    members = {
        address: value(body, "member")
        for address, body in resources(config, "google_service_account_iam_member")
        if value(body, "role") == "roles/iam.workloadIdentityUser"
    }
    assert members == {
        "google_service_account_iam_member.build_from_github": (
            "${local.github_principals}/attribute.repository/${var.github_repository}"
        ),
        "google_service_account_iam_member.deploy_from_github": (
            "${local.github_principals}/attribute.ref/refs/heads/${var.deploy_branch}"
        ),
    }


def iam_grants(config: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(address, role, member) of every IAM grant in the configuration."""
    for address, body in config["resource"].items():
        if "iam" in address.split(".")[0] and "role" in body and "member" in body:
            yield address, str(value(body, "role")), str(value(body, "member"))


def test_no_service_account_is_owner_or_editor(config: dict[str, Any]) -> None:
    grants = list(iam_grants(config))
    assert len(grants) > 10
    for address, role, _ in grants:
        assert role not in {"roles/owner", "roles/editor"}, address
        assert not role.endswith(".admin") or address.startswith(
            "google_cloud_run_v2_service_iam_member."
        ), f"{address}: {role} beyond one service"


def test_service_accounts_get_few_project_wide_roles(config: dict[str, Any]) -> None:
    project_roles = {
        role
        for address, role, _ in iam_grants(config)
        if address.startswith("google_project_iam_member.")
        and not address.startswith("google_project_iam_member.team")  # people: see below
    }
    assert project_roles == {
        "roles/logging.logWriter",
        "roles/compute.networkViewer",
        "${google_project_iam_custom_role.delete_training_vm.name}",
    }
    custom = config["resource"]["google_project_iam_custom_role.delete_training_vm"]
    assert sorted(value(custom, "permissions")) == [
        "compute.instances.delete",
        "compute.instances.get",
        "compute.zoneOperations.get",
    ]


def test_vertex_jobs_and_their_submitters_get_only_what_training_needs(
    config: dict[str, Any],
) -> None:
    resources_ = config["resource"]
    assert value(resources_["google_project_service.aiplatform"], "service") == (
        "aiplatform.googleapis.com"
    )
    vertex_grants = {
        (address, role)
        for address, role, member in iam_grants(config)
        if member == "${google_service_account.vertex.member}"
    }
    assert {role for _, role in vertex_grants} == {
        "roles/storage.objectViewer",
        "roles/secretmanager.secretAccessor",
    }
    custom = resources_["google_project_iam_custom_role.vertex_training"]
    assert all(
        permission.startswith("aiplatform.customJobs.")
        for permission in value(custom, "permissions")
    )
    agent = resources_["google_artifact_registry_repository_iam_member.vertex_pulls_images"]
    assert value(agent, "role") == "roles/artifactregistry.reader"
    assert value(agent, "member") == "${local.vertex_code_agent}"


def test_training_vms_may_delete_only_training_vms(config: dict[str, Any]) -> None:
    grant = config["resource"]["google_project_iam_member.training_deletes_training_vms"]
    (condition,) = blocks(grant, "condition")
    expression = value(condition, "expression")
    assert 'startsWith(\\"${var.name}-train-\\")' in expression or (
        'startsWith("${var.name}-train-")' in expression
    )
    name = default(config, "name")
    assert default_instance_name(datetime.now(UTC)).startswith(f"{name}-train-")


# --- compute ----------------------------------------------------------------------------


def test_gpu_template_stops_for_maintenance_and_has_no_public_address(
    config: dict[str, Any],
) -> None:
    template = config["resource"]["google_compute_instance_template.training"]
    assert value(template, "name") == "${var.name}-train"
    (gpu,) = blocks(template, "guest_accelerator")
    assert value(gpu, "type") == "${var.training_gpu_type}"
    assert value(gpu, "count") == "${var.training_gpu_count}"
    assert default(config, "training_gpu_count") >= 1
    (scheduling,) = blocks(template, "scheduling")
    assert value(scheduling, "on_host_maintenance") == "TERMINATE"
    for address, body in [
        *resources(config, "google_compute_instance_template"),
        *resources(config, "google_compute_instance"),
    ]:
        for interface in blocks(body, "network_interface"):
            assert not blocks(interface, "access_config"), f"{address} has a public address"


def test_cli_default_template_is_the_one_terraform_makes(config: dict[str, Any]) -> None:
    assert f"{default(config, 'name')}-train" == DEFAULT_TEMPLATE


# --- app --------------------------------------------------------------------------------


def test_app_is_private_unless_the_variable_says_public(config: dict[str, Any]) -> None:
    assert default(config, "app_public") is False or default(config, "app_public") == "false"
    public = [
        (address, body)
        for address, body in config["resource"].items()
        if "member" in body and value(body, "member") in {"allUsers", "allAuthenticatedUsers"}
    ]
    assert [address for address, _ in public] == ["google_cloud_run_v2_service_iam_member.public"]
    assert value(public[0][1], "count") == "${var.app_public ? 1 : 0}"


def test_app_probes_streamlits_health_endpoint(config: dict[str, Any]) -> None:
    service = config["resource"]["google_cloud_run_v2_service.app"]
    (template,) = blocks(service, "template")
    (container,) = blocks(template, "containers")
    for probe in ("startup_probe", "liveness_probe"):
        (check,) = blocks(container, probe)
        (http,) = blocks(check, "http_get")
        assert value(http, "path") == "/_stcore/health"


def test_outputs_give_every_variable_the_workflows_read(config: dict[str, Any]) -> None:
    used = set()
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        used |= set(re.findall(r"vars\.([A-Z_]+)", workflow.read_text(encoding="utf-8")))
    output = value(config["output"]["github_variables"], "value")
    assert set(output) == used


def test_tfvars_example_sets_only_declared_variables(config: dict[str, Any]) -> None:
    example = _parse((INFRA / "terraform.tfvars.example").read_text(encoding="utf-8"))
    assert set(example) <= set(config["variable"])
    required = {name for name, body in config["variable"].items() if "default" not in body}
    assert required <= set(example)


def test_compose_and_cloud_use_the_same_mlflow_image() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    assert compose["services"]["mlflow"]["build"]["dockerfile"] == "docker/Dockerfile.mlflow"
    source = (INFRA / "mlflow.tf").read_text(encoding="utf-8")
    assert '"${local.registry}/mlflow:${var.mlflow_image_tag}"' in source


def test_deploy_guide_reads_only_outputs_that_exist(config: dict[str, Any]) -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    read = set(re.findall(r"terraform output (?:-raw |-json )?(\w+)", guide))
    assert read
    assert read <= set(config["output"])


# --- hardening: who may reach MLflow, who may touch VMs, how secrets travel --------------


def test_mlflow_runs_the_basic_auth_app_with_passwords_from_secret_manager(
    config: dict[str, Any],
) -> None:
    script = (INFRA / "mlflow-startup.sh.tftpl").read_text(encoding="utf-8")
    assert "server --app-name basic-auth" in script
    assert "default_permission = READ" in script
    for secret in ("${admin_secret}", "${app_secret}"):
        assert f"gcloud secrets versions access latest --secret={secret}" in script
    assert "--env MLFLOW_AUTH_ADMIN_PASSWORD" in script, "by name: the value stays off argv"
    assert "MLFLOW_AUTH_CONFIG_PATH=/etc/mlflow/basic_auth.ini" in script
    assert not re.search(r"(?i)(password|secret)[^\n]*=\s*[A-Za-z0-9]{16,}", script)
    secrets = dict(resources(config, "google_secret_manager_secret_version"))
    for address in (
        "google_secret_manager_secret_version.mlflow_password",
        "google_secret_manager_secret_version.mlflow_credentials",
    ):
        assert "random_password.mlflow_user" in str(value(secrets[address], "secret_data"))


def test_mlflow_port_is_open_to_training_vms_and_the_app_only(config: dict[str, Any]) -> None:
    opened = {
        address: body
        for address, body in resources(config, "google_compute_firewall")
        if any("5000" in value(rule, "ports") for rule in blocks(body, "allow"))
    }
    assert set(opened) == {
        "google_compute_firewall.iap",
        "google_compute_firewall.mlflow_from_training",
        "google_compute_firewall.mlflow_from_app",
        "google_compute_firewall.mlflow_from_vertex",
    }
    assert value(opened["google_compute_firewall.iap"], "source_ranges") == ["35.235.240.0/20"]
    vertex = opened["google_compute_firewall.mlflow_from_vertex"]
    private_services = "google_compute_global_address.private_services"
    assert value(vertex, "source_ranges") == [
        f"${{{private_services}.address}}/${{{private_services}.prefix_length}}"
    ]
    assert value(vertex, "target_service_accounts") == ["${google_service_account.mlflow.email}"]
    training = opened["google_compute_firewall.mlflow_from_training"]
    assert value(training, "source_service_accounts") == [
        "${google_service_account.training.email}"
    ]
    assert value(training, "target_service_accounts") == ["${google_service_account.mlflow.email}"]
    app = opened["google_compute_firewall.mlflow_from_app"]
    assert value(app, "source_tags") == ["${local.app_network_tag}"]
    for body in opened.values():
        assert var_subnet_not_in(body)
    service = config["resource"]["google_cloud_run_v2_service.app"]
    (template,) = blocks(service, "template")
    (access,) = blocks(template, "vpc_access")
    (interface,) = blocks(access, "network_interfaces")
    assert value(interface, "tags") == ["${local.app_network_tag}"]


def var_subnet_not_in(firewall: dict[str, Any]) -> bool:
    ranges = value(firewall, "source_ranges") if "source_ranges" in firewall else []
    return "${var.subnet_cidr}" not in ranges and "0.0.0.0/0" not in ranges


def test_clients_get_mlflow_credentials_only_as_files(config: dict[str, Any]) -> None:
    readers = {
        (str(value(body, "secret_id")), str(value(body, "member")))
        for _, body in resources(config, "google_secret_manager_secret_iam_member")
    }
    credentials = "${google_secret_manager_secret.mlflow_credentials"
    assert readers >= {
        (f'{credentials}["training"].id}}', "${google_service_account.training.member}"),
        (f'{credentials}["app"].id}}', "${google_service_account.app.member}"),
        (f'{credentials}["training"].id}}', "${google_service_account.vertex.member}"),
    }
    members = {member for secret, member in readers if secret.startswith(credentials)}
    assert members == {
        "${google_service_account.training.member}",
        "${google_service_account.app.member}",
        "${google_service_account.vertex.member}",
    }
    output = value(config["output"]["github_variables"], "value")
    assert "MLFLOW_CREDENTIALS_SECRET" in output


def test_app_secret_volumes_set_by_deploys_are_not_undone_by_terraform(
    config: dict[str, Any],
) -> None:
    service = config["resource"]["google_cloud_run_v2_service.app"]
    (lifecycle,) = blocks(service, "lifecycle")
    ignored = {str(item) for item in value(lifecycle, "ignore_changes")}
    assert any("volume_mounts" in item for item in ignored)
    assert any(item.endswith("volumes") or "volumes}" in item for item in ignored)
    (template,) = blocks(service, "template")
    (container,) = blocks(template, "containers")
    for variable in blocks(container, "env"):
        assert not SECRET_NAME.search(str(value(variable, "name"))), "a secret in the env"
        assert not blocks(variable, "value_source"), "a secret in the env"


def test_no_one_holds_instance_admin_on_the_project(config: dict[str, Any]) -> None:
    grants = list(iam_grants(config))
    assert not [address for address, role, _ in grants if "instanceAdmin" in role]
    for entry in config["resource"].values():
        assert "compute.instanceAdmin" not in str(entry)
    role = config["resource"]["google_project_iam_custom_role.launch_training_vm"]
    permissions = value(role, "permissions")
    assert "compute.instances.create" in permissions
    assert not [
        p
        for p in permissions
        if p.startswith("compute.instances.")
        and p.endswith(
            ("setMachineType", "attachDisk", "stop", "reset", "start", "setMinCpuPlatform")
        )
    ]
    grant = config["resource"]["google_project_iam_member.team_launches_training_vms"]
    (condition,) = blocks(grant, "condition")
    expression = value(condition, "expression")
    assert "${var.name}-train-" in expression and "compute.googleapis.com/Instance" in expression
