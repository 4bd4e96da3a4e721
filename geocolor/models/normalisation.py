"""Mapping of SAR (dB) and optical (reflectance) values to the networks' [-1, 1] range.

A normalisation is plain data: per-band bounds, estimated from the training tiles by
:func:`geocolor.train.normalisation_fit.fit_normalisation`. The spec is saved with every
logged model, since inference must normalise exactly as training did; loading it needs
neither the store nor zarr.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from geocolor.errors import GeocolorError


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
