"""Reading ``s3://`` assets over HTTPS with signed requests: CDSE's eodata and AWS buckets.

Some catalogues give assets only as ``s3://BUCKET/KEY``: the Copernicus Data Space's
``eodata`` bucket (its SAFE folders and band files), and Earth Search's Sentinel-1 GRD
(``sentinel-s1-l1c``, a requester-pays AWS bucket). Such an href becomes a path-style
HTTPS URL, and every request to it (ranged ones included, so downloads resume) is
signed with AWS Signature Version 4 (the header form, computed here with ``hmac``, so
no AWS SDK is needed):

- ``eodata``: the endpoint ``https://eodata.dataspace.copernicus.eu`` (or
  ``GEOCOLOR_CDSE_S3_ENDPOINT``) with the CDSE S3 keys from ``GEOCOLOR_CDSE_S3_ACCESS_KEY``
  and ``GEOCOLOR_CDSE_S3_SECRET_KEY``, else the ``s3_access_key``/``s3_secret_key`` of the
  Secret Manager document named by ``GEOCOLOR_CDSE_SECRET``;
- any other bucket: AWS (``AWS_ENDPOINT_URL_S3`` or ``https://s3.REGION.amazonaws.com``,
  region ``AWS_REGION``/``AWS_DEFAULT_REGION``, else ``eu-central-1`` where the Sentinel
  buckets are) with the standard ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
  (``AWS_SESSION_TOKEN``), the requester paying.

Keys are :class:`pydantic.SecretStr` from the moment they are read; errors name the
settings, never their values.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlparse, urlsplit

import pydantic
import requests
import yaml

from geocolor.acquire.sentinelhub_session import read_secret_payload
from geocolor.errors import GeocolorError, UsageError

CDSE_BUCKET = "eodata"
CDSE_S3_ENDPOINT = "https://eodata.dataspace.copernicus.eu"
ENV_CDSE_ENDPOINT = "GEOCOLOR_CDSE_S3_ENDPOINT"
ENV_CDSE_ACCESS_KEY = "GEOCOLOR_CDSE_S3_ACCESS_KEY"
ENV_CDSE_SECRET_KEY = "GEOCOLOR_CDSE_S3_SECRET_KEY"
ENV_CDSE_SECRET = "GEOCOLOR_CDSE_SECRET"
AWS_DEFAULT_REGION = "eu-central-1"
# CDSE's S3 accepts any region name in the signature
_CDSE_REGION = "default"
_ALGORITHM = "AWS4-HMAC-SHA256"
_EMPTY_BODY = hashlib.sha256(b"").hexdigest()
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class S3Keys:
    """An access key pair (and session token) that signs requests to one endpoint."""

    access_key: pydantic.SecretStr
    secret_key: pydantic.SecretStr
    session_token: pydantic.SecretStr | None = None


@dataclass(frozen=True)
class S3Target:
    """Where an ``s3://`` href is served and how requests to it are signed."""

    url: str
    region: str
    keys: S3Keys
    requester_pays: bool


def is_s3(href: str) -> bool:
    """Whether ``href`` is an ``s3://`` URL."""
    return href.startswith("s3://")


def s3_target(href: str, environ: Mapping[str, str] | None = None) -> S3Target:
    """The HTTPS URL and signing of the ``s3://`` asset ``href``."""
    env = os.environ if environ is None else environ
    parsed = urlparse(href)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise GeocolorError(f"{href}: not an s3://BUCKET/KEY URL")
    path = f"{quote(bucket)}/{quote(key)}"
    if bucket == CDSE_BUCKET:
        endpoint = env.get(ENV_CDSE_ENDPOINT) or CDSE_S3_ENDPOINT
        return S3Target(f"{endpoint.rstrip('/')}/{path}", _CDSE_REGION, _cdse_keys(env), False)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or AWS_DEFAULT_REGION
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or f"https://s3.{region}.amazonaws.com"
    return S3Target(f"{endpoint.rstrip('/')}/{path}", region, _aws_keys(env, href), True)


def s3_session(target: S3Target) -> requests.Session:
    """A session whose every request to ``target`` is signed (and marked requester-pays)."""
    session = requests.Session()
    session.auth = _SigV4(target)
    return session


class _SigV4(requests.auth.AuthBase):
    """Signs each request as it is sent, so ranged retries carry their own signature."""

    def __init__(self, target: S3Target) -> None:
        self.target = target

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        keys = self.target.keys
        now = datetime.now(UTC)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        url = urlsplit(str(request.url))
        signed = {
            "host": _host(url.scheme, url.hostname or "", url.port),
            "x-amz-content-sha256": _EMPTY_BODY,
            "x-amz-date": stamp,
        }
        if "Range" in request.headers:
            signed["range"] = str(request.headers["Range"]).strip()
        if self.target.requester_pays:
            signed["x-amz-request-payer"] = "requester"
        if keys.session_token is not None:
            signed["x-amz-security-token"] = keys.session_token.get_secret_value()
        names = sorted(signed)
        canonical = "\n".join(
            [
                str(request.method).upper(),
                url.path or "/",
                "&".join(sorted(url.query.split("&"))) if url.query else "",
                "".join(f"{name}:{signed[name]}\n" for name in names),
                ";".join(names),
                _EMPTY_BODY,
            ]
        )
        scope = f"{day}/{self.target.region}/s3/aws4_request"
        to_sign = "\n".join(
            [_ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = f"AWS4{keys.secret_key.get_secret_value()}".encode()
        for part in (day, self.target.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        request.headers.update({name: signed[name] for name in names if name != "host"})
        request.headers["Authorization"] = (
            f"{_ALGORITHM} Credential={keys.access_key.get_secret_value()}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return request


def _host(scheme: str, hostname: str, port: int | None) -> str:
    """The Host header as HTTP clients send it: the port only when not the scheme's own."""
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return hostname
    return f"{hostname}:{port}"


def _cdse_keys(env: Mapping[str, str]) -> S3Keys:
    if env.get(ENV_CDSE_ACCESS_KEY) and env.get(ENV_CDSE_SECRET_KEY):
        return S3Keys(
            pydantic.SecretStr(env[ENV_CDSE_ACCESS_KEY]),
            pydantic.SecretStr(env[ENV_CDSE_SECRET_KEY]),
        )
    if env.get(ENV_CDSE_SECRET):
        name = env[ENV_CDSE_SECRET]
        try:
            document = yaml.safe_load(read_secret_payload(name, env, ENV_CDSE_SECRET))
        except yaml.YAMLError:
            raise UsageError(f"secret {name}: not valid YAML or JSON") from None
        wanted = ("s3_access_key", "s3_secret_key")
        if isinstance(document, dict) and all(
            isinstance(document.get(field), str) and document[field] for field in wanted
        ):
            return S3Keys(
                pydantic.SecretStr(document["s3_access_key"]),
                pydantic.SecretStr(document["s3_secret_key"]),
            )
    raise UsageError(
        f"s3://{CDSE_BUCKET} assets need Copernicus Data Space S3 keys: set "
        f"{ENV_CDSE_ACCESS_KEY} and {ENV_CDSE_SECRET_KEY}, or s3_access_key and "
        f"s3_secret_key in the secret {ENV_CDSE_SECRET} names"
    )


def _aws_keys(env: Mapping[str, str], href: str) -> S3Keys:
    if not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        raise UsageError(
            f"{href.split('/', 3)[2]} is a requester-pays AWS bucket: set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY (the transfer is billed to that account)"
        )
    token = env.get("AWS_SESSION_TOKEN")
    return S3Keys(
        pydantic.SecretStr(env["AWS_ACCESS_KEY_ID"]),
        pydantic.SecretStr(env["AWS_SECRET_ACCESS_KEY"]),
        pydantic.SecretStr(token) if token else None,
    )
