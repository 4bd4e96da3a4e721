from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from geocolor.models.normalisation import Normalisation
from geocolor.train.metrics import (
    MAX_PSNR,
    MetricMeans,
    evaluate_generator,
    image_metrics,
    l1,
    psnr,
    spectral_angle,
    ssim,
)

RANGE = torch.tensor([0.1, 0.2, 0.4])


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


def test_constant_offset_gives_known_psnr_and_l1() -> None:
    image = textured()
    # an error of a tenth of each band's range everywhere: MSE 0.01 -> 20 dB
    shifted = image + RANGE.view(1, 3, 1, 1) / 10
    torch.testing.assert_close(
        psnr(shifted, image, all_valid(image), RANGE), torch.full((2,), 20.0)
    )
    expected_l1 = float(RANGE.mean() / 10)
    torch.testing.assert_close(l1(shifted, image, all_valid(image)), torch.full((2,), expected_l1))


def test_ssim_of_two_flat_images_is_the_luminance_term() -> None:
    a, b = 0.3, 0.1
    pred, target = torch.full((1, 3, 16, 16), a), torch.full((1, 3, 16, 16), b)
    c1 = (0.01 * RANGE) ** 2
    expected = ((2 * a * b + c1) / (a * a + b * b + c1)).mean()
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


def test_evaluate_generator_scores_in_reflectance() -> None:
    spec = Normalisation(
        ("VV",), (-20.0,), (0.0,), ("B02", "B03", "B04"), (0.0,) * 3, tuple(RANGE.tolist())
    )
    identity_plus = nn.Conv2d(1, 3, 1)
    assert identity_plus.bias is not None
    with torch.no_grad():
        identity_plus.weight.fill_(1.0)
        identity_plus.bias.fill_(0.1)  # 0.1 in [-1, 1] is 5 % of each range
    sar = torch.rand(2, 1, 16, 16) * 1.6 - 0.9
    batch = {"sar": sar, "optical": sar.expand(-1, 3, -1, -1), "valid": torch.ones(2, 1, 16, 16)}
    scores = evaluate_generator(identity_plus, [batch], spec, torch.device("cpu"))
    assert scores["psnr"] == pytest.approx(-20 * math.log10(0.05), abs=1e-3)
    assert scores["l1"] == pytest.approx(float((RANGE * 0.05).mean()), rel=1e-4)
    assert identity_plus.training
