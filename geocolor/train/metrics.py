"""Image-quality metrics on reflectance, a fixed physical scale, masked by validity.

Every metric takes (B, C, H, W) prediction and target reflectance and a (B, 1, H, W)
validity weight (1 where the target is usable), and returns a (B,) tensor. An image
without a single valid pixel gives NaN, which :class:`MetricMeans` skips.

PSNR and SSIM take a declared ``data_range`` (reflectance 1.0 by default) instead of
the data's own span, and nothing is clipped, so scores compare across stores and with
published tables (PSNR and SSIM as ``skimage.metrics`` defines them, SSIM with
Wang et al.'s Gaussian window). ``hf_ratio`` catches the blur PSNR and SSIM reward.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch.nn import functional

#: Whether a larger value is better, for the metrics a promotion can be decided on.
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "sam": False, "l1": False}
#: Every metric :func:`image_metrics` reports.
METRICS = (*HIGHER_IS_BETTER, "hf_ratio")

#: PSNR of a perfect prediction is capped here (dB) rather than infinite.
MAX_PSNR = 100.0
#: Reflectance span PSNR and SSIM are computed over unless told otherwise.
DEFAULT_DATA_RANGE = 1.0

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03

#: The 3x3 Laplacian (``skimage.filters.laplace``): the high-pass of :func:`hf_ratio`.
LAPLACIAN = ((0.0, -1.0, 0.0), (-1.0, 4.0, -1.0), (0.0, -1.0, 0.0))


def _masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of (B, C, H, W) ``values`` over valid pixels and all channels: (B,)."""
    total = (values * valid).sum(dim=(1, 2, 3))
    count = valid.sum(dim=(1, 2, 3)) * values.shape[1]
    return total / count


def psnr(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, data_range: float
) -> torch.Tensor:
    """Peak signal-to-noise ratio (dB): ``10 log10(data_range² / MSE)``, MSE over all bands."""
    mse = _masked_mean((pred - target) ** 2, valid) / data_range**2
    return -10 * torch.log10(mse.clamp_min(10 ** (-MAX_PSNR / 10)))


def l1(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean absolute reflectance error."""
    return _masked_mean((pred - target).abs(), valid)


def spectral_angle(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean angle (degrees) between predicted and true spectra of valid pixels.

    Kahan's form ``2 atan2(|u - v|, |u + v|)`` of unit vectors stays exact near zero,
    where ``acos`` of a rounded dot product would report a spurious small angle.
    """
    unit_pred = pred / pred.norm(dim=1, keepdim=True).clamp_min(1e-12)
    unit_target = target / target.norm(dim=1, keepdim=True).clamp_min(1e-12)
    angle = 2 * torch.atan2(
        (unit_pred - unit_target).norm(dim=1, keepdim=True),
        (unit_pred + unit_target).norm(dim=1, keepdim=True),
    )
    return _masked_mean(torch.rad2deg(angle), valid)


def ssim(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, data_range: float
) -> torch.Tensor:
    """Structural similarity, per band then averaged (Gaussian window 11, sigma 1.5).

    Local statistics are validity-weighted averages, so invalid pixels do not leak into
    their neighbours' windows; the map is averaged over windows wholly inside the image
    whose centre pixel is valid.
    """
    kernel = _gaussian_window(pred)

    def local_mean(values: torch.Tensor, weight_sum: torch.Tensor) -> torch.Tensor:
        groups = values.shape[1]
        summed = functional.conv2d(values * valid, kernel.expand(groups, 1, -1, -1), groups=groups)
        return summed / weight_sum

    weight_sum = functional.conv2d(valid, kernel).clamp_min(1e-12)
    mean_pred, mean_target = local_mean(pred, weight_sum), local_mean(target, weight_sum)
    var_pred = local_mean(pred * pred, weight_sum) - mean_pred**2
    var_target = local_mean(target * target, weight_sum) - mean_target**2
    covariance = local_mean(pred * target, weight_sum) - mean_pred * mean_target
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    index_map = ((2 * mean_pred * mean_target + c1) * (2 * covariance + c2)) / (
        (mean_pred**2 + mean_target**2 + c1) * (var_pred + var_target + c2)
    )
    margin = SSIM_WINDOW // 2
    centre_valid = valid[:, :, margin:-margin, margin:-margin]
    return _masked_mean(index_map, centre_valid)


def _gaussian_window(like: torch.Tensor) -> torch.Tensor:
    """The (1, 1, 11, 11) normalised Gaussian window on ``like``'s device and dtype."""
    offsets = torch.arange(SSIM_WINDOW, dtype=like.dtype, device=like.device) - SSIM_WINDOW // 2
    profile = torch.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    window = torch.outer(profile, profile)
    return (window / window.sum()).view(1, 1, SSIM_WINDOW, SSIM_WINDOW)


def high_frequency_energy(image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean squared 3x3 Laplacian response, all bands, over wholly valid neighbourhoods."""
    bands = image.shape[1]
    kernel = torch.tensor(LAPLACIAN, dtype=image.dtype, device=image.device)
    inside = -functional.max_pool2d(-valid, 3, stride=1)  # 1 where all 3x3 pixels are valid
    response = functional.conv2d(image * valid, kernel.expand(bands, 1, 3, 3), groups=bands)
    return _masked_mean(response**2, inside)


def hf_ratio(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """High-frequency energy of the prediction over that of the target (1 is right).

    Blur drives it below 1, noise and invented texture above; it needs no learnt
    weights and no data range. Over many images, :class:`MetricMeans` reports the ratio
    of the mean energies, which a nearly flat target cannot blow up.
    """
    return high_frequency_energy(pred, valid) / high_frequency_energy(target, valid)


def image_metrics(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    data_range: float = DEFAULT_DATA_RANGE,
) -> dict[str, torch.Tensor]:
    """Every metric of :data:`METRICS` per image, ``hf_ratio`` as its two energies."""
    return {
        "psnr": psnr(pred, target, valid, data_range),
        "ssim": ssim(pred, target, valid, data_range),
        "sam": spectral_angle(pred, target, valid),
        "l1": l1(pred, target, valid),
        "hf_energy": high_frequency_energy(pred, valid),
        "hf_energy_target": high_frequency_energy(target, valid),
    }


class MetricMeans:
    """Running means of per-image metrics over batches, skipping NaN (no valid pixel).

    The two high-frequency energies become ``hf_ratio``, the ratio of their means.
    """

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, values: Mapping[str, torch.Tensor]) -> None:
        """Add one batch of per-image values."""
        for name, per_image in values.items():
            finite = per_image[~torch.isnan(per_image)]
            self._sums[name] = self._sums.get(name, 0.0) + float(finite.sum())
            self._counts[name] = self._counts.get(name, 0) + int(finite.numel())

    def means(self) -> dict[str, float]:
        """The mean of each metric (NaN when no image had a valid pixel)."""
        means = {
            name: self._sums[name] / count if count else math.nan
            for name, count in self._counts.items()
        }
        if "hf_energy" in means:
            energy, target = means.pop("hf_energy"), means.pop("hf_energy_target")
            means["hf_ratio"] = energy / target if target > 0 else math.nan
        return means
