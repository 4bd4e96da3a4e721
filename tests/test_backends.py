from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn

from geocolor.errors import GeocolorError
from geocolor.models.gan.averaging import WeightAverage
from geocolor.models.gan.losses import gan_loss, masked_l1
from geocolor.models.layers import norm_layers, set_norm_mode
from geocolor.plugins.manager import load_plugins
from geocolor.plugins.registry import Registry

SAR_BANDS, OPTICAL_BANDS = 2, 3
SMALL = {
    "cyclegan": {"ngf": 8, "ndf": 8, "n_blocks": 2},
    "pix2pix": {"ngf": 8, "ndf": 8, "depth": 4},
}
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors run fastest, and steadiest on a shared machine, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def backends() -> Registry[Any]:
    return load_plugins(autoload=False).backends


def small(backends: Registry[Any], name: str, **changes: Any) -> tuple[Any, Any]:
    backend = backends.get(name)
    return backend, backend.config_type(**{**SMALL[name], **changes})


def paired_batch(size: int = 32, count: int = 2, seed: int = 0) -> dict[str, Tensor]:
    """Smooth random SAR; optical a fixed colour map of it plus a nonlinear structure term."""
    rng = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, SAR_BANDS, size // 8, size // 8, generator=rng) * 2 - 1
    sar = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    sar = sar + 0.1 * torch.randn(count, SAR_BANDS, size, size, generator=rng)
    colours = torch.tensor([[0.8, -0.3], [0.2, 0.6], [-0.5, 0.4]])
    optical = torch.tanh(
        torch.einsum("oc,bchw->bohw", colours, sar) + 0.3 * sar[:, :1] * sar[:, 1:]
    )
    valid = torch.ones(count, 1, size, size)
    valid[0, :, :, : size // 4] = 0
    return {"sar": sar, "optical": optical, "valid": valid}


def test_both_backends_register_through_the_entry_points(backends: Registry[Any]) -> None:
    assert {"cyclegan", "pix2pix"} <= set(backends.names())
    assert backends.get("cyclegan").paired is False
    assert backends.get("pix2pix").paired is True


@pytest.mark.parametrize("name", ["cyclegan", "pix2pix"])
def test_generator_is_fully_convolutional(backends: Registry[Any], name: str) -> None:
    backend, config = small(backends, name)
    torch.manual_seed(0)
    generator = backend.build_generator(SAR_BANDS, OPTICAL_BANDS, config).eval()
    with torch.no_grad():
        for height, width in [(64, 64), (96, 80)]:
            out = generator(torch.randn(2, SAR_BANDS, height, width))
            assert out.shape == (2, OPTICAL_BANDS, height, width)
            assert out.abs().max() <= 1
            assert out.std() > 0


@pytest.mark.parametrize("name", ["cyclegan", "pix2pix"])
def test_generator_rejects_tiles_that_do_not_fit(backends: Registry[Any], name: str) -> None:
    backend, config = small(backends, name)
    generator = backend.build_generator(SAR_BANDS, OPTICAL_BANDS, config)
    with pytest.raises(GeocolorError, match="multiples of"):
        generator(torch.randn(1, SAR_BANDS, 64, 42))


def test_pix2pix_depth_must_fit_the_tile(backends: Registry[Any]) -> None:
    backend, config = small(backends, "pix2pix", depth=8)
    generator = backend.build_generator(SAR_BANDS, OPTICAL_BANDS, config)
    with pytest.raises(GeocolorError, match=r"depth 8.*multiples of 256.*lower"):
        generator(torch.randn(1, SAR_BANDS, 64, 64))


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("cyclegan", {"ngf": 4}),
        ("cyclegan", {"ngf": 4, "upsampling": "bilinear"}),
        ("pix2pix", {"ngf": 4, "depth": 3}),
    ],
)
def test_receptive_field_is_what_a_perturbation_reaches(
    backends: Registry[Any], name: str, changes: dict[str, Any]
) -> None:
    backend, config = small(backends, name, **changes)
    radius = backend.receptive_field(config)
    torch.manual_seed(0)
    generator = backend.build_generator(SAR_BANDS, OPTICAL_BANDS, config).double().eval()
    set_norm_mode(generator, "frozen")  # fixed statistics: a convolutional network
    size = 2 * radius + 48
    size += -size % 8
    x = torch.randn(1, SAR_BANDS, size, size, dtype=torch.double)
    reached = 0
    with torch.no_grad():
        base = generator(x)
        for pixel in range(size // 2, size // 2 + 8):  # every phase of the strides
            bumped = x.clone()
            bumped[..., pixel, pixel] += 10
            changed = (generator(bumped) - base).abs().amax(dim=(0, 1)) > 0
            rows, cols = torch.nonzero(changed, as_tuple=True)
            reached = max(reached, int((rows - pixel).abs().max()), int((cols - pixel).abs().max()))
    assert reached == radius


def test_default_receptive_fields(backends: Registry[Any]) -> None:
    cyclegan, pix2pix = backends.get("cyclegan"), backends.get("pix2pix")
    # 9 residual blocks at quarter resolution: 4 * 2 * 9 px of the 87 px each side.
    assert cyclegan.receptive_field(cyclegan.config_type()) == 87
    assert pix2pix.receptive_field(pix2pix.config_type()) > 256


@pytest.mark.parametrize(
    ("name", "loss", "ratio"), [("cyclegan", "cycle", 0.6), ("pix2pix", "l1", 0.7)]
)
def test_training_learns_a_fixed_colour_map(
    backends: Registry[Any], name: str, loss: str, ratio: float
) -> None:
    backend, config = small(backends, name)
    torch.manual_seed(0)
    trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    batch = paired_batch()
    history = [trainer.train_step(batch, amp=False) for _ in range(50)]

    def drop(key: str) -> float:
        return sum(step[key] for step in history[-5:]) / sum(step[key] for step in history[:5])

    assert drop(loss) < ratio
    assert drop("generator") < 0.8


@pytest.mark.parametrize("name", ["cyclegan", "pix2pix"])
def test_generators_train_on_batch_statistics_unless_told_otherwise(
    backends: Registry[Any], name: str
) -> None:
    """Batch statistics are the rule colorize's scene statistics apply; tile is the papers'."""
    for train_norm in ("batch", "tile"):
        backend, config = small(backends, name, train_norm=train_norm)
        trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
        generators = [
            network
            for network in trainer.networks().values()
            if isinstance(network, type(trainer.generator))
        ]
        assert len(generators) == (2 if name == "cyclegan" else 1)
        modes = {layer.mode for network in generators for layer in norm_layers(network)}
        assert modes == {train_norm}
        trainer.train_step(paired_batch(), amp=False)


def test_cyclegan_identity_loss_needs_equal_bands(backends: Registry[Any]) -> None:
    backend, config = small(backends, "cyclegan")
    batch = paired_batch()
    unequal = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    assert "identity" not in unequal.train_step(batch, amp=False)
    equal = backend.build_trainer(OPTICAL_BANDS, OPTICAL_BANDS, config, CPU)
    losses = equal.train_step({**batch, "sar": batch["optical"]}, amp=False)
    assert losses["identity"] > 0


@pytest.mark.parametrize(
    ("inverse_scale", "inverse_width", "inverse_blocks", "sar_width"),
    [(1.0, 8, 3, 8), (0.5, 4, 2, 4), (0.1, 1, 1, 1)],
)
def test_cyclegan_inverse_direction_scales_with_inverse_scale(
    backends: Registry[Any],
    inverse_scale: float,
    inverse_width: int,
    inverse_blocks: int,
    sar_width: int,
) -> None:
    backend, config = small(backends, "cyclegan", n_blocks=3, inverse_scale=inverse_scale)
    networks = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU).networks()
    generator, inverse = networks["generator"], networks["inverse"]
    assert generator.model[0].out_channels == 8 and inverse.model[0].out_channels == inverse_width
    blocks = [type(layer).__name__ for layer in inverse.model].count("ResidualBlock")
    assert blocks == inverse_blocks
    assert inverse.model[0].in_channels == OPTICAL_BANDS == generator.model[-2].out_channels
    first_sar_conv = next(
        m for m in networks["sar_discriminator"].modules() if isinstance(m, nn.Conv2d)
    )
    assert first_sar_conv.in_channels == SAR_BANDS and first_sar_conv.out_channels == sar_width
    optical_critic = networks["optical_discriminator"]
    assert next(m for m in optical_critic.modules() if isinstance(m, nn.Conv2d)).out_channels == 8


def test_generator_running_statistics_come_from_real_sar_only(backends: Registry[Any]) -> None:
    backend, config = small(backends, "cyclegan")
    torch.manual_seed(0)
    # Equal bands: G also sees optical images (identity) and F's fakes (cycle).
    trainer = backend.build_trainer(OPTICAL_BANDS, OPTICAL_BANDS, config, CPU)
    sar = torch.randn(2, OPTICAL_BANDS, 32, 32) + 3
    first_conv, first_norm = trainer.generator.model[0], trainer.generator.model[1]
    with torch.no_grad():
        features = copy.deepcopy(first_conv)(sar)
    trainer.train_step({**paired_batch(), "sar": sar}, amp=False)
    expected = first_norm.momentum * features.mean(dim=(2, 3)).mean(dim=0)
    torch.testing.assert_close(first_norm.running_mean, expected)


def test_pix2pix_l1_ignores_invalid_pixels(backends: Registry[Any]) -> None:
    backend, config = small(backends, "pix2pix")
    batch = paired_batch()
    changed = batch["optical"].clone()
    changed[batch["valid"].expand_as(changed) == 0] = -1
    losses = []
    for optical in (batch["optical"], changed):
        torch.manual_seed(0)
        trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
        losses.append(trainer.train_step({**batch, "optical": optical}, amp=False))
    assert losses[0]["l1"] == losses[1]["l1"]
    assert losses[0]["discriminator"] != losses[1]["discriminator"]


def test_masked_losses_count_only_valid_pixels() -> None:
    prediction, target = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    target[..., :2] = 5.0
    valid = torch.zeros(1, 1, 4, 4)
    valid[..., 2:] = 1
    assert masked_l1(prediction, target, valid) == 0
    assert masked_l1(prediction, target, torch.ones_like(valid)) == 2.5
    scores = torch.zeros(1, 1, 2, 2)
    scores[..., 0] = 7.0
    assert gan_loss(scores, False, valid, "lsgan") == 0
    assert gan_loss(scores, False, torch.zeros_like(valid), "vanilla") == 0


def saved(trainer: Any) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(trainer.state_dict(), buffer)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("name", ["cyclegan", "pix2pix"])
def test_a_resumed_run_continues_identically(backends: Registry[Any], name: str) -> None:
    changes = {"pool_size": 2} if name == "cyclegan" else {}  # the pool swaps from step 2
    backend, config = small(backends, name, **changes)
    batch = paired_batch()
    torch.manual_seed(0)
    trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    for step in range(3):
        trainer.train_step(batch, amp=False)
        if step == 1:
            trainer.end_epoch(0, 2)  # halves the learning rate, which must be restored
    state = saved(trainer)
    torch.manual_seed(7)
    uninterrupted = [trainer.train_step(batch, amp=False) for _ in range(2)]

    torch.manual_seed(1)  # a different initialisation, overwritten by the state
    resumed = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    resumed.load_state_dict(torch.load(state))
    torch.manual_seed(7)
    assert [resumed.train_step(batch, amp=False) for _ in range(2)] == uninterrupted
    for before, after in zip(
        trainer.generator.state_dict().values(),
        resumed.generator.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(before, after)


@pytest.mark.parametrize("name", ["cyclegan", "pix2pix"])
def test_amp_is_ignored_on_cpu(backends: Registry[Any], name: str) -> None:
    backend, config = small(backends, name)
    batch = paired_batch()
    losses = []
    for amp in (False, True):
        torch.manual_seed(0)
        trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
        losses.append(trainer.train_step(batch, amp=amp))
    assert losses[0] == losses[1]


def test_learning_rate_is_constant_then_falls_linearly_to_zero(backends: Registry[Any]) -> None:
    backend, config = small(backends, "cyclegan")
    trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    rates = []
    for epoch in range(4):
        trainer.end_epoch(epoch, 4)
        rates.append(trainer.generator_optimizer.param_groups[0]["lr"] / config.lr)
        assert trainer.discriminator_optimizer.param_groups[0]["lr"] == rates[-1] * config.lr
    assert rates == pytest.approx([1, 2 / 3, 1 / 3, 0])


class CountingWrapper(nn.Module):
    """Stands in for DDP: forwards to the network and counts the calls."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.module = network
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return self.module(x)


@pytest.mark.parametrize("name", ["cyclegan", "pix2pix"])
def test_wrapped_networks_train_while_the_generator_stays_bare(
    backends: Registry[Any], name: str
) -> None:
    backend, config = small(backends, name)
    trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    bare = trainer.generator
    wrappers: list[CountingWrapper] = []

    def wrap(network: nn.Module) -> nn.Module:
        wrappers.append(CountingWrapper(network))
        return wrappers[-1]

    trainer.wrap(wrap)
    trainer.train_step(paired_batch(), amp=False)
    assert trainer.generator is bare
    assert len(wrappers) == len(trainer.networks())
    assert all(wrapper.calls > 0 for wrapper in wrappers)


@pytest.mark.parametrize("name", ["cyclegan", "pix2pix"])
def test_multi_scale_critics_and_feature_matching_train(backends: Registry[Any], name: str) -> None:
    backend, config = small(backends, name, discriminator_scales=2, lambda_feature_matching=10)
    torch.manual_seed(0)
    trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    critics = [n for k, n in trainer.networks().items() if "discriminator" in k]
    assert critics and all(len(critic.coarser) == 1 for critic in critics)
    batch = paired_batch(size=64)
    first = trainer.train_step(batch, amp=False)
    assert first["feature_matching"] > 0
    assert all(torch.isfinite(torch.as_tensor(value)) for value in first.values())
    # one scale keeps the single-scale parameter names: older checkpoints still load
    single = backend.build_trainer(
        SAR_BANDS,
        OPTICAL_BANDS,
        backend.config_type(**SMALL[name], lambda_feature_matching=0),
        CPU,
    )
    names = {
        k for n, c in single.networks().items() if "discriminator" in n for k in c.state_dict()
    }
    assert all(key.startswith("model.") for key in names)
    assert "feature_matching" not in single.train_step(paired_batch(), amp=False)
    # on by default where the model-quality benchmark found it paid: CycleGAN only
    assert backend.config_type().lambda_feature_matching == (10 if name == "cyclegan" else 0)


@pytest.mark.parametrize("name", ["cyclegan", "pix2pix"])
def test_featureless_and_invalid_crops_train_to_finite_weights(
    backends: Registry[Any], name: str
) -> None:
    """Calm water clipped to the SAR floor, a saturated optical crop, a crop with no valid
    pixel: tile statistics of a constant crop have zero variance, and 1/sqrt(eps) per
    norm layer once overflowed the gradient of a trained CycleGAN (NaN weights)."""
    backend, config = (
        small(backends, name, n_blocks=6, init_gain=1.0)
        if name == "cyclegan"
        else small(backends, name, init_gain=1.0)
    )
    torch.manual_seed(0)
    trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    batch = paired_batch(count=4)
    batch["sar"][1] = -1.0
    batch["optical"][2] = 1.0
    batch["valid"][3] = 0.0
    for _ in range(3):
        losses = trainer.train_step(batch, amp=False)
        assert all(torch.isfinite(loss) for loss in losses.values()), losses
    for network in trainer.networks().values():
        assert all(torch.isfinite(parameter).all() for parameter in network.parameters())


def test_the_average_follows_the_warmed_up_exponential_rule() -> None:
    torch.manual_seed(0)
    live = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = WeightAverage(live, decay=0.5)
    expected = [p.detach().clone() for p in live.parameters()]
    for update in range(1, 6):
        with torch.no_grad():
            for parameter in live.parameters():
                parameter.add_(torch.randn_like(parameter))
        live(torch.randn(8, 3))  # moves the running statistics
        average.update(live)
        decay = min(0.5, (1 + update) / (10 + update))
        expected = [
            decay * kept + (1 - decay) * p.detach()
            for kept, p in zip(expected, live.parameters(), strict=True)
        ]
    for kept, want in zip(average.network.parameters(), expected, strict=True):
        torch.testing.assert_close(kept, want)
        assert not kept.requires_grad
    torch.testing.assert_close(average.network[1].running_mean, live[1].running_mean)
    assert average.updates == 5


@pytest.mark.parametrize("name", ["cyclegan", "pix2pix"])
def test_trainers_export_the_average_unless_it_is_off(backends: Registry[Any], name: str) -> None:
    backend = backends.get(name)
    torch.manual_seed(0)
    off = backend.build_trainer(
        SAR_BANDS, OPTICAL_BANDS, backend.config_type(**SMALL[name], ema_decay=0), CPU
    )
    assert off.generator is off.networks()["generator"]

    trainer = backend.build_trainer(
        SAR_BANDS, OPTICAL_BANDS, backend.config_type(**SMALL[name]), CPU
    )
    live = trainer.networks()["generator"]
    assert trainer.generator is not live and "generator" in trainer.networks()
    snapshots = [[p.detach().clone() for p in live.parameters()]]
    for _ in range(3):
        trainer.train_step(paired_batch(), amp=False)
        snapshots.append([p.detach().clone() for p in live.parameters()])
    expected = snapshots[0]
    for update, weights in enumerate(snapshots[1:], start=1):
        decay = (1 + update) / (10 + update)
        expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights, strict=True)]
    for kept, want in zip(trainer.generator.parameters(), expected, strict=True):
        torch.testing.assert_close(kept, want)
    assert any(
        not torch.equal(kept, last)
        for kept, last in zip(trainer.generator.parameters(), snapshots[-1], strict=True)
    )


def test_a_checkpoint_without_an_average_starts_one_at_its_generator(
    backends: Registry[Any],
) -> None:
    backend = backends.get("pix2pix")
    config = backend.config_type(**SMALL["pix2pix"])
    torch.manual_seed(0)
    trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    for _ in range(2):
        trainer.train_step(paired_batch(), amp=False)
    state = {**trainer.state_dict(), "generator_average": None}  # as written before averaging

    torch.manual_seed(1)
    resumed = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, config, CPU)
    resumed.load_state_dict(state)
    live = trainer.networks()["generator"].state_dict()
    for name, value in resumed.generator.state_dict().items():
        assert torch.equal(value, live[name])
