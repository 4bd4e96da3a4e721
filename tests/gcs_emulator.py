"""A Google Cloud Storage emulator for the session, reached through gcsfs as ``gs://``.

``gcp-storage-emulator`` serves one empty bucket from a subprocess (this module run
as a script) on a free port; ``STORAGE_EMULATOR_HOST`` points this process and every child
it starts (an MLflow server, say) at it, and gcsfs talks to it anonymously. The
emulator is taught what gcsfs expects of real GCS:

- room for many connections at once: with the listen backlog of five it has,
  connections beyond it are dropped and retried by TCP after whole seconds, so
  zarr's concurrent writes crawl (100 small objects: 110 s, against 0.2 s);
- multipart uploads delimited by bare line feeds, as gcsfs sends them: its RFC 2046
  parser reads them as CRLF and eats an object's last byte when that byte is a
  carriage return (one compressed Zarr chunk in 256). Such bodies are rewritten with
  CRLF delimiters before it parses them;
- ``objects.move``, which gcsfs renames with and would otherwise retry for half a
  minute before falling back to copying;
- suffix byte ranges (``Range: bytes=-N``, the last N bytes), with which zarr reads
  a shard's index: the emulator would send the whole object, read as the index;
- the ``ifGenerationMatch=0`` precondition of an upload (create only if absent, which
  gcsfs sends for ``xb`` mode and the store lock relies on): 412 when the object exists.

gcsfs's experimental zonal/hierarchical-bucket layer is switched off: it asks a gRPC
control API the emulator lacks, waiting a minute on every call.
"""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import fsspec
import pytest
from gcp_storage_emulator import server as emulator
from gcp_storage_emulator import settings
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects

from tests.servers import free_port, stop, wait_until_up

BUCKET = "geocolor-test"


def crlf_multipart(body: bytes, boundary: bytes) -> bytes:
    """A multipart body delimited by bare ``\\n--BOUNDARY`` rewritten with CRLF delimiters.

    Bodies already using CRLF come back unchanged. Only header lines are touched; each
    part's content is kept byte for byte.
    """
    opening = b"--" + boundary + b"\n"
    if not body.startswith(opening):
        return body
    *parts, closing = body[len(opening) :].split(b"\n--" + boundary)
    rebuilt = []
    for part in parts:
        headers, _, content = part.removeprefix(b"\n").partition(b"\n\n")
        rebuilt.append(headers.replace(b"\n", b"\r\n") + b"\r\n\r\n" + content)
    delimiter = b"\r\n--" + boundary + b"\r\n"
    return b"--" + boundary + b"\r\n" + delimiter.join(rebuilt) + b"\r\n--" + boundary + closing


def _accepting_bare_line_feeds(decode: Callable[..., Any]) -> Callable[..., Any]:
    def decoded(raw_data: bytes | None, request_handler: Any) -> Any:
        data = decode(raw_data, request_handler)
        content_type = request_handler.headers.get("Content-Type") or ""
        if not data or not content_type.startswith("multipart/related"):
            return data
        boundary = content_type.partition("boundary=")[2].strip('"')
        return crlf_multipart(data, boundary.encode())

    return decoded


def _move(request: Any, response: Any, storage: Any) -> None:
    """GCS's ``objects.move`` within one bucket: a copy, then a delete."""
    request.params["dest_bucket_name"] = request.params["bucket_name"]
    objects.copy(request, response, storage)
    if response.status == HTTPStatus.OK:
        objects.delete(request, response, storage)


def _insert_if_absent(request: Any, response: Any, storage: Any, *args: Any, **kw: Any) -> Any:
    """``objects.insert`` honouring ``ifGenerationMatch=0``: refuse to replace an object."""
    if request.query.get("ifGenerationMatch") == ["0"]:
        names = request.query.get("name")
        if names is None and isinstance(request.data, dict):
            names = [request.data.get("meta", {}).get("name")]
        try:
            storage.get_file_obj(request.params["bucket_name"], (names or [None])[0])
        except NotFound:
            pass
        else:
            response.status = HTTPStatus.PRECONDITION_FAILED
            return None
    return _INSERT(request, response, storage, *args, **kw)


_INSERT = objects.insert
_DOWNLOAD = objects.download
_SUFFIX_RANGE = re.compile(r"^\s*bytes=-(?P<length>[0-9]+)$")


def _download_with_suffix_ranges(request: Any, response: Any, storage: Any, *args: Any) -> Any:
    """``objects.download`` that serves ``bytes=-N`` as the object's last N bytes."""
    headers = request._request_handler.headers
    match = _SUFFIX_RANGE.fullmatch(headers.get("range", ""))
    if match:
        try:
            obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
        except NotFound:
            pass
        else:
            start = max(int(obj["size"]) - int(match["length"]), 0)
            headers.replace_header("range", f"bytes={start}-")
    return _DOWNLOAD(request, response, storage, *args)


def _checked(handler: Callable[..., Any]) -> Callable[..., Any]:
    taught = {_INSERT: _insert_if_absent, _DOWNLOAD: _download_with_suffix_ranges}
    return taught.get(handler, handler)


class _RoomyHTTPServer(http.server.HTTPServer):
    request_queue_size = 256


def serve(port: int) -> None:
    """Run the taught emulator on ``port`` until the process is terminated."""
    emulator._decode_raw_data = _accepting_bare_line_feeds(emulator._decode_raw_data)
    move_route = (
        rf"^{settings.API_ENDPOINT}/b/(?P<bucket_name>[-.\w]+)/o/(?P<object_id>.*[^/]+)"
        r"/moveTo/o/(?P<dest_object_id>.*[^/]+)$",
        {emulator.POST: _move},
    )
    emulator.HANDLERS = tuple(
        (route, {verb: _checked(handler) for verb, handler in handlers.items()})
        for route, handlers in (move_route, *emulator.HANDLERS)
    )
    objects.insert = _insert_if_absent  # also looked up by name for uploads off the routes
    emulator.server.HTTPServer = _RoomyHTTPServer  # type: ignore[misc]
    emulator.create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET).run()


@pytest.fixture(scope="session")
def gcs_bucket() -> Iterator[str]:
    """``gs://BUCKET``: an empty bucket on a fresh emulator, gcsfs configured to reach it."""
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.gcs_emulator", str(port)],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"{host}/", process)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("STORAGE_EMULATOR_HOST", host)
            patch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
            patch.setitem(fsspec.config.conf, "gs", {"token": "anon"})
            import gcsfs.core  # after the variable above: gcsfs reads it on import

            previous = fsspec.get_filesystem_class("gs")
            fsspec.register_implementation("gs", gcsfs.core.GCSFileSystem, clobber=True)
            gcsfs.core.GCSFileSystem.clear_instance_cache()
            try:
                yield f"gs://{BUCKET}"
            finally:
                gcsfs.core.GCSFileSystem.clear_instance_cache()
                fsspec.register_implementation("gs", previous, clobber=True)
    finally:
        stop(process)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
