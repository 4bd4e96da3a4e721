from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import google.auth
import pytest
from google.auth.credentials import AnonymousCredentials

from geocolor.acquire.sentinelhub_session import (
    CDSE_BASE_URL,
    CDSE_TOKEN_URL,
    ServiceSettings,
    connect,
    load_credentials,
)
from geocolor.cli import main
from geocolor.errors import GeocolorError, UsageError
from geocolor.progress import set_quiet
from tests.sentinelhub_server import (
    AOI,
    SERVICE_OPTIONS,
    FakeSentinelHub,
    running,
    scene_features,
    use_server,
)

CLIENT_ID = "client-id-7d1c2e"
SECRET = "sEcReT-must-never-leak-5f9a31"
SECRET_NAME = "projects/demo/secrets/sentinelhub/versions/latest"
LIBRARY_LOGGERS = (
    "",
    "geocolor",
    "urllib3",
    "requests",
    "requests_oauthlib",
    "oauthlib",
    "sentinelhub",
    "google",
)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeSentinelHub]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    state = FakeSentinelHub(client_id=CLIENT_ID, client_secret=SECRET, features=scene_features())
    with running(state):
        use_server(monkeypatch, state)
        yield state
    set_quiet(False)


def test_environment_credentials_default_to_copernicus_data_space() -> None:
    environ = {"GEOCOLOR_SH_CLIENT_ID": CLIENT_ID, "GEOCOLOR_SH_CLIENT_SECRET": SECRET}
    credentials = load_credentials(environ=environ)
    assert credentials.base_url == CDSE_BASE_URL and credentials.token_url == CDSE_TOKEN_URL
    assert credentials.client_secret.get_secret_value() == SECRET
    assert SECRET not in repr(credentials) and CLIENT_ID not in repr(credentials)
    assert SECRET not in str(credentials)


def test_file_values_are_overridden_by_environment_variables(tmp_path: Path) -> None:
    path = tmp_path / "sh.yaml"
    path.write_text(
        f"client_id: {CLIENT_ID}\nclient_secret: {SECRET}\n"
        "base_url: https://services.sentinel-hub.com/\n"
    )
    credentials = load_credentials(str(path), environ={"GEOCOLOR_SH_CLIENT_SECRET": "other"})
    assert credentials.client_id.get_secret_value() == CLIENT_ID
    assert credentials.client_secret.get_secret_value() == "other"
    assert credentials.base_url == "https://services.sentinel-hub.com"
    assert credentials.token_url.endswith("/auth/realms/main/protocol/openid-connect/token")
    assert credentials.settings["client_id"] == f"client_id in {path}"
    assert credentials.settings["client_secret"] == "GEOCOLOR_SH_CLIENT_SECRET"
    from_variable = load_credentials(environ={"GEOCOLOR_SH_CONFIG": str(path)})
    assert from_variable.client_secret.get_secret_value() == SECRET


def test_missing_and_malformed_settings_name_the_setting_not_the_value(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"secret is not set \(set GEOCOLOR_SH_CLIENT_SECRET\)"):
        load_credentials(environ={"GEOCOLOR_SH_CLIENT_ID": CLIENT_ID})
    with pytest.raises(UsageError, match=r"client id is not set \(set GEOCOLOR_SH_CLIENT_ID\)"):
        load_credentials(environ={})
    environ = {
        "GEOCOLOR_SH_CLIENT_ID": CLIENT_ID,
        "GEOCOLOR_SH_CLIENT_SECRET": SECRET,
        "GEOCOLOR_SH_BASE_URL": "https://example.org",
    }
    with pytest.raises(UsageError, match="set GEOCOLOR_SH_TOKEN_URL"):
        load_credentials(environ=environ)
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"client_id: {CLIENT_ID}\nclient_secret: [{SECRET}\n")
    with pytest.raises(UsageError) as error:
        load_credentials(str(broken), environ={})
    assert str(broken) in str(error.value) and SECRET not in str(error.value)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(f"client_secret: {SECRET}\npassword: {SECRET}\n")
    with pytest.raises(UsageError, match="unknown credentials key 'password'") as error:
        load_credentials(str(unknown), environ={})
    assert SECRET not in str(error.value)
    with pytest.raises(UsageError, match="credentials file not found"):
        load_credentials(str(tmp_path / "absent.yaml"), environ={})


def test_credentials_from_secret_manager(
    server: FakeSentinelHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(google.auth, "default", lambda **_: (AnonymousCredentials(), None))
    server.secrets[SECRET_NAME] = json.dumps(
        {"client_id": CLIENT_ID, "client_secret": SECRET, "base_url": "https://example.org"}
    )
    environ = {
        "GEOCOLOR_SH_SECRET": "projects/demo/secrets/sentinelhub",
        "GEOCOLOR_SECRET_MANAGER_ENDPOINT": server.base_url,
        "GEOCOLOR_SH_TOKEN_URL": "https://example.org/token",
    }
    credentials = load_credentials(environ=environ)
    assert credentials.client_secret.get_secret_value() == SECRET
    assert credentials.base_url == "https://example.org"
    assert (
        credentials.settings["client_secret"]
        == f"client_secret in the secret {environ['GEOCOLOR_SH_SECRET']}"
    )
    environ["GEOCOLOR_SH_SECRET"] = "projects/demo/secrets/absent"
    with pytest.raises(GeocolorError, match="HTTP 404 for projects/demo/secrets/absent"):
        load_credentials(environ=environ)
    environ["GEOCOLOR_SH_SECRET"] = "sentinelhub"
    with pytest.raises(UsageError, match="not a secret name like"):
        load_credentials(environ=environ)


def test_rejected_credentials_say_which_setting_to_fix(
    server: FakeSentinelHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GEOCOLOR_SH_CLIENT_SECRET", "wrong")
    args = ["search", "--aoi", AOI, "--start", "2022-10-01", "--end", "2022-10-06"]
    assert main([*args, *SERVICE_OPTIONS]) == 1
    assert capsys.readouterr().err == (
        "geocolor: error: Sentinel Hub rejected the client id/secret "
        "(set GEOCOLOR_SH_CLIENT_ID / GEOCOLOR_SH_CLIENT_SECRET)\n"
    )
    with pytest.raises(GeocolorError, match="must use https"):
        monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
        connect(load_credentials(), ServiceSettings())


def test_secrets_never_reach_logs_or_output(
    server: FakeSentinelHub,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    recwarn: pytest.WarningsRecorder,
) -> None:
    for name in LIBRARY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    server.failures = [429, 500]
    window = ["--aoi", AOI, "--start", "2022-10-01", "--end", "2022-10-06", *SERVICE_OPTIONS]
    assert main(["-vv", "search", *window]) == 0
    assert main(["-vv", "fetch", *window, "-o", str(tmp_path / "out")]) == 0
    assert main(["-vv", "--debug", "search", *window, "--json"]) == 0
    captured = capsys.readouterr()
    seen = [caplog.text, captured.out, captured.err, *(str(w.message) for w in recwarn)]
    seen += [repr(record.args) for record in caplog.records]
    assert any("/api/v1/process" in text for text in seen)  # debug logging was on
    for text in seen:
        assert SECRET not in text
        assert CLIENT_ID not in text
        assert server.access_token not in text


def test_client_secret_from_a_mounted_file_names_the_file_variable(tmp_path: Path) -> None:
    mounted = tmp_path / "sh-client-secret" / "value"
    mounted.parent.mkdir()
    mounted.write_text(f"{SECRET}\n", encoding="utf-8")
    environ = {"GEOCOLOR_SH_CLIENT_ID": CLIENT_ID, "GEOCOLOR_SH_CLIENT_SECRET_FILE": str(mounted)}
    credentials = load_credentials(environ=environ)
    assert credentials.client_secret.get_secret_value() == SECRET
    assert credentials.settings["client_secret"] == "GEOCOLOR_SH_CLIENT_SECRET_FILE"
    client_id = tmp_path / "client-id"
    client_id.write_text(CLIENT_ID, encoding="utf-8")
    both_from_files = load_credentials(
        environ={
            **environ,
            "GEOCOLOR_SH_CLIENT_ID": "",
            "GEOCOLOR_SH_CLIENT_ID_FILE": str(client_id),
        }
    )
    assert both_from_files.client_id.get_secret_value() == CLIENT_ID
    assert SECRET not in repr(both_from_files)


def test_a_bad_secret_file_is_a_one_line_error_without_the_value(tmp_path: Path) -> None:
    mounted = tmp_path / "value"
    mounted.write_text(SECRET, encoding="utf-8")
    environ = {"GEOCOLOR_SH_CLIENT_ID": CLIENT_ID, "GEOCOLOR_SH_CLIENT_SECRET_FILE": str(mounted)}
    with pytest.raises(
        UsageError,
        match=r"set GEOCOLOR_SH_CLIENT_SECRET or GEOCOLOR_SH_CLIENT_SECRET_FILE, not both",
    ) as error:
        load_credentials(environ={**environ, "GEOCOLOR_SH_CLIENT_SECRET": SECRET})
    assert SECRET not in str(error.value)
    absent = {**environ, "GEOCOLOR_SH_CLIENT_SECRET_FILE": str(tmp_path / "absent")}
    with pytest.raises(
        UsageError, match=r"absent: file not found \(check GEOCOLOR_SH_CLIENT_SECRET_FILE"
    ):
        load_credentials(environ=absent)
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    empty = {**environ, "GEOCOLOR_SH_CLIENT_SECRET_FILE": str(tmp_path / "empty")}
    with pytest.raises(UsageError, match="the file is empty"):
        load_credentials(environ=empty)
