"""Secrets from Google Secret Manager, read with Application Default Credentials.

Deployed jobs name a secret (``projects/P/secrets/S``) in an environment variable
rather than carry its value, so the value is in no job spec, process listing or log.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import re
from collections.abc import Mapping, MutableMapping

from geocolor.errors import GeocolorError, UsageError

ENV_SECRET_MANAGER_ENDPOINT = "GEOCOLOR_SECRET_MANAGER_ENDPOINT"
SECRET_MANAGER_ENDPOINT = "https://secretmanager.googleapis.com"
_SECRET_NAME = re.compile(r"^projects/[^/]+/secrets/[^/]+(?:/versions/[^/]+)?$")


def read_secret_payload(name: str, env: Mapping[str, str], variable: str) -> str:
    """The text of the Secret Manager secret ``name`` (set in ``variable``), read with ADC.

    Errors name the secret and the variable, never the payload, which holds credentials.
    """
    import google.auth
    import requests
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError
    from google.auth.transport.requests import AuthorizedSession

    if not _SECRET_NAME.match(name):
        raise UsageError(
            f"{variable}={name!r} is not a secret name like projects/P/secrets/S/versions/latest"
        )
    version = name if "/versions/" in name else f"{name}/versions/latest"
    endpoint = env.get(ENV_SECRET_MANAGER_ENDPOINT, SECRET_MANAGER_ENDPOINT).rstrip("/")
    try:
        google_credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        # google-auth leaves AuthorizedSession's constructor unannotated
        with AuthorizedSession(google_credentials) as session:
            response = session.get(f"{endpoint}/v1/{version}:access", timeout=60)
    except DefaultCredentialsError:
        raise GeocolorError(
            f"no Google credentials to read the secret {name} "
            "(run 'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS)"
        ) from None
    except (GoogleAuthError, requests.RequestException) as exc:
        raise GeocolorError(
            f"cannot reach Secret Manager for {name} ({type(exc).__name__})"
        ) from None
    if response.status_code != 200:
        raise GeocolorError(
            f"Secret Manager answered HTTP {response.status_code} for {name} (check {variable})"
        )
    try:
        payload: str = base64.b64decode(response.json()["payload"]["data"]).decode("utf-8")
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise GeocolorError(f"Secret Manager returned no readable payload for {name}") from None
    return payload


def secret_strings(
    name: str, env: Mapping[str, str], variable: str, keys: tuple[str, ...]
) -> dict[str, str] | None:
    """The values of ``keys`` in the YAML/JSON document held in the secret ``name``.

    None when the document lacks one of them or holds one that is not a non-empty
    string; a payload that is no YAML at all is a usage error naming the secret.
    """
    import yaml

    try:
        document = yaml.safe_load(read_secret_payload(name, env, variable))
    except yaml.YAMLError:
        raise UsageError(f"secret {name}: not valid YAML or JSON") from None
    if not isinstance(document, dict):
        return None
    values = {key: document.get(key) for key in keys}
    if not all(isinstance(value, str) and value for value in values.values()):
        return None
    return {key: str(value) for key, value in values.items()}


ENV_MLFLOW_SIGN_IN_SECRET = "GEOCOLOR_MLFLOW_SIGN_IN_SECRET"
#: Secret holding the Optuna storage URL (with its password) that tune workers share.
ENV_OPTUNA_STORAGE_SECRET = "GEOCOLOR_OPTUNA_STORAGE_SECRET"
_MLFLOW_CREDENTIAL_KEYS = {
    "mlflow_tracking_username": "MLFLOW_TRACKING_USERNAME",
    "mlflow_tracking_password": "MLFLOW_TRACKING_PASSWORD",
}


def sign_in_to_mlflow_from_secret(env: MutableMapping[str, str]) -> None:
    """Sign this process in to MLflow with the credentials file held in a secret.

    Managed jobs (Vertex AI) cannot mount a secret as ``~/.mlflow/credentials`` the way
    the training VM does, so the job names the secret in
    ``GEOCOLOR_MLFLOW_SIGN_IN_SECRET`` and the process reads it here, into its own
    environment only. Credentials the user set explicitly win.
    """
    name = env.get(ENV_MLFLOW_SIGN_IN_SECRET)
    if not name or "MLFLOW_TRACKING_USERNAME" in env:
        return
    parser = configparser.ConfigParser()
    try:
        parser.read_string(read_secret_payload(name, env, ENV_MLFLOW_SIGN_IN_SECRET))
        section = parser["mlflow"]
        values = {variable: section[key] for key, variable in _MLFLOW_CREDENTIAL_KEYS.items()}
    except (configparser.Error, KeyError):
        raise GeocolorError(
            f"secret {name}: not an MLflow credentials file "
            "([mlflow] with mlflow_tracking_username and mlflow_tracking_password)"
        ) from None
    env.update(values)
