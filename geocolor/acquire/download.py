"""Whole-file downloads that survive interruptions and prove their integrity.

A file is streamed into ``NAME.partial`` beside its target; an interrupted transfer is
resumed with an HTTP ``Range`` request from the bytes already there, by the next try
of the same run or by a rerun. Only a whole file whose checksum matches is renamed to
its target, so a target that exists is always complete. Checksums are multihashes as
the STAC ``file:checksum`` field gives them (hex: hash code, digest length, digest).
"""

from __future__ import annotations

import hashlib
import time
from http import HTTPStatus
from pathlib import Path

import requests

from geocolor.errors import GeocolorError
from geocolor.progress import progress_bar

# multihash codes (https://github.com/multiformats/multicodec) -> hashlib names
_MULTIHASH = {
    0x11: "sha1",
    0x12: "sha256",
    0x13: "sha512",
    0x14: "sha3_512",
    0x15: "sha3_384",
    0x16: "sha3_256",
    0xD5: "md5",
}
_CHUNK = 1 << 16


def parse_multihash(text: str) -> tuple[str, str]:
    """The hashlib algorithm name and hex digest of a hex multihash such as ``1220…``."""
    try:
        data = bytes.fromhex(text)
        code, rest = _varint(data)
        length, digest = _varint(rest)
    except ValueError:
        raise GeocolorError(f"file:checksum {text!r} is not a hex multihash") from None
    if code not in _MULTIHASH or length != len(digest):
        raise GeocolorError(f"file:checksum {text!r}: unsupported hash or wrong digest length")
    return _MULTIHASH[code], digest.hex()


def download(
    session: requests.Session,
    url: str,
    target: Path,
    *,
    checksum: str | None,
    attempts: int,
    retry_sleep: float,
    label: str,
) -> Path:
    """Download ``url`` to ``target`` unless it is already there; resume what was begun.

    ``attempts`` tries are made, each resuming where the last stopped, waits growing
    threefold from ``retry_sleep``. A checksum mismatch deletes the partial file (its
    bytes cannot be trusted) and is an error.
    """
    if target.exists():
        return target
    expected = parse_multihash(checksum) if checksum else None
    partial = target.with_name(f"{target.name}.partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            _transfer(session, url, partial, label)
            break
        except requests.RequestException as exc:
            if attempt == attempts:
                have = partial.stat().st_size if partial.exists() else 0
                raise GeocolorError(
                    f"download of {label} failed after {attempts} tries "
                    f"({type(exc).__name__}); {have} bytes kept, rerun to resume"
                ) from None
            time.sleep(retry_sleep * 3 ** (attempt - 1))
    if expected is not None:
        algorithm, digest = expected
        actual = _digest(partial, algorithm)
        if actual != digest:
            partial.unlink()
            raise GeocolorError(
                f"download of {label}: {algorithm} {actual} does not match the catalogue's "
                f"{digest}; the file was discarded"
            )
    partial.replace(target)
    return target


def _transfer(session: requests.Session, url: str, partial: Path, label: str) -> None:
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=120) as response:
        if response.status_code == HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE and have:
            return
        _refuse(response, label)
        resumed = response.status_code == HTTPStatus.PARTIAL_CONTENT
        mode = "ab" if resumed else "wb"
        total = int(response.headers.get("Content-Length", 0)) + (have if resumed else 0)
        with (
            partial.open(mode) as stream,
            progress_bar(total or None, desc=label, unit="B") as bar,
        ):
            bar.update(have if resumed else 0)
            for chunk in response.iter_content(_CHUNK):
                stream.write(chunk)
                bar.update(len(chunk))
        if total and partial.stat().st_size < total:
            raise requests.ConnectionError("the connection closed before the end")


def _refuse(response: requests.Response, label: str) -> None:
    status = response.status_code
    if status in (HTTPStatus.OK, HTTPStatus.PARTIAL_CONTENT):
        return
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        raise GeocolorError(f"download of {label}: HTTP {status}, the credentials were refused")
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR or status == HTTPStatus.TOO_MANY_REQUESTS:
        raise requests.HTTPError(f"HTTP {status}")
    raise GeocolorError(f"download of {label}: HTTP {status}")


def _digest(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(_CHUNK), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _varint(data: bytes) -> tuple[int, bytes]:
    """An unsigned LEB128 integer at the start of ``data``, and the bytes after it."""
    value = 0
    for index, byte in enumerate(data[:9]):
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, data[index + 1 :]
    raise ValueError("truncated varint")
