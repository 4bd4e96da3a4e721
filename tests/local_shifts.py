"""Local misregistration of two images: phase correlation in small windows.

Independent of :mod:`geocolor.prepare.coregister` on purpose: a plain whitened
cross-power spectrum with a parabolic sub-pixel peak, as the terrain-correction checks
against a reference implementation need.
"""

from __future__ import annotations

import numpy as np


def phase_shift(reference: np.ndarray, image: np.ndarray) -> np.ndarray:
    """(rows, cols) by which ``image`` must move to lie on ``reference``."""
    taper = np.outer(np.hanning(reference.shape[0]), np.hanning(reference.shape[1]))
    spectra = [np.fft.fft2((a - a.mean()) * taper) for a in (reference, image)]
    cross = spectra[0] * np.conj(spectra[1])
    surface = np.real(np.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-12)))
    peak = np.unravel_index(np.argmax(surface), surface.shape)
    shift = np.zeros(2)
    for axis, size in enumerate(surface.shape):
        before, after = list(peak), list(peak)
        before[axis] = (peak[axis] - 1) % size
        after[axis] = (peak[axis] + 1) % size
        low, mid, high = surface[tuple(before)], surface[peak], surface[tuple(after)]
        curvature = low - 2.0 * mid + high
        offset = peak[axis] + (0.5 * (low - high) / curvature if curvature else 0.0)
        shift[axis] = offset - size if offset > size / 2 else offset
    return shift


def local_shifts(reference: np.ndarray, image: np.ndarray, window: int = 64) -> np.ndarray:
    """Shift magnitudes (pixels) of ``image`` against ``reference`` in every fully valid
    ``window`` x ``window`` tile, compared in log space (speckle is multiplicative)."""
    magnitudes = []
    for row in range(0, reference.shape[0] - window + 1, window):
        for col in range(0, reference.shape[1] - window + 1, window):
            tiles = [a[row : row + window, col : col + window] for a in (reference, image)]
            if all(np.isfinite(t).all() and (t > 0).all() for t in tiles):
                magnitudes.append(np.hypot(*phase_shift(np.log(tiles[0]), np.log(tiles[1]))))
    return np.array(magnitudes)
