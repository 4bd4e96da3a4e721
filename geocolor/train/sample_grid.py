"""The picture logged after each validation: SAR, generated and real optical side by side."""

from __future__ import annotations

import numpy as np
import torch

from geocolor.models.normalisation import Normalisation
from geocolor.models.rgb import rgb_band_indices


def sample_grid(
    sar: torch.Tensor,
    generated: torch.Tensor,
    real: torch.Tensor,
    valid: torch.Tensor,
    normalisation: Normalisation,
) -> np.ndarray:
    """An RGB uint8 picture, one row per tile: SAR | generated | real (masked black).

    SAR shows its first band in grey; optical shows B04/B03/B02 when present, else its
    first three bands. Values are the normalised ones, so the percentile stretch of
    training is the display stretch.
    """
    rgb = _rgb_bands(normalisation.optical_bands)
    rows = []
    for i in range(sar.shape[0]):
        panels = [
            sar[i, :1].expand(3, -1, -1),
            generated[i, rgb],
            torch.where(valid[i] > 0, real[i, rgb], -1.0),
        ]
        rows.append(torch.cat([_padded(panel) for panel in panels], dim=2))
    picture = torch.cat(rows, dim=1)
    return ((picture.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def _rgb_bands(bands: tuple[str, ...]) -> list[int]:
    """B04/B03/B02 when present, else the first three bands (the last one repeated)."""
    found = rgb_band_indices(bands)
    return list(found) if found is not None else [min(i, len(bands) - 1) for i in range(3)]


def _padded(panel: torch.Tensor) -> torch.Tensor:
    """A one-pixel white border, so neighbouring panels stay apart."""
    return torch.nn.functional.pad(panel, (1, 1, 1, 1), value=1.0)
