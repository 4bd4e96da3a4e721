from __future__ import annotations

import math

import pytest
import torch

from geocolor.train.metrics import (
    MAX_PSNR,
    MetricMeans,
    hf_ratio,
    image_metrics,
    l1,
    psnr,
    spectral_angle,
    ssim,
)

RANGE = 0.5


def textured(batch: int = 2, size: int = 24) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return 0.05 + 0.1 * torch.rand(batch, 3, size, size, generator=generator)


def all_valid(image: torch.Tensor) -> torch.Tensor:
    return torch.ones(image.shape[0], 1, *image.shape[2:])


def test_identical_images_score_perfectly() -> None:
    image = textured()
    scores = image_metrics(image, image.clone(), all_valid(image), RANGE)
    assert scores["psnr"].tolist() == [MAX_PSNR, MAX_PSNR]
    torch.testing.assert_close(scores["ssim"], torch.ones(2))
    assert scores["sam"].tolist() == [0.0, 0.0]
    assert scores["l1"].tolist() == [0.0, 0.0]
    torch.testing.assert_close(scores["hf_energy"], scores["hf_energy_target"])


def test_constant_offset_gives_known_psnr_and_l1() -> None:
    image = textured()
    # an error of a tenth of the range everywhere: MSE 0.01 -> 20 dB
    shifted = image + RANGE / 10
    torch.testing.assert_close(
        psnr(shifted, image, all_valid(image), RANGE), torch.full((2,), 20.0)
    )
    expected_l1 = RANGE / 10
    torch.testing.assert_close(l1(shifted, image, all_valid(image)), torch.full((2,), expected_l1))


def test_ssim_of_two_flat_images_is_the_luminance_term() -> None:
    a, b = 0.3, 0.1
    pred, target = torch.full((1, 3, 16, 16), a), torch.full((1, 3, 16, 16), b)
    c1 = (0.01 * RANGE) ** 2
    expected = torch.tensor((2 * a * b + c1) / (a * a + b * b + c1))
    torch.testing.assert_close(ssim(pred, target, all_valid(pred), RANGE)[0], expected)


def test_ssim_falls_as_noise_grows() -> None:
    image = textured(batch=1, size=32)
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(1))
    scores = [
        ssim(image + level * noise, image, all_valid(image), RANGE).item()
        for level in (0.0, 0.01, 0.05, 0.2)
    ]
    assert scores[0] == pytest.approx(1.0)
    assert scores == sorted(scores, reverse=True) and scores[-1] < 0.2


def test_spectral_angle_in_degrees() -> None:
    pred = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    target = torch.tensor([1.0, 1.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    valid = all_valid(pred)
    torch.testing.assert_close(spectral_angle(pred, target, valid), torch.tensor([45.0]))
    # a brighter copy of the same spectrum has no angle to it
    assert spectral_angle(3 * target, target, valid).item() == pytest.approx(0.0, abs=1e-4)


def test_invalid_pixels_do_not_count() -> None:
    image = textured(batch=1, size=32)
    corrupted = image.clone()
    corrupted[:, :, 5:12, 20:30] = 7.0
    valid = all_valid(image)
    valid[:, :, 5:12, 20:30] = 0
    scores = image_metrics(corrupted, image, valid, RANGE)
    assert scores["psnr"].item() == MAX_PSNR
    # windows reaching into the hole use only their valid pixels
    assert scores["ssim"].item() == pytest.approx(1.0, abs=1e-6)
    assert scores["sam"].item() == 0.0 and scores["l1"].item() == 0.0


def test_images_without_valid_pixels_are_skipped_in_means() -> None:
    image = textured()
    valid = all_valid(image)
    valid[1] = 0
    scores = image_metrics(image + 0.01, image, valid, RANGE)
    assert all(math.isnan(values[1].item()) for values in scores.values())
    means = MetricMeans()
    means.add(scores)
    means.add({name: values[:1] for name, values in scores.items()})
    result = means.means()
    assert result["l1"] == pytest.approx(0.01)
    assert result["psnr"] == pytest.approx(scores["psnr"][0].item())
    assert result["hf_ratio"] == pytest.approx(1.0, rel=1e-5)  # an offset adds no texture


def test_psnr_and_ssim_match_scikit_image() -> None:
    """The same numbers as ``skimage.metrics`` with a declared range and Wang's window."""
    metrics = pytest.importorskip("skimage.metrics")
    target = textured(batch=1, size=40)
    pred = target + 0.03 * torch.randn(target.shape, generator=torch.Generator().manual_seed(2))
    valid = all_valid(target)
    expected_psnr = metrics.peak_signal_noise_ratio(
        target[0].numpy(), pred[0].numpy(), data_range=1.0
    )
    expected_ssim = metrics.structural_similarity(
        target[0].numpy(),
        pred[0].numpy(),
        data_range=1.0,
        channel_axis=0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert psnr(pred, target, valid, 1.0).item() == pytest.approx(expected_psnr, abs=1e-4)
    assert ssim(pred, target, valid, 1.0).item() == pytest.approx(expected_ssim, abs=1e-5)


def test_psnr_clips_nothing_out_of_range() -> None:
    """Reflectance above the data range still counts in full: no clipping of either side."""
    target = torch.full((1, 3, 8, 8), 1.5)
    pred = torch.full((1, 3, 8, 8), 1.2)
    expected = -10 * math.log10(0.3**2)
    assert psnr(pred, target, all_valid(target), 1.0).item() == pytest.approx(expected, rel=1e-5)


def test_hf_ratio_matches_scikit_image_laplacian_and_flags_blur_and_noise() -> None:
    filters = pytest.importorskip("skimage.filters")
    target = textured(batch=1, size=32)
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(3))
    blurred = torch.nn.functional.avg_pool2d(
        target, 3, stride=1, padding=1, count_include_pad=False
    )
    valid = all_valid(target)

    def energy(image: torch.Tensor) -> float:
        inner = [filters.laplace(band.numpy(), ksize=3)[1:-1, 1:-1] for band in image[0]]
        return float(sum((response.astype(float) ** 2).sum() for response in inner))

    noisy = target + 0.05 * noise
    expected = energy(noisy) / energy(target)  # sums: the pixel counts cancel
    assert hf_ratio(noisy, target, valid).item() == pytest.approx(expected, rel=1e-4)
    assert hf_ratio(blurred, target, valid).item() < 0.5 < 1.5 < expected
    # a constant colour has no high frequencies at all, a fact PSNR and SSIM hide
    flat = torch.full_like(target, float(target.mean()))
    assert hf_ratio(flat, target, valid).item() == 0.0
