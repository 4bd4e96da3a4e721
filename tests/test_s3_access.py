"""Where ``s3://`` assets are read and with which keys; the keys never appear in errors.

The signatures themselves are checked end to end by the fake S3 endpoint of the STAC
tests (``tests/stac_server.py``), which recomputes them with botocore.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import google.auth
import pytest
from google.auth.credentials import AnonymousCredentials

from geocolor.acquire.s3_access import gdal_path, has_keys, presigned_url, s3_target
from geocolor.errors import UsageError
from tests.sentinelhub_server import FakeSentinelHub, running

ACCESS = "AKIAEXAMPLE0000"
SECRET = "s3-secret-must-never-leak-91c2"
SENTINEL1 = "s3://sentinel-s1-l1c/GRD/2021/6/14/IW/DV/S1A_X/measurement/iw-vv.tiff"
EODATA = "s3://eodata/Sentinel-2/MSI/L2A/2021/06/14/S2A_X.SAFE/B02_10m.jp2"


@pytest.fixture
def secret_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentinelHub]:
    monkeypatch.setattr(google.auth, "default", lambda **_: (AnonymousCredentials(), None))
    state = FakeSentinelHub(client_id="unused", client_secret="unused", features=[])
    with running(state):
        yield state


def test_aws_buckets_are_requester_pays_at_the_regional_endpoint() -> None:
    environ = {"AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET}
    target = s3_target(SENTINEL1, environ)
    assert target.url == (
        "https://s3.eu-central-1.amazonaws.com/sentinel-s1-l1c/GRD/2021/6/14/IW/DV/S1A_X/"
        "measurement/iw-vv.tiff"
    )
    assert target.requester_pays and target.region == "eu-central-1"
    assert s3_target(SENTINEL1, environ | {"AWS_REGION": "us-west-2"}).url.startswith(
        "https://s3.us-west-2.amazonaws.com/"
    )
    with pytest.raises(UsageError, match="requester-pays AWS bucket: set AWS_ACCESS_KEY_ID"):
        s3_target(SENTINEL1, {"AWS_ACCESS_KEY_ID": ACCESS})


def test_eodata_keys_come_from_the_environment_or_secret_manager(
    secret_manager: FakeSentinelHub,
) -> None:
    environ = {"GEOCOLOR_CDSE_S3_ACCESS_KEY": ACCESS, "GEOCOLOR_CDSE_S3_SECRET_KEY": SECRET}
    target = s3_target(EODATA, environ)
    assert target.url.startswith("https://eodata.dataspace.copernicus.eu/eodata/Sentinel-2/")
    assert not target.requester_pays
    assert target.keys.secret_key.get_secret_value() == SECRET
    assert SECRET not in repr(target)

    secret_manager.secrets["projects/demo/secrets/cdse/versions/latest"] = json.dumps(
        {
            "username": "me@example.org",
            "password": "pw",
            "s3_access_key": ACCESS,
            "s3_secret_key": SECRET,
        }
    )
    from_secret = {
        "GEOCOLOR_CDSE_SECRET": "projects/demo/secrets/cdse",
        "GEOCOLOR_SECRET_MANAGER_ENDPOINT": secret_manager.base_url,
    }
    assert s3_target(EODATA, from_secret).keys.access_key.get_secret_value() == ACCESS

    with pytest.raises(UsageError) as refused:
        s3_target(EODATA, {"GEOCOLOR_CDSE_S3_ACCESS_KEY": ACCESS})
    assert "set GEOCOLOR_CDSE_S3_ACCESS_KEY and GEOCOLOR_CDSE_S3_SECRET_KEY" in str(refused.value)
    assert ACCESS not in str(refused.value)
    assert not has_keys(EODATA, {})


def test_gdal_reads_s3_through_a_presigned_url_that_holds_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEOCOLOR_CDSE_S3_ACCESS_KEY", ACCESS)
    monkeypatch.setenv("GEOCOLOR_CDSE_S3_SECRET_KEY", SECRET)
    path = gdal_path(EODATA)
    assert path.startswith("/vsicurl/https://eodata.dataspace.copernicus.eu/eodata/")
    assert "X-Amz-Signature=" in path and f"X-Amz-Credential={ACCESS}%2F" in path
    assert SECRET not in path
    assert "x-amz-request-payer" not in presigned_url(EODATA)
    assert gdal_path("https://example.org/a.tif") == "/vsicurl/https://example.org/a.tif"
