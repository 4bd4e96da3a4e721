"""Sentinel Hub credentials and an authenticated, rate-limited client.

Credentials come from a YAML/JSON document (``--credentials FILE``, else the file named
by ``GEOCOLOR_SH_CONFIG``, else the Google Secret Manager secret named by
``GEOCOLOR_SH_SECRET``), then each ``GEOCOLOR_SH_*`` variable overrides its field; the
client id and secret may instead name a file holding the value
(``GEOCOLOR_SH_CLIENT_SECRET_FILE``), as a Cloud Run secret volume or a Docker secret
mounts it, so the value never sits in the process environment. The client id and secret
are held as :class:`pydantic.SecretStr` from the moment they are read, so no repr, log
line or error message can show them; errors name the *setting* to fix, never its value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pydantic
import requests
import yaml
from oauthlib.oauth2 import InsecureTransportError, OAuth2Error
from sentinelhub.config import SHConfig
from sentinelhub.decoding import decode_sentinelhub_err_msg
from sentinelhub.download.rate_limit import SentinelHubRateLimit
from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient
from sentinelhub.download.session import SentinelHubSession
from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException

from geocolor.config import Config
from geocolor.errors import GeocolorError, UsageError
from geocolor.io.secrets import read_secret_payload

CDSE_BASE_URL = "https://sh.dataspace.copernicus.eu"
CDSE_TOKEN_URL = (
    "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
)
SENTINEL_HUB_BASE_URL = "https://services.sentinel-hub.com"
SENTINEL_HUB_TOKEN_URL = (
    "https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token"
)
_KNOWN_TOKEN_URLS = {CDSE_BASE_URL: CDSE_TOKEN_URL, SENTINEL_HUB_BASE_URL: SENTINEL_HUB_TOKEN_URL}

ENV_CLIENT_ID = "GEOCOLOR_SH_CLIENT_ID"
ENV_CLIENT_SECRET = "GEOCOLOR_SH_CLIENT_SECRET"
ENV_BASE_URL = "GEOCOLOR_SH_BASE_URL"
ENV_TOKEN_URL = "GEOCOLOR_SH_TOKEN_URL"
ENV_CONFIG = "GEOCOLOR_SH_CONFIG"
ENV_SECRET = "GEOCOLOR_SH_SECRET"

_FIELDS_BY_ENV = {
    "client_id": ENV_CLIENT_ID,
    "client_secret": ENV_CLIENT_SECRET,
    "base_url": ENV_BASE_URL,
    "token_url": ENV_TOKEN_URL,
}
# Fields whose value may come from a file named by the variable plus this suffix.
_FILE_SUFFIX = "_FILE"
_FILE_FIELDS = ("client_id", "client_secret")
# requests_oauthlib logs token requests' bodies (the client secret) and the tokens
# themselves at DEBUG level
_OAUTH_LOGGER = "requests_oauthlib.oauth2_session"


@dataclass(frozen=True)
class SentinelHubCredentials:
    """OAuth client credentials and the deployment they belong to.

    ``settings`` maps each field to the setting it came from (an environment variable,
    or a key in a named file or secret), so errors can say what to fix.
    """

    client_id: pydantic.SecretStr
    client_secret: pydantic.SecretStr
    base_url: str
    token_url: str
    settings: Mapping[str, str]


class ServiceSettings(Config):
    """How politely and persistently to talk to the service."""

    max_attempts: int = pydantic.Field(default=4, ge=1)
    retry_sleep: float = pydantic.Field(default=5.0, ge=0)
    requests_per_second: float = pydantic.Field(default=5.0, gt=0)
    timeout: float = pydantic.Field(default=120.0, gt=0)


@dataclass(frozen=True)
class Connection:
    """An authenticated client shared by catalog searches and process requests."""

    config: SHConfig
    client: SentinelHubDownloadClient
    credentials: SentinelHubCredentials


class _Document(pydantic.BaseModel):
    """The credentials document: every key optional, unknown keys refused."""

    model_config = pydantic.ConfigDict(extra="forbid")

    client_id: pydantic.SecretStr | None = None
    client_secret: pydantic.SecretStr | None = None
    base_url: str | None = None
    token_url: str | None = None


def load_credentials(
    path: str | None = None, environ: Mapping[str, str] | None = None
) -> SentinelHubCredentials:
    """Gather credentials from a file or secret, then the environment variables.

    Parameters
    ----------
    path
        Credentials file (``--credentials``); when None, ``GEOCOLOR_SH_CONFIG`` and then
        ``GEOCOLOR_SH_SECRET`` are consulted.
    environ
        The environment (``os.environ`` when None).
    """
    env = os.environ if environ is None else environ
    path = path or env.get(ENV_CONFIG) or None
    values, where = _read_document(path, env)
    settings = {field: f"{field} in {where}" for field in values}
    for field, variable in _FIELDS_BY_ENV.items():
        if env.get(variable):
            values[field] = env[variable]
            settings[field] = variable
    for field in _FILE_FIELDS:
        file_variable = _FIELDS_BY_ENV[field] + _FILE_SUFFIX
        if env.get(file_variable):
            values[field] = _read_value_file(file_variable, env)
            settings[field] = file_variable
    document = _Document.model_validate(values)
    if document.client_id is None or document.client_secret is None:
        field, variable = (
            ("client_id", ENV_CLIENT_ID)
            if document.client_id is None
            else ("client_secret", ENV_CLIENT_SECRET)
        )
        hint = f"{variable}, or {field} in {where}" if where else variable
        raise UsageError(f"Sentinel Hub {field.replace('_', ' ')} is not set (set {hint})")
    base_url = (document.base_url or CDSE_BASE_URL).rstrip("/")
    token_url = document.token_url or _KNOWN_TOKEN_URLS.get(base_url)
    if token_url is None:
        raise UsageError(
            f"no token URL is known for the Sentinel Hub base URL {base_url} (set {ENV_TOKEN_URL})"
        )
    settings.setdefault("base_url", ENV_BASE_URL)
    settings.setdefault("token_url", ENV_TOKEN_URL)
    return SentinelHubCredentials(
        document.client_id, document.client_secret, base_url, token_url, settings
    )


def _read_document(path: str | None, env: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The credentials document's keys and where they came from ("" when none is named)."""
    if path:
        return _read_file(path), path
    if env.get(ENV_SECRET):
        return _read_secret(env[ENV_SECRET], env), f"the secret {env[ENV_SECRET]}"
    return {}, ""


def connect(credentials: SentinelHubCredentials, service: ServiceSettings) -> Connection:
    """Obtain a token and build the download client every request goes through.

    Retries of 5xx answers (``max_attempts``, waits growing threefold from
    ``retry_sleep``) and the waits after 429 answers are the ``sentinelhub`` client's;
    ``requests_per_second`` caps how often it starts a request.
    """
    logging.getLogger(_OAUTH_LOGGER).addFilter(_drop_oauth_debug)
    config = SHConfig(
        use_defaults=True,
        sh_client_id=credentials.client_id.get_secret_value(),
        sh_client_secret=credentials.client_secret.get_secret_value(),
        sh_base_url=credentials.base_url,
        sh_token_url=credentials.token_url,
        max_download_attempts=service.max_attempts,
        download_sleep_time=service.retry_sleep,
        download_timeout_seconds=service.timeout,
    )
    with service_errors(credentials, "token request"):
        session = SentinelHubSession(config=config)
    client = SentinelHubDownloadClient(session=session, config=config)
    client.rate_limit = SentinelHubRateLimit(minimum_wait_time=1.0 / service.requests_per_second)
    return Connection(config, client, credentials)


@contextmanager
def service_errors(credentials: SentinelHubCredentials, what: str) -> Iterator[None]:
    """Turn the client's failures during ``what`` into one-line errors naming a setting."""
    try:
        yield
    except InsecureTransportError:
        setting = credentials.settings["token_url"]
        raise GeocolorError(
            f"the Sentinel Hub token URL must use https (check {setting})"
        ) from None
    except OAuth2Error:
        raise GeocolorError(_rejected(credentials)) from None
    except OutOfRequestsException:
        raise GeocolorError(
            f"Sentinel Hub kept answering 429 Too Many Requests to the {what}"
        ) from None
    except DownloadFailedException as exc:
        raise GeocolorError(_failure(credentials, what, exc.request_exception)) from None
    except requests.RequestException as exc:
        raise GeocolorError(_failure(credentials, what, exc)) from None


def _failure(
    credentials: SentinelHubCredentials, what: str, exc: requests.RequestException | None
) -> str:
    response = getattr(exc, "response", None)
    url_setting = credentials.settings["token_url" if what == "token request" else "base_url"]
    if response is None:
        kind = type(exc).__name__ if exc is not None else "an unknown error"
        return f"cannot reach Sentinel Hub for the {what} ({kind}; check {url_setting})"
    status = response.status_code
    detail = " ".join(decode_sentinelhub_err_msg(response).split())[:300]
    if status == 401:
        return _rejected(credentials)
    if status == 403:
        return f"Sentinel Hub denied the {what} (HTTP 403: {detail}); check the account's access"
    if status == 404:
        return f"Sentinel Hub has no such endpoint for the {what} (HTTP 404; check {url_setting})"
    if status >= 500:
        return f"Sentinel Hub failed the {what} repeatedly (HTTP {status}: {detail})"
    return f"Sentinel Hub refused the {what} (HTTP {status}: {detail})"


def _rejected(credentials: SentinelHubCredentials) -> str:
    fields = (credentials.settings["client_id"], credentials.settings["client_secret"])
    return f"Sentinel Hub rejected the client id/secret (set {' / '.join(fields)})"


def _drop_oauth_debug(record: logging.LogRecord) -> bool:
    return record.levelno > logging.DEBUG


def _read_file(path: str) -> dict[str, Any]:
    try:
        with fsspec.open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: credentials file not found") from None
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read the credentials file ({type(exc).__name__})"
        ) from None
    return _parse_document(text, path)


def _read_value_file(file_variable: str, env: Mapping[str, str]) -> str:
    """The value in the file that ``file_variable`` names, without its trailing newline.

    Setting both the variable and its ``_FILE`` twin is refused rather than ranked: one
    of them is a leftover, and guessing which would hide it.
    """
    variable = file_variable.removesuffix(_FILE_SUFFIX)
    if env.get(variable):
        raise UsageError(f"set {variable} or {file_variable}, not both")
    path = env[file_variable]
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found (check {file_variable})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path}: cannot read the file ({type(exc).__name__}; check {file_variable})"
        ) from None
    value = text.rstrip("\r\n")
    if not value:
        raise UsageError(f"{path}: the file is empty (check {file_variable})")
    return value


def _parse_document(text: str, source: str) -> dict[str, Any]:
    """Keys of a YAML/JSON mapping; errors never quote the text, which holds secrets."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise UsageError(f"{source}: credentials are not valid YAML or JSON") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}: credentials must be a mapping of client_id, client_secret…")
    unknown = sorted(str(key) for key in data if key not in _FIELDS_BY_ENV)
    if unknown:
        raise UsageError(f"{source}: unknown credentials key {unknown[0]!r}")
    wrong = sorted(key for key, value in data.items() if not isinstance(value, str))
    if wrong:
        raise UsageError(f"{source}: credentials key {wrong[0]!r} must be a string")
    return {key: value for key, value in data.items() if value}


def _read_secret(name: str, env: Mapping[str, str]) -> dict[str, Any]:
    """The credentials document held in a Google Secret Manager secret."""
    return _parse_document(read_secret_payload(name, env, ENV_SECRET), f"secret {name}")
