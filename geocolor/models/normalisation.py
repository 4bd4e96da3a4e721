"""Mapping of SAR (dB) and optical (reflectance) values to the networks' [-1, 1] range.

The bounds are per-band percentiles of the TRAINING tiles, so a few bright outliers
(ships, specular returns, sun glint) neither squash the useful range nor leak
information from the validation or test areas. The spec is saved with every logged
model: inference must normalise exactly as training did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import zarr

from geocolor.errors import GeocolorError
from geocolor.prepare.store import TileTable
from geocolor.prepare.tiling import Split
from geocolor.train.dataset import read_sample, store_layout


@dataclass(frozen=True)
class Normalisation:
    """Per-band value ranges mapped linearly onto [-1, 1] (values beyond are clipped)."""

    sar_bands: tuple[str, ...]
    sar_low: tuple[float, ...]
    sar_high: tuple[float, ...]
    optical_bands: tuple[str, ...]
    optical_low: tuple[float, ...]
    optical_high: tuple[float, ...]

    def __post_init__(self) -> None:
        for domain in ("sar", "optical"):
            bands, low, high = (getattr(self, f"{domain}_{part}") for part in BOUND_PARTS)
            if not len(bands) == len(low) == len(high):
                raise GeocolorError(f"{domain} normalisation: bands and bounds differ in length")
            if any(h <= lo for lo, h in zip(low, high, strict=True)):
                raise GeocolorError(f"{domain} normalisation: every high must exceed its low")

    def sar_to_unit(self, sar_db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SAR in dB, bands on dim -3, to [-1, 1]; returns it and its (…, 1, H, W) validity."""
        return _to_unit(sar_db, self.sar_low, self.sar_high)

    def optical_to_unit(self, reflectance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reflectance, bands on dim -3, to [-1, 1]; returns it and its validity."""
        return _to_unit(reflectance, self.optical_low, self.optical_high)

    def to_reflectance(self, optical_unit: torch.Tensor) -> torch.Tensor:
        """Network output in [-1, 1] back to reflectance (bands on dim -3)."""
        low, high = _bounds(optical_unit, self.optical_low, self.optical_high)
        return (optical_unit.clamp(-1, 1) + 1) / 2 * (high - low) + low

    def reflectance_range(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Span of each optical band: the data range of PSNR and SSIM."""
        return torch.tensor(self.optical_high, device=device) - torch.tensor(
            self.optical_low, device=device
        )

    def to_dict(self) -> dict[str, list[str] | list[float]]:
        """JSON-serialisable form, saved with the model."""
        return {
            f"{domain}_{part}": list(getattr(self, f"{domain}_{part}"))
            for domain in ("sar", "optical")
            for part in BOUND_PARTS
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Normalisation:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                **{
                    f"{domain}_{part}": tuple(spec[f"{domain}_{part}"])
                    for domain in ("sar", "optical")
                    for part in BOUND_PARTS
                }
            )
        except (KeyError, TypeError) as exc:
            raise GeocolorError(f"normalisation spec lacks or mangles {exc}") from None

    @classmethod
    def from_store(
        cls,
        root: zarr.Group,
        tiles: TileTable,
        percentiles: tuple[float, float] = (1.0, 99.0),
        max_tiles: int = 64,
        seed: int = 0,
    ) -> Normalisation:
        """Estimate the bounds as percentiles of valid pixels in a sample of training tiles.

        Parameters
        ----------
        root
            The open store.
        tiles
            The tile index; only its TRAIN tiles are read.
        percentiles
            Low and high percentile of each band.
        max_tiles
            Most tiles read, drawn without replacement with ``seed``.
        """
        layout = store_layout(root)
        train = tiles.of_split(Split.TRAIN)
        if not len(train):
            raise GeocolorError(f"{root.store_path}: no training tiles to estimate normalisation")
        picked = np.sort(np.random.default_rng(seed).permutation(len(train))[: max(max_tiles, 1)])
        sar_pixels, optical_pixels = [], []
        for i in picked:
            s1, s2, valid = read_sample(
                root, str(train.pair[i]), int(train.row[i]), int(train.col[i]), layout.tile_size
            )
            sar_pixels.append(s1[:, valid])
            optical_pixels.append(s2[:, valid])
        sar_all, optical_all = np.concatenate(sar_pixels, 1), np.concatenate(optical_pixels, 1)
        if not sar_all.shape[1]:
            raise GeocolorError(
                f"{root.store_path}: the sampled training tiles hold no valid pixel"
            )
        sar_low, sar_high = np.percentile(sar_all, percentiles, axis=1)
        optical_low, optical_high = np.percentile(optical_all, percentiles, axis=1)
        for name, low, high in zip(
            (*layout.sar_bands, *layout.optical_bands),
            (*sar_low, *optical_low),
            (*sar_high, *optical_high),
            strict=True,
        ):
            if high <= low:
                raise GeocolorError(
                    f"{root.store_path}: band {name} is constant over the training tiles"
                )
        return cls(
            layout.sar_bands,
            tuple(float(v) for v in sar_low),
            tuple(float(v) for v in sar_high),
            layout.optical_bands,
            tuple(float(v) for v in optical_low),
            tuple(float(v) for v in optical_high),
        )


BOUND_PARTS = ("bands", "low", "high")


def _bounds(
    like: torch.Tensor, low: Sequence[float], high: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    if like.shape[-3] != len(low):
        raise GeocolorError(f"expected {len(low)} bands on axis -3, got shape {tuple(like.shape)}")
    return (
        torch.tensor(low, dtype=like.dtype, device=like.device).view(-1, 1, 1),
        torch.tensor(high, dtype=like.dtype, device=like.device).view(-1, 1, 1),
    )


def _to_unit(
    values: torch.Tensor, low: Sequence[float], high: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = _bounds(values, low, high)
    valid = torch.isfinite(values).all(dim=-3, keepdim=True)
    unit = ((values - lo) / (hi - lo) * 2 - 1).clamp(-1, 1)
    return torch.where(torch.isfinite(values), unit, 0.0), valid
