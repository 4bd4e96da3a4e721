from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from geocolor.models.layers import (
    ResizeConv,
    SceneInstanceNorm,
    calibrate_frozen_statistics,
    gather_scene_statistics,
    norm_layers,
    paused_running_stats,
    set_norm_mode,
)
from geocolor.plugins.manager import load_plugins


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors run fastest, and steadiest on a shared machine, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def conv_stack(channels: int = 3, width: int = 6, layers: int = 3) -> nn.Sequential:
    """Convolutions, each followed by a SceneInstanceNorm and ReLU."""
    modules: list[nn.Module] = []
    for index in range(layers):
        modules += [
            nn.Conv2d(channels if index == 0 else width, width, 3, padding=1),
            SceneInstanceNorm(width),
            nn.ReLU(),
        ]
    return nn.Sequential(*modules)


def test_tile_mode_is_instance_norm() -> None:
    torch.manual_seed(0)
    x = 3 * torch.randn(2, 4, 9, 7) + 5
    layer, reference = SceneInstanceNorm(4), nn.InstanceNorm2d(4)
    set_norm_mode(layer, "tile")
    for training in (True, False):
        layer.train(training)
        torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=1e-6)


def test_batch_mode_the_default_is_batch_norm_in_training() -> None:
    """The statistics of a training batch, pooled as a scene's are for inference."""
    torch.manual_seed(0)
    x = 3 * torch.randn(3, 4, 9, 7) + torch.arange(4.0).view(1, 4, 1, 1)
    layer = SceneInstanceNorm(4)
    reference = nn.BatchNorm2d(4, affine=False, track_running_stats=False)
    assert layer.mode == "batch"
    for training in (True, False):
        layer.train(training)
        torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=1e-5)
    # the same pooling as scene statistics gathered from that batch
    scene = SceneInstanceNorm(4).eval()
    gather_scene_statistics(scene, [x])
    torch.testing.assert_close(scene(x), layer(x), rtol=0, atol=1e-5)


def test_a_featureless_channel_normalises_to_zero_with_no_gradient() -> None:
    """A constant crop: rounding noise over sqrt(eps), a gradient 316 times its input's."""
    x = torch.randn(2, 3, 8, 8)
    x[1, 0] = -1.0  # calm water at the SAR floor
    x[0, 2] = 1e-4 * torch.randn(8, 8) + 0.5  # low contrast, but a feature
    x.requires_grad_(True)
    layer = SceneInstanceNorm(3)
    set_norm_mode(layer, "tile")
    out = layer(x)
    assert torch.equal(out[1, 0], torch.zeros(8, 8))
    reference = nn.InstanceNorm2d(3)(x)
    torch.testing.assert_close(out[0], reference[0])
    torch.testing.assert_close(out[1, 1:], reference[1, 1:])
    assert out[0, 2].abs().max() > 0.01
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad[1, 0], torch.zeros(8, 8))
    assert x.grad[0, 2].abs().max() > 1


def test_a_featureless_batch_channel_normalises_to_zero_with_no_gradient() -> None:
    x = torch.randn(2, 3, 8, 8)
    x[:, 0] = -1.0  # a batch of calm water
    x.requires_grad_(True)
    out = SceneInstanceNorm(3)(x)
    assert torch.equal(out[:, 0], torch.zeros(2, 8, 8))
    reference = nn.BatchNorm2d(3, affine=False, track_running_stats=False)(x)
    torch.testing.assert_close(out[:, 1:], reference[:, 1:])
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad[:, 0], torch.zeros(2, 8, 8))
    assert x.grad[:, 1:].abs().max() > 0.1


def test_frozen_statistics_are_learnt_in_training_only() -> None:
    torch.manual_seed(0)
    x = 2 * torch.randn(3, 4, 8, 8) + torch.arange(4.0).view(1, 4, 1, 1)
    layer = SceneInstanceNorm(4, momentum=1.0).eval()
    layer(x)
    assert torch.equal(layer.running_mean, torch.zeros(4))
    assert torch.equal(layer.running_square, torch.ones(4))

    layer.train()
    layer(x)
    # Running values average the per-instance mean and mean square over the batch.
    torch.testing.assert_close(layer.running_mean, x.mean(dim=(2, 3)).mean(dim=0))
    torch.testing.assert_close(layer.running_square, x.square().mean(dim=(2, 3)).mean(dim=0))

    set_norm_mode(layer, "frozen")
    layer.eval()
    pooled = x.transpose(0, 1).reshape(4, -1)
    expected = (x - pooled.mean(1).view(1, 4, 1, 1)) / torch.sqrt(
        pooled.var(1, correction=0).view(1, 4, 1, 1) + layer.eps
    )
    torch.testing.assert_close(layer(x), expected, rtol=1e-4, atol=1e-4)


def test_frozen_statistics_survive_a_state_dict_round_trip() -> None:
    torch.manual_seed(0)
    trained = conv_stack().train()
    for _ in range(3):
        trained(torch.randn(2, 3, 16, 16))
    restored = conv_stack()
    restored.load_state_dict(trained.state_dict())
    for net in (trained, restored):
        net.eval()
        set_norm_mode(net, "frozen")
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(trained(x), restored(x))
    assert not any("scene" in key for key in trained.state_dict())


def test_paused_running_stats_leave_the_buffers_alone() -> None:
    torch.manual_seed(0)
    net = conv_stack().train()
    before = {key: value.clone() for key, value in net.state_dict().items()}
    with paused_running_stats(net):
        net(torch.randn(2, 3, 8, 8))
    assert all(torch.equal(value, before[key]) for key, value in net.state_dict().items())
    net(torch.randn(2, 3, 8, 8))
    assert not torch.equal(net.state_dict()["1.running_mean"], before["1.running_mean"])


def test_scene_statistics_pool_every_pixel_of_every_tile() -> None:
    torch.manual_seed(0)
    layer = SceneInstanceNorm(3)
    tiles = [torch.randn(2, 3, 8, 8) + 4, 3 * torch.randn(1, 3, 16, 12) - 1]
    gather_scene_statistics(nn.Sequential(layer), tiles)
    pixels = torch.cat([tile.transpose(0, 1).reshape(3, -1) for tile in tiles], dim=1).double()
    assert layer.mode == "scene"
    torch.testing.assert_close(layer.scene_mean.double(), pixels.mean(1), rtol=0, atol=1e-5)
    torch.testing.assert_close(
        layer.scene_var.double(), pixels.var(1, correction=0), rtol=1e-5, atol=1e-5
    )


def test_scene_statistics_of_one_tile_reproduce_tile_mode() -> None:
    torch.manual_seed(0)
    net = conv_stack(layers=3).eval()
    tile = torch.randn(1, 3, 16, 16)
    per_tile = net(tile)
    gather_scene_statistics(net, [tile])
    torch.testing.assert_close(net(tile), per_tile, rtol=1e-4, atol=1e-4)
    assert not net.training


def test_mixed_tile_shapes_pool_like_one_batch() -> None:
    """Tiles of two shapes give the statistics of the same pixels in one batch."""
    torch.manual_seed(0)
    net = conv_stack(layers=3).eval()
    tiles = torch.randn(3, 3, 16, 16)
    gather_scene_statistics(net, [tiles])
    expected = [layer.scene_mean.clone() for layer in norm_layers(net)]
    halves = [tiles[:, :, :, :8], tiles[:, :, :, 8:]]  # same pixels, other shapes
    gather_scene_statistics(net, [halves[0], halves[1][:, :, :, :4], halves[1][:, :, :, 4:]])
    for layer, mean in zip(norm_layers(net), expected, strict=True):
        # padding of the convolutions differs at the cut, so the match is close, not exact
        torch.testing.assert_close(layer.scene_mean, mean, rtol=0.05, atol=0.05)


def test_scene_mode_makes_the_output_independent_of_the_crop() -> None:
    backend = load_plugins(autoload=False).backends.get("cyclegan")
    config = backend.config_type(ngf=8, n_blocks=1)
    radius = backend.receptive_field(config)
    torch.manual_seed(0)
    generator = backend.build_generator(2, 3, config).eval()
    line = torch.linspace(0, 6, 128)
    waves = torch.sin(line)[:, None] * torch.cos(line)[None, :]
    ramp = torch.cos(2 * line)[:, None].expand(128, 128)
    scene = torch.stack([waves, ramp])[None] + 0.3 * torch.randn(1, 2, 128, 128)
    crops = [(0, 0), (24, 48), (48, 16)]  # offsets on the generator's 4-px grid
    size = 80

    def interior_mismatch() -> float:
        whole = generator(scene)
        worst = 0.0
        for top, left in crops:
            part = generator(scene[..., top : top + size, left : left + size])
            inner = slice(radius, size - radius)
            expected = whole[..., top : top + size, left : left + size]
            worst = max(worst, (part[..., inner, inner] - expected[..., inner, inner]).abs().max())
        return float(worst)

    with torch.no_grad():
        assert interior_mismatch() > 1e-3  # per-tile statistics: each crop is shifted
        gather_scene_statistics(generator, [scene])
        assert all(layer.mode == "scene" for layer in norm_layers(generator))
        assert interior_mismatch() < 1e-5


def test_norm_modes_are_checked() -> None:
    net = conv_stack()
    with pytest.raises(ValueError, match="unknown norm mode"):
        set_norm_mode(net, "instance")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gather_scene_statistics"):
        set_norm_mode(net, "scene")


@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
def test_resize_conv_keeps_a_constant_image_constant(upsampling: Any) -> None:
    torch.manual_seed(0)
    layer = ResizeConv(4, 5, upsampling)
    out = layer(torch.full((1, 4, 6, 7), 0.7))
    assert out.shape == (1, 5, 12, 14)
    flat = out.flatten(2)
    torch.testing.assert_close(flat, flat[..., :1].expand_as(flat), rtol=0, atol=1e-6)


def test_calibrated_frozen_statistics_are_the_pooled_training_statistics() -> None:
    torch.manual_seed(0)
    net = conv_stack(layers=3).eval()
    tiles = torch.randn(4, 3, 16, 16) * 2 + 1
    gather_scene_statistics(net, [tiles])
    pooled = net(tiles)
    set_norm_mode(net, "tile")
    calibrate_frozen_statistics(net, [tiles])
    assert all(layer.mode == "tile" for layer in norm_layers(net))  # as it found them
    set_norm_mode(net, "frozen")
    torch.testing.assert_close(net(tiles), pooled, rtol=1e-4, atol=1e-4)
    assert "running_square" in "".join(net.state_dict())  # saved with the weights
