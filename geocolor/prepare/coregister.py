"""Residual sub-pixel shift between a warped Sentinel-1 image and its Sentinel-2 grid.

Orbit and DEM errors leave the radar a fraction of a pixel to a few pixels off the
optical grid after warping. SAR and optical radiometry are unrelated (a forest is
dark in reflectance and bright in backscatter), so the images are compared through
their edges only: each becomes a doubled-angle gradient orientation field,
``exp(2iθ)`` weighted by a soft, contrast-normalised gradient magnitude, which is the
same for an edge whatever the sign of its contrast. The two fields are compared by
a masked normalised cross-correlation computed with FFTs (Padfield, IEEE TIP 21,
2012), so no-data and clouds neither add edges nor favour the shift that best
overlaps them, and the peak is refined by matrix-multiply DFT upsampling
(Guizar-Sicairos, Thurman & Fienup, Opt. Lett. 33, 2008). The cross-power spectrum
is not whitened as in phase correlation: the fields are already contrast-normalised,
and whitening hands the speckle-dominated high frequencies as much weight as the
edges (on synthetic 256² S1/S2 pairs it raised the mean error from 0.12 to 0.95 px).

Sign convention: a shift ``(dy, dx)`` is what to apply to ``moving`` to align it to
``reference``; applying it moves the content ``dy`` rows down and ``dx`` columns
right, ``apply_shift(moving, dy, dx)[y, x] == moving[y - dy, x - dx]``
(:mod:`geocolor.prepare.shift`). So when the
content of ``moving`` sits one pixel below and one right of where the reference has
it, ``estimate_shift`` returns ``dy == dx == -1``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import dask.array as da
import numpy as np
from dask.base import compute
from numpy.typing import ArrayLike, NDArray
from scipy import fft, ndimage

logger = logging.getLogger("geocolor.prepare.coregister")

Image = NDArray[np.floating]
Mask = NDArray[np.bool_]
Field = NDArray[np.complexfloating]

SMOOTHING_SIGMA = 1.5
"""Gaussian σ (pixels) that tames speckle before differentiating; it also fills holes."""

SATURATION = 3.0
"""Gradient magnitude, in medians of the image's own, at which an edge weighs half."""

MIN_PEAK_TO_SIDELOBE = 7.0
"""Peak-to-sidelobe ratio under which an estimate is not trusted.

On unrelated images (white or smooth noise, a flat field against pure speckle) the
highest value within a ±8 pixel search window lies 2.5 standard deviations above the
mean on average and under 5 in every one of 180 trials; synthetic S1/S2 pairs of
the same land cover score over 25 on 256² pixels and over 50 on 512².
"""

MIN_VALID_FRACTION = 0.5
"""Tiles with fewer pixels valid in both images are not used."""

CANDIDATES_PER_TILE = 2
"""Tiles read per tile estimated: the texture ranking chooses among this many."""


@dataclass(frozen=True)
class ShiftEstimate:
    """A shift to apply to the moving image, with how far to trust it.

    Attributes
    ----------
    dy, dx
        Pixels (rows down, columns right) that align ``moving`` to ``reference``
        when passed to :func:`~geocolor.prepare.shift.apply_shift`.
    quality
        Peak-to-sidelobe ratio of the correlation surface (the median over the
        reliable tiles for a tiled estimate); under 5 for unrelated images.
    reliable
        Whether ``quality`` reaches :data:`MIN_PEAK_TO_SIDELOBE` with the peak
        strictly inside the search window (for a tiled estimate: whether any tile's
        estimate is reliable).
    tiles
        How many estimates were combined: ``1`` for :func:`estimate_shift`, the
        number of reliable tiles for :func:`estimate_shift_tiled`.
    """

    dy: float
    dx: float
    quality: float
    reliable: bool
    tiles: int = 1


def estimate_shift(
    reference: ArrayLike,
    moving: ArrayLike,
    *,
    reference_mask: ArrayLike | None = None,
    moving_mask: ArrayLike | None = None,
    max_shift: float = 8,
    upsample: int = 20,
) -> ShiftEstimate:
    """Estimate the shift aligning ``moving`` (e.g. S1 dB) to ``reference`` (e.g. S2).

    Parameters
    ----------
    reference, moving
        Same-shape 2-D images on one grid, any radiometry; NaN marks no data.
    reference_mask, moving_mask
        Optional boolean arrays, ``True`` where a pixel is usable (cloud-free,
        inside the swath); NaN pixels are unusable whatever the mask says.
    max_shift
        Largest shift searched along each axis, in pixels.
    upsample
        Sub-pixel refinement factor: the peak is located to ``1 / upsample`` pixel.
    """
    reference_image = np.asarray(reference, dtype=np.float32)
    moving_image = np.asarray(moving, dtype=np.float32)
    _check_shapes(reference_image, moving_image, reference_mask, moving_mask)
    estimate = _estimate(
        reference_image,
        moving_image,
        _validity(reference_image, reference_mask),
        _validity(moving_image, moving_mask),
        max_shift=max_shift,
        upsample=upsample,
    )
    _log(estimate, reference_image.shape)
    return estimate


def estimate_shift_tiled(
    reference: ArrayLike | da.Array,
    moving: ArrayLike | da.Array,
    *,
    reference_mask: ArrayLike | da.Array | None = None,
    moving_mask: ArrayLike | da.Array | None = None,
    max_shift: float = 8,
    upsample: int = 20,
    tile: int = 512,
    max_tiles: int = 16,
) -> ShiftEstimate:
    """Estimate one shift for a whole scene from a few well-textured tiles.

    Ranking every tile would mean computing the whole Sentinel-1 chain once just to
    choose; instead ``CANDIDATES_PER_TILE * max_tiles`` tiles spread evenly over the
    scene are read (for dask arrays only those are computed), those with enough
    valid pixels are ranked by gradient energy, and the best ``max_tiles`` are
    estimated. The result is the component-wise median of the reliable tile
    estimates, so a few tiles fooled by clouds, water or layover do not move it.
    Memory is bounded by the tiles read (``CANDIDATES_PER_TILE * max_tiles`` tiles of
    each image and mask), whatever the scene size.

    Parameters
    ----------
    reference, moving, reference_mask, moving_mask, max_shift, upsample
        As for :func:`estimate_shift`, as numpy or dask arrays.
    tile
        Tile side in pixels; tiles lie on a regular grid from the top-left corner.
    max_tiles
        Most tiles estimated.
    """
    reference_source, moving_source = _sliceable(reference), _sliceable(moving)
    mask_sources = [
        None if mask is None else _sliceable(mask) for mask in (reference_mask, moving_mask)
    ]
    _check_shapes(reference_source, moving_source, *mask_sources)
    windows = _spread_windows(reference_source.shape, tile, CANDIDATES_PER_TILE * max_tiles)
    candidates = [
        candidate
        for candidate in _read_windows(windows, [reference_source, moving_source, *mask_sources])
        if candidate.valid_fraction >= MIN_VALID_FRACTION
    ]
    ranking = np.argsort(-_texture_scores(candidates), kind="stable")
    chosen = [candidates[index] for index in ranking[:max_tiles]]
    estimates = []
    for candidate in chosen:
        estimate = _estimate(*candidate.arrays, max_shift=max_shift, upsample=upsample)
        logger.debug("tile at %s: %s", candidate.origin, estimate)
        estimates.append(estimate)
    combined = _combine(estimates)
    _log(combined, reference_source.shape)
    return combined


@dataclass(frozen=True)
class _Candidate:
    """One tile read from both images, with what ranks it."""

    origin: tuple[int, int]
    arrays: tuple[Image, Image, Mask, Mask]
    valid_fraction: float
    gradient_energy: tuple[float, float]


def _sliceable(source: ArrayLike | da.Array) -> NDArray[np.generic] | da.Array:
    return source if isinstance(source, da.Array) else np.asarray(source)


def _check_shapes(
    reference: ArrayLike | da.Array,
    moving: ArrayLike | da.Array,
    *masks: ArrayLike | da.Array | None,
) -> None:
    """Refuse images that are not on one grid: a caller bug, not a user error."""
    shape = np.shape(reference)
    shapes = [np.shape(moving), *(np.shape(mask) for mask in masks if mask is not None)]
    if len(shape) != 2 or any(other != shape for other in shapes):
        raise ValueError(f"expected 2-D images and masks of one shape, got {shape} and {shapes}")


def _validity(image: Image, mask: ArrayLike | None) -> Mask:
    valid = np.isfinite(image)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    return valid


def _smoothed_gradient(image: Image, valid: Mask) -> tuple[Field, Mask]:
    """Gradient (``∂x + i∂y``) of the speckle-smoothed image, and where it is sound.

    Holes are filled by normalised convolution (the local mean of valid pixels), so
    smoothing adds no edge at their rim; the returned mask also drops the two pixels
    next to a hole, whose Sobel stencil reaches into the fill.
    """
    support = ndimage.gaussian_filter(valid.astype(np.float32), SMOOTHING_SIGMA)
    total = ndimage.gaussian_filter(np.where(valid, image, 0.0), SMOOTHING_SIGMA)
    smoothed = np.divide(total, support, out=np.zeros_like(total), where=support > 1e-6)
    gradient = ndimage.sobel(smoothed, axis=1) + 1j * ndimage.sobel(smoothed, axis=0)
    sound = ndimage.binary_erosion(valid, iterations=2)
    return gradient, sound


def _orientation_field(image: Image, valid: Mask) -> tuple[Field, Mask]:
    """Doubled-angle gradient field, the same for an edge whatever its contrast sign.

    The weight ``|g| / (|g| + SATURATION · median |g|)`` saturates on strong edges,
    so neither a few bright SAR scatterers nor either image's overall contrast
    dominates. The field is zero outside the returned mask.
    """
    gradient, sound = _smoothed_gradient(image, valid)
    magnitude = np.abs(gradient)
    scale = float(np.median(magnitude[sound])) if sound.any() else 0.0
    if scale == 0:
        return np.zeros_like(gradient), np.zeros_like(sound)
    direction = gradient / np.where(magnitude > 0, magnitude, 1)
    field = direction**2 * (magnitude / (magnitude + SATURATION * scale))
    field[~sound] = 0
    return field, sound


def _estimate(
    reference: Image,
    moving: Image,
    reference_valid: Mask,
    moving_valid: Mask,
    *,
    max_shift: float,
    upsample: int,
) -> ShiftEstimate:
    spectra = _cross_spectra(
        *_orientation_field(reference, reference_valid),
        *_orientation_field(moving, moving_valid),
        margin=math.ceil(max_shift) + 2,
    )
    correlations = fft.ifft2(spectra)
    overlap = correlations[3].real
    if overlap.max() < 1:
        return ShiftEstimate(0.0, 0.0, 0.0, False)
    surface = _normalised(correlations)
    rows, cols = surface.shape
    lag_y = np.fft.fftfreq(rows, 1 / rows)[:, np.newaxis]
    lag_x = np.fft.fftfreq(cols, 1 / cols)[np.newaxis, :]
    searched = (np.abs(lag_y) <= max_shift) & (np.abs(lag_x) <= max_shift)
    peak = np.unravel_index(np.argmax(np.where(searched, surface, -np.inf)), surface.shape)
    row, col = int(peak[0]), int(peak[1])
    peak_y, peak_x = float(lag_y[row, 0]), float(lag_x[0, col])
    quality = _peak_to_sidelobe(surface, overlap >= overlap.max() / 2, row, col)
    inside = max(abs(peak_y), abs(peak_x)) < math.floor(max_shift)
    dy, dx = _refine(spectra[:3], peak_y, peak_x, upsample)
    return ShiftEstimate(dy, dx, quality, inside and quality >= MIN_PEAK_TO_SIDELOBE)


def _cross_spectra(
    reference_field: Field,
    reference_sound: Mask,
    moving_field: Field,
    moving_sound: Mask,
    *,
    margin: int,
) -> Field:
    """Spectra of the four correlations a masked normalised correlation needs.

    Stacked: fields, reference energy under the moving mask, moving energy under
    the reference mask, and mask overlap (Padfield, IEEE TIP 21, 2012). Zero
    padding by ``margin`` makes lags up to it linear rather than circular, so the
    image edges need no apodisation window: outside the image is simply masked.
    """
    shape = [fft.next_fast_len(size + margin) for size in reference_field.shape]
    reference_spectra = fft.fft2(_stack_for_fft(reference_field, reference_sound), s=shape)
    moving_spectra = np.conj(fft.fft2(_stack_for_fft(moving_field, moving_sound), s=shape))
    field, energy, support = 0, 1, 2
    pairs = [(field, field), (energy, support), (support, energy), (support, support)]
    spectra = np.empty((len(pairs), *shape), dtype=reference_spectra.dtype)
    for index, (reference_part, moving_part) in enumerate(pairs):
        np.multiply(
            reference_spectra[reference_part], moving_spectra[moving_part], out=spectra[index]
        )
    return spectra


def _stack_for_fft(field: Field, sound: Mask) -> NDArray[np.complex64]:
    """Field, energy and mask in single precision: as accurate here, and faster."""
    stacked = np.empty((3, *field.shape), dtype=np.complex64)
    stacked[0] = field
    stacked[1] = np.abs(field) ** 2
    stacked[2] = sound
    return stacked


def _normalised(correlations: Field) -> Image:
    """Correlation over the overlap divided by both images' energies there."""
    energy = correlations[1].real * correlations[2].real
    floor = 1e-9 * energy.max()
    return np.where(energy > floor, correlations[0].real / np.sqrt(np.maximum(energy, floor)), 0)


def _peak_to_sidelobe(surface: Image, region: Mask, row: int, col: int) -> float:
    """Height of the peak above the surface mean, in standard deviations.

    Only lags where the images overlap by at least half count (a small overlap
    makes a noisy correlation), and the peak's own lobe (±2 pixels) is left out.
    """
    lobe = np.zeros(surface.shape, dtype=bool)
    lobe[
        np.ix_(
            np.arange(row - 2, row + 3) % surface.shape[0],
            np.arange(col - 2, col + 3) % surface.shape[1],
        )
    ] = True
    sidelobe = surface[region & ~lobe]
    spread = float(sidelobe.std()) if sidelobe.size else 0.0
    if spread == 0:
        return 0.0
    return float((surface[row, col] - sidelobe.mean()) / spread)


def _refine(spectra: Field, peak_y: float, peak_x: float, upsample: int) -> tuple[float, float]:
    """Locate the peak to ``1 / upsample`` pixel with DFTs evaluated only near it.

    The inverse DFTs on a 1.5 × 1.5 pixel patch around the integer peak, sampled
    every ``1 / upsample`` pixel, are small matrix products where a zero-padded FFT
    would be ``upsample²`` times the image (Guizar-Sicairos et al., 2008).
    """
    half = math.ceil(0.75 * upsample)
    steps = np.arange(-half, half + 1) / upsample
    lags_y, lags_x = peak_y + steps, peak_x + steps
    rows, cols = spectra.shape[1:]
    kernel_y = (np.exp(2j * np.pi * np.outer(lags_y, np.fft.fftfreq(rows))) / rows).astype(
        spectra.dtype
    )
    kernel_x = (np.exp(2j * np.pi * np.outer(np.fft.fftfreq(cols), lags_x)) / cols).astype(
        spectra.dtype
    )
    patch = _normalised(kernel_y @ spectra @ kernel_x)
    best_y, best_x = np.unravel_index(np.argmax(patch), patch.shape)
    return float(lags_y[best_y]), float(lags_x[best_x])


def _spread_windows(shape: tuple[int, ...], tile: int, count: int) -> list[tuple[slice, slice]]:
    """``count`` windows of the tile grid spread evenly: centre first, then farthest."""
    rows, cols = max(shape[0] // tile, 1), max(shape[1] // tile, 1)
    grid_y, grid_x = np.divmod(np.arange(rows * cols), cols)
    centres = np.stack([grid_y - (rows - 1) / 2, grid_x - (cols - 1) / 2], axis=1)
    chosen = [int(np.argmin(np.hypot(*centres.T)))]
    nearest = np.hypot(*(centres - centres[chosen[0]]).T)
    while len(chosen) < min(count, rows * cols):
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.hypot(*(centres - centres[chosen[-1]]).T))
    height, width = min(tile, shape[0]), min(tile, shape[1])
    return [
        (
            slice(int(grid_y[index]) * tile, int(grid_y[index]) * tile + height),
            slice(int(grid_x[index]) * tile, int(grid_x[index]) * tile + width),
        )
        for index in chosen
    ]


def _read_windows(
    windows: list[tuple[slice, slice]],
    sources: list[NDArray[np.generic] | da.Array | None],
) -> list[_Candidate]:
    """Read the windows of every image and mask, computing dask sources in one pass."""
    # dask leaves compute unannotated
    (pieces,) = compute(
        [[None if source is None else source[window] for source in sources] for window in windows]
    )
    candidates = []
    for window, (reference, moving, reference_mask, moving_mask) in zip(
        windows, pieces, strict=True
    ):
        reference_image = np.asarray(reference, dtype=np.float32)
        moving_image = np.asarray(moving, dtype=np.float32)
        reference_valid = _validity(reference_image, reference_mask)
        moving_valid = _validity(moving_image, moving_mask)
        candidates.append(
            _Candidate(
                origin=(window[0].start, window[1].start),
                arrays=(reference_image, moving_image, reference_valid, moving_valid),
                valid_fraction=float((reference_valid & moving_valid).mean()),
                gradient_energy=(
                    _gradient_energy(reference_image, reference_valid),
                    _gradient_energy(moving_image, moving_valid),
                ),
            )
        )
    return candidates


def _gradient_energy(image: Image, valid: Mask) -> float:
    gradient, sound = _smoothed_gradient(image, valid)
    return float(np.mean(np.abs(gradient[sound]) ** 2)) if sound.any() else 0.0


def _texture_scores(candidates: list[_Candidate]) -> NDArray[np.float64]:
    """Geometric mean of each image's gradient energy over its median over the tiles.

    Dividing by the median makes the two radiometries commensurable, so neither
    image alone decides which tiles are textured.
    """
    if not candidates:
        return np.empty(0)
    energies = np.array([candidate.gradient_energy for candidate in candidates])
    medians = np.median(energies, axis=0)
    relative = energies / np.where(medians > 0, medians, 1.0)
    scores: NDArray[np.float64] = np.sqrt(relative.prod(axis=1))
    return scores


def _combine(estimates: list[ShiftEstimate]) -> ShiftEstimate:
    reliable = [estimate for estimate in estimates if estimate.reliable]
    if not reliable:
        best = max((estimate.quality for estimate in estimates), default=0.0)
        return ShiftEstimate(0.0, 0.0, best, False, tiles=0)
    return ShiftEstimate(
        dy=float(np.median([estimate.dy for estimate in reliable])),
        dx=float(np.median([estimate.dx for estimate in reliable])),
        quality=float(np.median([estimate.quality for estimate in reliable])),
        reliable=True,
        tiles=len(reliable),
    )


def _log(estimate: ShiftEstimate, shape: tuple[int, ...]) -> None:
    logger.info(
        "residual shift on %s image: dy=%+.2f dx=%+.2f px, quality %.1f from %d estimate(s), %s",
        "x".join(map(str, shape)),
        estimate.dy,
        estimate.dx,
        estimate.quality,
        estimate.tiles,
        "reliable" if estimate.reliable else "NOT reliable",
    )
