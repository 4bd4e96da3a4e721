"""Pointing geocolor at a local STAC server: preset mirrors, proxy, SAS endpoint, login."""

from __future__ import annotations

from pathlib import Path

import planetary_computer.sas
import planetary_computer.settings
import pytest

from geocolor.acquire.stac_catalog import PRESETS, preset_url_variable
from tests.stac_server import FakeStac


def use_cdse_s3_keys(monkeypatch: pytest.MonkeyPatch, state: FakeStac) -> None:
    """The Copernicus Data Space S3 keys: those of ``state``'s S3 endpoint."""
    monkeypatch.setenv("GEOCOLOR_CDSE_S3_ACCESS_KEY", state.s3_access_key)
    monkeypatch.setenv("GEOCOLOR_CDSE_S3_SECRET_KEY", state.s3_secret_key)


def use_stac_server(monkeypatch: pytest.MonkeyPatch, state: FakeStac, cache: Path) -> None:
    """Every preset at ``state``; Azure Blob hosts reached through it as an HTTP proxy.

    ``state`` is also the S3 endpoint, AWS keys set to its pair; the CDSE S3 keys are
    left unset (:func:`use_cdse_s3_keys` sets them).

    The server is the proxy of both requests (``http_proxy``) and GDAL
    (``GDAL_HTTP_PROXY``), so the real Planetary Computer host names are kept and only
    correctly signed URLs are served. The SAS settings are cached by the package, so
    the cache is cleared for this server's endpoint.
    """
    for preset in PRESETS:
        monkeypatch.setenv(preset_url_variable(preset), state.stac_url)
    proxy = state.base_url
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("GDAL_HTTP_PROXY", proxy.removeprefix("http://"))
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PC_SDK_SAS_URL", f"{state.base_url}/sas")
    planetary_computer.settings.Settings.get.cache_clear()
    planetary_computer.sas.TOKEN_CACHE.clear()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("GEOCOLOR_CDSE_TOKEN_URL", f"{state.base_url}/token")
    monkeypatch.setenv("GEOCOLOR_CDSE_USERNAME", state.username)
    monkeypatch.setenv("GEOCOLOR_CDSE_PASSWORD", state.password)
    for variable in ("GEOCOLOR_CDSE_TOKEN", "GEOCOLOR_CDSE_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GEOCOLOR_CDSE_S3_ENDPOINT", state.s3_endpoint)
    for variable in ("GEOCOLOR_CDSE_S3_ACCESS_KEY", "GEOCOLOR_CDSE_S3_SECRET_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", state.s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", state.s3_access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", state.s3_secret_key)
    for variable in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
