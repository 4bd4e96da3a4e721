"""A local stand-in for Sentinel Hub and Google Secret Manager, for tests.

It answers the endpoints geocolor uses, in the services' documented formats, on
127.0.0.1 at a random port: the OAuth client-credentials token endpoint, Catalog API
search (GeoJSON FeatureCollections paged through ``context.next``), the Process API
(a GeoTIFF built from the request's bounds, size and evalscript) and Secret Manager's
``versions/*:access``. Pixel values depend only on map coordinates, so a mosaic of
split requests equals one whole request. ``failures`` queues HTTP statuses (429, 500,
or 200 for a normal answer) to answer the next Process requests with, to exercise
retries and interrupted runs.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
from affine import Affine
from rasterio.io import MemoryFile
from shapely.geometry import box, mapping, shape

from tests.servers import serving

CATALOG_SEARCH = "/api/v1/catalog/1.0.0/search"
PROCESS = "/api/v1/process"
TOKEN = "/oauth/token"
_EPSG_URL = re.compile(r"EPSG/0/(\d+)$")
_CLAUSE = re.compile(r"^\s*([\w:]+)\s*(=|<=|>=|<|>)\s*'?([^']*?)'?\s*$")
_BANDS = re.compile(r"bands:\s*(\[[^\]]*\])")
_SAMPLE_TYPE = re.compile(r'sampleType:\s*"(\w+)"')
_DTYPES = {"FLOAT32": "float32", "UINT16": "uint16", "UINT8": "uint8"}


@dataclass
class FakeSentinelHub:
    """Server state: accepted credentials, catalog features, queued failures, a request log.

    ``swath_east`` (map x in the request CRS) marks where Sentinel-1 data ends: pixels
    east of it get ``dataMask`` 0, as at a real swath edge.
    """

    client_id: str = "geocolor-test-client"
    client_secret: str = "test-secret"
    features: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 100
    failures: list[int] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    swath_east: float = float("inf")
    access_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    log: list[tuple[str, str, int]] = field(default_factory=list)
    process_payloads: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token_url(self) -> str:
        """Where the OAuth token is requested."""
        return f"{self.base_url}{TOKEN}"

    def requests_to(self, path: str) -> list[int]:
        """HTTP statuses answered on ``path``, in order."""
        return [status for _, logged, status in self.log if logged == path]


# a 0.01 x 0.01 degree AOI in UTM zone 33N: 79 x 112 pixels at 10 m
AOI = "15.0,45.0,15.01,45.01"
# fast retries and no rate cap, for every command a test runs
SERVICE_OPTIONS = ("--retry-sleep", "0.01", "--requests-per-second", "1000")


def scene_features() -> list[dict[str, Any]]:
    """Two S1 passes (one in two slices), two S2 scenes (one cloudy), one scene elsewhere."""
    return [
        s1_feature(
            "S1A_ASC_SOUTH", "2022-10-04T16:50:00Z", box(14.9, 44.9, 15.1, 45.005), "ascending"
        ),
        s1_feature(
            "S1A_ASC_NORTH", "2022-10-04T16:50:25Z", box(14.9, 45.005, 15.1, 45.2), "ascending"
        ),
        s1_feature("S1A_DESC", "2022-10-09T05:10:00Z", box(14.0, 44.0, 16.0, 46.0), "descending"),
        s2_feature("S2A_CLEAR", "2022-10-05T10:00:31Z", box(14.5, 44.5, 15.5, 45.5), 12.5),
        s2_feature("S2B_CLOUDY", "2022-10-08T10:10:31Z", box(14.5, 44.5, 15.5, 45.5), 80.0),
        s2_feature("S2A_ELSEWHERE", "2022-10-05T10:00:31Z", box(20.0, 44.5, 21.0, 45.5), 1.0),
    ]


def use_server(monkeypatch: Any, state: FakeSentinelHub) -> None:
    """Point the ``GEOCOLOR_SH_*`` variables at ``state`` (http: oauthlib must allow it)."""
    for name in ("GEOCOLOR_SH_CONFIG", "GEOCOLOR_SH_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEOCOLOR_SH_CLIENT_ID", state.client_id)
    monkeypatch.setenv("GEOCOLOR_SH_CLIENT_SECRET", state.client_secret)
    monkeypatch.setenv("GEOCOLOR_SH_BASE_URL", state.base_url)
    monkeypatch.setenv("GEOCOLOR_SH_TOKEN_URL", state.token_url)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def s1_feature(product_id: str, when: str, footprint: Any, orbit: str) -> dict[str, Any]:
    """A Catalog API feature of the sentinel-1-grd collection (IW, dual VV+VH, high res)."""
    return _feature(
        "sentinel-1-grd",
        product_id,
        footprint,
        {
            "datetime": when,
            "platform": "sentinel-1a",
            "sar:instrument_mode": "IW",
            "sar:polarizations": ["VV", "VH"],
            "s1:polarization": "DV",
            "s1:resolution": "HIGH",
            "sat:orbit_state": orbit,
        },
    )


def s2_feature(product_id: str, when: str, footprint: Any, cloud_cover: float) -> dict[str, Any]:
    """A Catalog API feature of the sentinel-2-l2a collection."""
    return _feature(
        "sentinel-2-l2a",
        product_id,
        footprint,
        {"datetime": when, "platform": "sentinel-2a", "eo:cloud_cover": cloud_cover},
    )


def _feature(
    collection: str, product_id: str, footprint: Any, properties: dict[str, Any]
) -> dict[str, Any]:
    return {
        "stac_version": "1.0.0",
        "type": "Feature",
        "id": product_id,
        "collection": collection,
        "geometry": mapping(footprint),
        "bbox": list(footprint.bounds),
        "properties": properties,
        "links": [],
        "assets": {},
    }


@contextmanager
def running(state: FakeSentinelHub) -> Iterator[FakeSentinelHub]:
    """Serve ``state`` on 127.0.0.1 at a free port while the block runs."""
    with serving(_Handler, state):
        yield state


class _Handler(BaseHTTPRequestHandler):
    state: FakeSentinelHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``state.log`` instead."""

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path.startswith("/v1/projects/") and path.endswith(":access"):
            self._secret_access(path[len("/v1/") : -len(":access")])
        else:
            self._error(HTTPStatus.NOT_FOUND, "no such endpoint")

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if path == TOKEN:
            self._token(parse_qs(body.decode()))
        elif self.headers.get("Authorization") != f"Bearer {self.state.access_token}":
            self._error(HTTPStatus.UNAUTHORIZED, "invalid or missing token")
        elif path == CATALOG_SEARCH:
            self._search(json.loads(body))
        elif path == PROCESS:
            self._process(json.loads(body))
        else:
            self._error(HTTPStatus.NOT_FOUND, "no such endpoint")

    def _token(self, form: dict[str, list[str]]) -> None:
        state = self.state
        valid = (
            form.get("grant_type") == ["client_credentials"]
            and form.get("client_id") == [state.client_id]
            and form.get("client_secret") == [state.client_secret]
        )
        if not valid:
            self._json(
                HTTPStatus.UNAUTHORIZED,
                {
                    "error": "unauthorized_client",
                    "error_description": "Invalid client or Invalid client credentials",
                },
            )
            return
        payload = {"access_token": state.access_token, "token_type": "Bearer", "expires_in": 3600}
        self._json(HTTPStatus.OK, payload)

    def _search(self, query: dict[str, Any]) -> None:
        state = self.state
        start, end = (_time(value) for value in query["datetime"].split("/"))
        area = shape(query["intersects"]) if "intersects" in query else box(*query["bbox"])
        clauses = [_clause(text) for text in query.get("filter", "").split(" AND ") if text]
        matches = [
            feature
            for feature in state.features
            if feature["collection"] in query["collections"]
            and start <= _time(feature["properties"]["datetime"]) <= end
            and shape(feature["geometry"]).intersects(area)
            and all(_holds(feature["properties"], *clause) for clause in clauses)
        ]
        offset = int(query.get("next") or 0)
        size = min(int(query.get("limit", 10)), state.page_size)
        page = matches[offset : offset + size]
        context: dict[str, Any] = {"limit": size, "returned": len(page)}
        if offset + size < len(matches):
            context["next"] = offset + size
        self._json(
            HTTPStatus.OK,
            {"type": "FeatureCollection", "features": page, "links": [], "context": context},
        )

    def _process(self, request: dict[str, Any]) -> None:
        state = self.state
        with state.lock:
            failure = state.failures.pop(0) if state.failures else HTTPStatus.OK
            if failure == HTTPStatus.OK:
                state.process_payloads.append(request)
        if failure == HTTPStatus.TOO_MANY_REQUESTS:
            # Sentinel Hub's Retry-After is in milliseconds
            self._error(HTTPStatus.TOO_MANY_REQUESTS, "rate limit", {"Retry-After": "20"})
            return
        if failure != HTTPStatus.OK:
            self._error(HTTPStatus(failure), "injected failure")
            return
        if self.headers.get("Accept") != "image/tiff":
            self._error(HTTPStatus.BAD_REQUEST, "only image/tiff is served here")
            return
        self._send(HTTPStatus.OK, _render(request, state), "image/tiff")

    def _secret_access(self, name: str) -> None:
        payload = self.state.secrets.get(name)
        if payload is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": {"code": 404, "status": "NOT_FOUND"}})
            return
        data = base64.b64encode(payload.encode()).decode()
        self._json(HTTPStatus.OK, {"name": name, "payload": {"data": data}})

    def _error(
        self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None
    ) -> None:
        body = {"error": {"status": status.value, "reason": status.phrase, "message": message}}
        self._json(status, body, headers)

    def _json(
        self, status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(
        self,
        status: HTTPStatus,
        content: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        with self.state.lock:
            self.state.log.append((self.command, urlparse(self.path).path, status.value))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)


def _render(request: dict[str, Any], state: FakeSentinelHub) -> bytes:
    """The GeoTIFF a Process request asks for; zeros where no product is in its time range."""
    bounds = request["input"]["bounds"]
    left, bottom, right, top = bounds["bbox"]
    match = _EPSG_URL.search(bounds["properties"]["crs"])
    assert match, bounds["properties"]["crs"]
    width, height = request["output"]["width"], request["output"]["height"]
    script = request["evalscript"]
    bands = json.loads(_BANDS.search(script).group(1))  # type: ignore[union-attr]
    dtype = _DTYPES[_SAMPLE_TYPE.search(script).group(1)]  # type: ignore[union-attr]
    data_input = request["input"]["data"][0]
    res_x, res_y = (right - left) / width, (top - bottom) / height
    column = np.floor(left / res_x + np.arange(width) + 0.5)[np.newaxis, :]
    row = np.floor(top / res_y - np.arange(height) - 0.5)[:, np.newaxis]
    east = (left + (np.arange(width) + 0.5) * res_x)[np.newaxis, :]
    planes = [
        _band_values(name, index, column, row, east, state) for index, name in enumerate(bands)
    ]
    image = np.stack([np.broadcast_to(plane, (height, width)) for plane in planes]).astype(dtype)
    if not _has_products(data_input, state):
        image[:] = 0
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": len(bands),
        "dtype": dtype,
        "crs": f"EPSG:{match.group(1)}",
        "transform": Affine(res_x, 0, left, 0, -res_y, top),
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(image)
        return memory.read()


def _band_values(
    name: str,
    index: int,
    column: np.ndarray,
    row: np.ndarray,
    east: np.ndarray,
    state: FakeSentinelHub,
) -> np.ndarray:
    if name == "dataMask":
        return (east <= state.swath_east).astype(np.float64)
    if name == "SCL":
        return np.where((column + row) % 5 == 0, 9.0, 4.0)
    if name in ("VV", "VH"):
        return 0.01 + ((column + 3 * row + 17 * index) % 97) / 1000.0
    return 1.0 + (column + 7 * row + 1000 * index) % 4000


def _has_products(data_input: dict[str, Any], state: FakeSentinelHub) -> bool:
    time_range = data_input["dataFilter"]["timeRange"]
    start, end = _time(time_range["from"]), _time(time_range["to"])
    return any(
        feature["collection"] == data_input["type"]
        and start <= _time(feature["properties"]["datetime"]) <= end
        for feature in state.features
    )


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _clause(text: str) -> tuple[str, str, str]:
    match = _CLAUSE.match(text)
    assert match, f"unsupported CQL2 clause {text!r}"
    return match.group(1), match.group(2), match.group(3)


def _holds(properties: dict[str, Any], name: str, operator: str, value: str) -> bool:
    actual = properties.get(name)
    if actual is None:
        return False
    if operator == "=":
        return str(actual) == value
    number = float(actual)
    limit = float(value)
    return {
        "<=": number <= limit,
        ">=": number >= limit,
        "<": number < limit,
        ">": number > limit,
    }[operator]
