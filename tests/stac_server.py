"""A local STAC API with its assets, a SAS token endpoint and a CDSE login, for tests.

One in-process HTTP server on 127.0.0.1 answers, in the services' published formats:

- the STAC API (landing page with conformance, ``POST /search`` filtered by collection,
  geometry and time, items by id) of one catalogue, under ``/stac``;
- the assets, under ``/assets/NAME``, with HTTP ``Range`` (GDAL reads COG windows, and
  downloads resume), optionally behind a bearer token (CDSE's OData), optionally cut
  off half-way once (``interrupt``) to exercise resumption;
- Planetary Computer's SAS endpoint (``/sas/ACCOUNT/CONTAINER``) and the storage it
  signs for: the server is also the HTTP proxy of the test, so the real Azure Blob
  host names reach it, and it refuses blob URLs that are not signed with its token;
- the CDSE Keycloak token endpoint (``/token``, password grant);
- an S3 endpoint (``/BUCKET/KEY`` for the buckets of ``s3_buckets``, path style, the
  objects being the assets ``s3/BUCKET/KEY``) that serves only requests signed
  with AWS Signature Version 4 by its key pair (the signature is recomputed), and, for
  requester-pays buckets, only requests that say the requester pays.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlparse

from shapely.geometry import shape

from tests.servers import serving

BLOB_SUFFIX = ".blob.core.windows.net"


@dataclass
class FakeStac:
    """Server state: collections, items, asset bytes, logins, and a request log."""

    collections: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    assets: dict[str, bytes] = field(default_factory=dict)
    protected: set[str] = field(default_factory=set)
    interrupt: set[str] = field(default_factory=set)
    username: str = "someone@example.org"
    password: str = "cdse-password"
    access_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sas_signature: str = field(default_factory=lambda: secrets.token_hex(8))
    s3_access_key: str = field(default_factory=lambda: "AKIA" + secrets.token_hex(8).upper())
    s3_secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    s3_buckets: set[str] = field(default_factory=lambda: {"eodata", "sentinel-s1-l1c"})
    requester_pays: set[str] = field(default_factory=lambda: {"sentinel-s1-l1c"})
    log: list[tuple[str, str, str]] = field(default_factory=list)
    search_bodies: list[bytes] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stac_url(self) -> str:
        """The STAC API's landing page."""
        return f"{self.base_url}/stac"

    def asset_url(self, name: str) -> str:
        """Where the asset ``name`` is served."""
        return f"{self.base_url}/assets/{name}"

    @property
    def s3_endpoint(self) -> str:
        """The S3 endpoint (path-style URLs)."""
        return self.base_url

    def requests_to(self, prefix: str) -> list[tuple[str, str, str]]:
        """Logged (method, path, Range header) of requests whose path starts with ``prefix``."""
        return [entry for entry in self.log if entry[1].startswith(prefix)]


@contextmanager
def running(state: FakeStac) -> Iterator[FakeStac]:
    """Serve ``state`` on 127.0.0.1 at a free port while the block runs."""
    with serving(_Handler, state):
        yield state


class _Handler(BaseHTTPRequestHandler):
    state: FakeStac
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``state.log`` instead."""

    def do_HEAD(self) -> None:
        self._get(body=False)

    def do_GET(self) -> None:
        self._get(body=True)

    def do_POST(self) -> None:
        url = urlparse(self.path)
        self._log(url.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if url.path == "/stac/search":
            self.state.search_bodies.append(body)
            self._search(json.loads(body))
        elif url.path == "/token":
            self._token(parse_qs(body.decode()))
        else:
            self._send(HTTPStatus.NOT_FOUND, b"{}", "application/json")

    def _get(self, *, body: bool) -> None:
        url = urlparse(self.path)
        host = url.hostname or ""
        self._log(url.path if not host.endswith(BLOB_SUFFIX) else f"//{host}{url.path}")
        if host.endswith(BLOB_SUFFIX):
            signed = parse_qs(url.query).get("sig") == [self.state.sas_signature]
            if not signed:
                self._send(HTTPStatus.FORBIDDEN, b"not signed", "text/plain", body=body)
                return
            self._asset(f"{host.split('.')[0]}{url.path}", body=body)
        elif url.path in ("/stac", "/stac/"):
            self._json(HTTPStatus.OK, self._landing())
        elif url.path.startswith("/stac/collections/") and "/items/" in url.path:
            self._item(url.path.rsplit("/", 1)[-1], body=body)
        elif url.path.startswith("/stac/collections/"):
            self._json(HTTPStatus.OK, self._collection(url.path.rsplit("/", 1)[-1]))
        elif url.path.startswith("/assets/"):
            self._asset(url.path.removeprefix("/assets/"), body=body)
        elif url.path.split("/")[1] in self.state.s3_buckets:
            refusal = self._s3_refusal(url.path, url.query)
            if refusal:
                self._send(HTTPStatus.FORBIDDEN, refusal.encode(), "text/plain", body=body)
                return
            self._asset(f"s3{url.path}", body=body)
        elif url.path.startswith("/sas/"):
            self._sas()
        else:
            self._send(HTTPStatus.NOT_FOUND, b"{}", "application/json", body=body)

    def _landing(self) -> dict[str, Any]:
        base = self.state.stac_url
        return {
            "type": "Catalog",
            "id": "test-stac",
            "stac_version": "1.0.0",
            "description": "local STAC API",
            "conformsTo": [
                "https://api.stacspec.org/v1.0.0/core",
                "https://api.stacspec.org/v1.0.0/item-search",
                "https://api.stacspec.org/v1.0.0/collections",
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            ],
            "links": [
                {"rel": "self", "href": base, "type": "application/json"},
                {"rel": "root", "href": base, "type": "application/json"},
                {
                    "rel": "search",
                    "href": f"{base}/search",
                    "type": "application/geo+json",
                    "method": "POST",
                },
            ],
        }

    def _collection(self, name: str) -> dict[str, Any]:
        return {"type": "Collection", "id": name, "stac_version": "1.0.0", "links": []}

    def _item(self, item_id: str, *, body: bool) -> None:
        found = [item for item in self.state.items if item["id"] == item_id]
        if not found:
            self._send(HTTPStatus.NOT_FOUND, b"{}", "application/json", body=body)
            return
        content = json.dumps(found[0]).encode()
        self._send(HTTPStatus.OK, content, "application/geo+json", body=body)

    def _search(self, query: dict[str, Any]) -> None:
        start, end = (_time(text) for text in query["datetime"].split("/"))
        area = shape(query["intersects"])
        matches = [
            item
            for item in self.state.items
            if item["collection"] in query["collections"]
            and start <= _time(item["properties"]["datetime"]) <= end
            and shape(item["geometry"]).intersects(area)
        ]
        self._json(
            HTTPStatus.OK,
            {"type": "FeatureCollection", "features": matches, "links": []},
        )

    def _token(self, form: dict[str, list[str]]) -> None:
        state = self.state
        valid = (
            form.get("grant_type") == ["password"]
            and form.get("client_id") == ["cdse-public"]
            and form.get("username") == [state.username]
            and form.get("password") == [state.password]
        )
        if not valid:
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "invalid_grant"})
            return
        self._json(HTTPStatus.OK, {"access_token": state.access_token, "expires_in": 600})

    def _sas(self) -> None:
        expiry = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        token = (
            f"st=2022-10-01&se=2099-01-01&sp=rl&sv=2021-06-08&sr=c&sig={self.state.sas_signature}"
        )
        self._json(HTTPStatus.OK, {"msft:expiry": expiry, "token": token})

    def _asset(self, name: str, *, body: bool) -> None:
        state = self.state
        content = state.assets.get(name)
        if content is None:
            self._send(HTTPStatus.NOT_FOUND, b"no such asset", "text/plain", body=body)
            return
        if name in state.protected and (
            self.headers.get("Authorization") != f"Bearer {state.access_token}"
        ):
            self._send(HTTPStatus.UNAUTHORIZED, b"login needed", "text/plain", body=body)
            return
        wanted = self.headers.get("Range")
        if wanted is None:
            with state.lock:
                cut = body and name in state.interrupt
                state.interrupt.discard(name)
            if cut:
                self._cut_short(content)
                return
            self._send(HTTPStatus.OK, content, "application/octet-stream", body=body)
            return
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        begin = int(first)
        stop = min(int(last) + 1 if last else len(content), len(content))
        if begin >= len(content):
            self._send(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", "text/plain", body=body)
            return
        headers = {"Content-Range": f"bytes {begin}-{stop - 1}/{len(content)}"}
        self._send(
            HTTPStatus.PARTIAL_CONTENT,
            content[begin:stop],
            "application/octet-stream",
            headers,
            body=body,
        )

    def _s3_refusal(self, path: str, query: str) -> str:
        """Why an S3 request is refused (an S3 error code), or nothing when it is signed.

        The signature, in the headers or in a presigned URL's query, is recomputed with
        botocore from the server's own key pair.
        """
        from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        state = self.state
        params = dict(parse_qsl(query))
        presigned = "X-Amz-Signature" in params
        if presigned:
            fields = {
                "Credential": params.get("X-Amz-Credential", ""),
                "SignedHeaders": params.get("X-Amz-SignedHeaders", ""),
                "Signature": params["X-Amz-Signature"],
            }
            stamp = params.get("X-Amz-Date", "")
            payer = params.get("x-amz-request-payer")
        else:
            authorization = self.headers.get("Authorization") or ""
            fields = dict(
                part.strip().split("=", 1)
                for part in authorization.removeprefix("AWS4-HMAC-SHA256 ").split(",")
                if "=" in part
            )
            stamp = self.headers.get("x-amz-date") or ""
            payer = self.headers.get("x-amz-request-payer")
        credential = fields.get("Credential", "").split("/")
        if len(credential) != 5 or credential[0] != state.s3_access_key:
            return "InvalidAccessKeyId"
        names = fields.get("SignedHeaders", "").split(";")
        headers = {name: self.headers.get(name) or "" for name in names}
        unsigned = "&".join(
            part for part in query.split("&") if not part.startswith("X-Amz-Signature=")
        )
        url = f"http://{headers['host']}{path}" + (f"?{unsigned}" if unsigned else "")
        request = AWSRequest(method=self.command, url=url, headers=headers)
        request.context["timestamp"] = stamp
        keys = Credentials(state.s3_access_key, state.s3_secret_key)
        signer = (
            S3SigV4QueryAuth(keys, "s3", credential[2], expires=int(params["X-Amz-Expires"]))
            if presigned
            else S3SigV4Auth(keys, "s3", credential[2])
        )
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if fields.get("Signature") != expected:
            return "SignatureDoesNotMatch"
        if path.split("/")[1] in state.requester_pays and payer != "requester":
            return "AccessDenied (requester pays)"
        return ""

    def _cut_short(self, content: bytes) -> None:
        """Promise the whole asset, send half of it, and drop the connection."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(content[: len(content) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _log(self, path: str) -> None:
        with self.state.lock:
            self.state.log.append((self.command, path, self.headers.get("Range") or ""))

    def _json(self, status: HTTPStatus, document: dict[str, Any]) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def _send(
        self,
        status: HTTPStatus,
        content: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        *,
        body: bool = True,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Accept-Ranges", "bytes")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(content)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
