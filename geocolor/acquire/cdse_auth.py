"""Copernicus Data Space login for downloads the catalogue marks with ``auth:refs``.

CDSE's OData ``$value`` URLs (the ``PRODUCT`` asset of its STAC items) need a bearer
token from its Keycloak realm. The token comes from ``GEOCOLOR_CDSE_TOKEN``, else it is
requested with the account's user name and password: ``GEOCOLOR_CDSE_USERNAME`` and
``GEOCOLOR_CDSE_PASSWORD``, or a YAML/JSON ``username``/``password`` document in the
Google Secret Manager secret named by ``GEOCOLOR_CDSE_SECRET``. Every value is a
:class:`pydantic.SecretStr` from the moment it is read, and errors name the setting,
never its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pydantic
import requests

from geocolor.errors import GeocolorError, UsageError
from geocolor.io.secrets import secret_strings

CDSE_TOKEN_URL = (
    "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
)
ENV_TOKEN = "GEOCOLOR_CDSE_TOKEN"
ENV_USERNAME = "GEOCOLOR_CDSE_USERNAME"
ENV_PASSWORD = "GEOCOLOR_CDSE_PASSWORD"
ENV_SECRET = "GEOCOLOR_CDSE_SECRET"
ENV_TOKEN_URL = "GEOCOLOR_CDSE_TOKEN_URL"
_CLIENT_ID = "cdse-public"


def cdse_token(environ: Mapping[str, str] | None = None) -> pydantic.SecretStr:
    """An access token for CDSE downloads, from the environment or a login."""
    env = os.environ if environ is None else environ
    if env.get(ENV_TOKEN):
        return pydantic.SecretStr(env[ENV_TOKEN])
    username, password, where = _login(env)
    token_url = env.get(ENV_TOKEN_URL) or CDSE_TOKEN_URL
    form = {
        "grant_type": "password",
        "client_id": _CLIENT_ID,
        "username": username.get_secret_value(),
        "password": password.get_secret_value(),
    }
    try:
        response = requests.post(token_url, data=form, timeout=60)
    except requests.RequestException as exc:
        raise GeocolorError(
            f"cannot reach the CDSE token endpoint ({type(exc).__name__}; check {ENV_TOKEN_URL})"
        ) from None
    if response.status_code in (400, 401):
        raise GeocolorError(f"CDSE rejected the user name/password (set {where})")
    if response.status_code != 200:
        raise GeocolorError(f"the CDSE token endpoint answered HTTP {response.status_code}")
    try:
        return pydantic.SecretStr(str(response.json()["access_token"]))
    except (ValueError, KeyError):
        raise GeocolorError("the CDSE token endpoint answered without an access_token") from None


def download_session(needs_login: bool) -> requests.Session:
    """An HTTP session for a download, with a CDSE bearer token when the asset needs a login."""
    session = requests.Session()
    if needs_login:
        session.headers["Authorization"] = f"Bearer {cdse_token().get_secret_value()}"
    return session


def _login(env: Mapping[str, str]) -> tuple[pydantic.SecretStr, pydantic.SecretStr, str]:
    if env.get(ENV_USERNAME) and env.get(ENV_PASSWORD):
        where = f"{ENV_USERNAME} / {ENV_PASSWORD}"
        return pydantic.SecretStr(env[ENV_USERNAME]), pydantic.SecretStr(env[ENV_PASSWORD]), where
    if env.get(ENV_SECRET):
        name = env[ENV_SECRET]
        found = secret_strings(name, env, ENV_SECRET, ("username", "password"))
        if found is None:
            raise UsageError(f"secret {name}: needs string keys username and password")
        where = f"username/password in the secret {name}"
        return pydantic.SecretStr(found["username"]), pydantic.SecretStr(found["password"]), where
    raise UsageError(
        f"this download needs a Copernicus Data Space login: set {ENV_TOKEN}, "
        f"or {ENV_USERNAME} and {ENV_PASSWORD}, or {ENV_SECRET}"
    )
