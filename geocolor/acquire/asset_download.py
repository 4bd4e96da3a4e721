"""One STAC asset downloaded whole, from an http(s) URL or an ``s3://`` href.

http(s) assets go through :func:`geocolor.acquire.cdse_auth.download_session` (a CDSE
bearer token when the catalogue marks the asset with ``auth:refs``); ``s3://`` assets
through signed requests (:mod:`geocolor.acquire.s3_access`). Either way the transfer is
resumable and checksummed as :func:`geocolor.acquire.download.download` does it.
"""

from __future__ import annotations

from pathlib import Path

from geocolor.acquire.cdse_auth import download_session
from geocolor.acquire.download import download
from geocolor.acquire.s3_access import is_s3, s3_session, s3_target


def download_asset(
    href: str,
    target: Path,
    *,
    needs_login: bool,
    checksum: str | None,
    attempts: int,
    retry_sleep: float,
    label: str,
) -> Path:
    """Download the asset at ``href`` to ``target`` unless it is already there."""
    if is_s3(href):
        where = s3_target(href)
        session, url = s3_session(where), where.url
    else:
        session, url = download_session(needs_login), href
    with session:
        return download(
            session,
            url,
            target,
            checksum=checksum,
            attempts=attempts,
            retry_sleep=retry_sleep,
            label=label,
        )
