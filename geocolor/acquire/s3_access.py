"""Reading ``s3://`` assets over HTTPS with signed requests: CDSE's eodata and AWS buckets.

Some catalogues give assets only as ``s3://BUCKET/KEY``: the Copernicus Data Space's
``eodata`` bucket (its SAFE folders and band files), and Earth Search's Sentinel-1 GRD
(``sentinel-s1-l1c``, a requester-pays AWS bucket). Such an href becomes a path-style
HTTPS URL, and every request to it (ranged ones included, so downloads resume) is
signed with AWS Signature Version 4 (computed here with ``hmac``, so no AWS SDK is
needed): in headers for downloads, in a presigned URL for GDAL's window reads:

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

from geocolor.errors import GeocolorError, UsageError
from geocolor.io.secrets import secret_strings

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
# how long a presigned URL lives: one is made for each window GDAL reads
_PRESIGNED_SECONDS = 3600


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


def has_keys(href: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the keys for the ``s3://`` asset ``href`` are configured."""
    try:
        s3_target(href, environ)
    except UsageError:
        return False
    return True


def gdal_path(href: str) -> str:
    """The GDAL path of a remote raster: ``/vsicurl/`` of its URL, presigned if ``s3://``."""
    return f"/vsicurl/{presigned_url(href) if is_s3(href) else href}"


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
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
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
        query = "&".join(sorted(url.query.split("&"))) if url.query else ""
        signature, scope = _sign(
            self.target, str(request.method), url.path, query, signed, _EMPTY_BODY, stamp
        )
        request.headers.update({name: value for name, value in signed.items() if name != "host"})
        request.headers["Authorization"] = (
            f"{_ALGORITHM} Credential={keys.access_key.get_secret_value()}/{scope}, "
            f"SignedHeaders={';'.join(sorted(signed))}, Signature={signature}"
        )
        return request


def presigned_url(href: str, expires: int = _PRESIGNED_SECONDS) -> str:
    """A URL of the ``s3://`` asset ``href`` that carries its own signature (query form).

    Any HTTP client, GDAL's ``/vsicurl/`` included, can read it (ranges too) for
    ``expires`` seconds without the keys; it holds a signature, never the secret key.
    """
    target = s3_target(href)
    keys = target.keys
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    url = urlsplit(target.url)
    scope = f"{stamp[:8]}/{target.region}/s3/aws4_request"
    params = {
        "X-Amz-Algorithm": _ALGORITHM,
        "X-Amz-Credential": f"{keys.access_key.get_secret_value()}/{scope}",
        "X-Amz-Date": stamp,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    if keys.session_token is not None:
        params["X-Amz-Security-Token"] = keys.session_token.get_secret_value()
    if target.requester_pays:
        params["x-amz-request-payer"] = "requester"
    query = "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
        for name, value in sorted(params.items())
    )
    host = {"host": _host(url.scheme, url.hostname or "", url.port)}
    signature, _ = _sign(target, "GET", url.path, query, host, "UNSIGNED-PAYLOAD", stamp)
    return f"{target.url}?{query}&X-Amz-Signature={signature}"


def _sign(
    target: S3Target,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    payload: str,
    stamp: str,
) -> tuple[str, str]:
    """The Signature Version 4 of a request (header names lower case), and its scope."""
    names = sorted(headers)
    canonical = "\n".join(
        [
            method.upper(),
            path or "/",
            query,
            "".join(f"{name}:{headers[name]}\n" for name in names),
            ";".join(names),
            payload,
        ]
    )
    day = stamp[:8]
    scope = f"{day}/{target.region}/s3/aws4_request"
    to_sign = "\n".join([_ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{target.keys.secret_key.get_secret_value()}".encode()
    for part in (day, target.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), scope


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
        wanted = ("s3_access_key", "s3_secret_key")
        found = secret_strings(env[ENV_CDSE_SECRET], env, ENV_CDSE_SECRET, wanted)
        if found is not None:
            return S3Keys(*(pydantic.SecretStr(found[key]) for key in wanted))
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
