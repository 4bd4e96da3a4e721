"""GRD border-noise removal: mask the low-value strips at a product's image edges.

Products processed before IPF 2.90 carry "no-value" samples at near and far range and
at the first and last lines of a data take: not 0 (which the chain already treats as no
data), but very low DN left by range and azimuth compression and the sampling-start-time
changes (ESA MPC-0243; Ali et al. 2018). SNAP's *Remove GRD Border Noise* operator masks
them line by line: from each image edge inward, up to a border limit (500 pixels), the
samples before the first one above a low threshold are border. This does the same on DN
(so it holds with or without thermal-noise removal), and sets them to DN 0, which the
chain turns into NaN. IPF 2.90 and later zero those samples themselves, so their
products are left alone.

Vectorised per Dask block: the near/far edge of each line is found from a narrow strip
of the block's own rows, the first/last-line edge of each column from one strip of the
first and last lines, so a block needs only its rows and those small vectors. Strips
inside the processed window are cut from its DN; only an edge outside it (an area of
interest near, not at, the edge) is read separately.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from geocolor.errors import GeocolorError
from geocolor.s1.safe import RadarWindow, SafeProduct

BORDER_LIMIT = 500
"""How far (pixels, lines) from an image edge border noise may reach, as SNAP's default."""
DN_THRESHOLD = 15
"""DN at or below which an edge sample is border noise. Real samples sit on the thermal
noise floor, above it, so the first of them stops the scan; a value chosen from that
reasoning and the synthetic products, not yet checked on real pre-2.90 products."""
FIXED_IPF = 2.90
"""The first IPF version that zeroes border noise itself."""


def ipf_number(ipf_version: str, source: str) -> float:
    """The IPF version ``"002.72"`` as the number 2.72; else an error naming ``source``."""
    try:
        return float(ipf_version)
    except ValueError:
        raise GeocolorError(f"{source}: IPF version {ipf_version!r} is not a number") from None


def border_noise_decision(product: SafeProduct, wanted: bool) -> tuple[bool, str]:
    """Whether to remove border noise from ``product``, and the provenance saying why."""
    version = product.info.ipf_version
    if not wanted:
        return False, "off"
    if ipf_number(version, product.path) >= FIXED_IPF:
        return False, f"not needed (IPF {version} >= {FIXED_IPF:.2f})"
    return True, f"removed (IPF {version} < {FIXED_IPF:.2f})"


def remove_border_noise(
    product: SafeProduct, pol: str, dn: da.Array, window: RadarWindow
) -> da.Array:
    """``dn`` (image ``window`` of ``pol``) with border-noise samples set to DN 0 (no data).

    Only edges within :data:`BORDER_LIMIT` of the window are looked at; a window far
    from every image edge comes back unchanged.
    """
    lines, samples = product.info.lines, product.info.samples
    limit_lines, limit_samples = min(BORDER_LIMIT, lines), min(BORDER_LIMIT, samples)
    rows = da.arange(window.line0, window.line1, chunks=dn.chunks[0])
    cols = da.arange(window.pixel0, window.pixel1, chunks=dn.chunks[1])
    no_rows = da.full(window.line1 - window.line0, -1, chunks=dn.chunks[0])
    no_cols = da.full(window.pixel1 - window.pixel0, -1, chunks=dn.chunks[1])

    def strip(line0: int, line1: int, pixel0: int, pixel1: int) -> da.Array:
        """DN of an edge strip: cut from ``dn`` when it holds it (no second read)."""
        inside = window.line0 <= line0 and line1 <= window.line1
        if inside and window.pixel0 <= pixel0 and pixel1 <= window.pixel1:
            rows, cols = line0 - window.line0, pixel0 - window.pixel0
            cut: da.Array = dn[rows : rows + line1 - line0, cols : cols + pixel1 - pixel0]
            return cut
        part = RadarWindow(line0, line1, pixel0, pixel1)
        return product.read_dn(pol, chunks=(dn.chunks[0][0], pixel1 - pixel0), window=part)

    # per line: border samples are those before ``near`` or from ``far`` on
    near, far = no_rows, no_rows + samples + 1
    if window.pixel0 < limit_samples:
        left = strip(window.line0, window.line1, 0, limit_samples).rechunk((dn.chunks[0], -1))
        near = left.map_blocks(_edge_depth, drop_axis=1, dtype=np.int64)
    if window.pixel1 > samples - limit_samples:
        right = strip(window.line0, window.line1, samples - limit_samples, samples)
        right = right.rechunk((dn.chunks[0], -1))[:, ::-1]
        far = samples - right.map_blocks(_edge_depth, drop_axis=1, dtype=np.int64)
    # per column: border lines are those before ``first`` or from ``last`` on
    first, last = no_cols, no_cols + lines + 1
    if window.line0 < limit_lines:
        top = strip(0, limit_lines, window.pixel0, window.pixel1).rechunk((-1, dn.chunks[1]))
        first = top.T.map_blocks(_edge_depth, drop_axis=1, dtype=np.int64)
    if window.line1 > lines - limit_lines:
        bottom = strip(lines - limit_lines, lines, window.pixel0, window.pixel1)
        bottom = bottom.rechunk((-1, dn.chunks[1]))[::-1].T
        last = lines - bottom.map_blocks(_edge_depth, drop_axis=1, dtype=np.int64)
    masked: da.Array = da.blockwise(
        _mask_block,
        "ij",
        dn,
        "ij",
        rows,
        "i",
        cols,
        "j",
        near,
        "i",
        far,
        "i",
        first,
        "j",
        last,
        "j",
        dtype=np.uint16,
    )
    return masked


def _edge_depth(strip: np.ndarray) -> np.ndarray:
    """Per row of ``strip`` (its first column at an image edge): samples before the first
    one above :data:`DN_THRESHOLD`, the whole strip when none is."""
    above = strip > DN_THRESHOLD
    depth: np.ndarray = np.where(above.any(axis=1), above.argmax(axis=1), strip.shape[1])
    return depth.astype(np.int64)


def _mask_block(
    dn: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    near: np.ndarray,
    far: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
) -> np.ndarray:
    border = (cols[None, :] < near[:, None]) | (cols[None, :] >= far[:, None])
    border |= (rows[:, None] < first[None, :]) | (rows[:, None] >= last[None, :])
    if not border.any():
        return dn
    masked: np.ndarray = np.where(border, np.uint16(0), dn)
    return masked
