from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pydantic
import pytest
import torch
from torch import nn

from geocolor.config import Config
from geocolor.errors import GeocolorError, UsageError
from geocolor.models.backend import Batch
from geocolor.models.logged import load_model
from geocolor.models.model_registry import promote
from geocolor.models.normalisation import Normalisation
from geocolor.plugins.manager import AUTOLOAD_ENV, get_plugins, load_plugins
from geocolor.plugins.registry import Registry
from geocolor.prepare.tiling import Split
from geocolor.train.dataset import seed_everything
from geocolor.train.loop import train
from geocolor.train.run_config import TrainConfig
from geocolor.train.sample_grid import sample_grid
from geocolor.train.scoring import score_generator
from geocolor.train.store_data import StoreData
from tests.plugin_dist import install_plugin
from tests.test_dataset import OPTICAL_BANDS, synthetic_pair, write_synthetic_store

REPOSITORY = Path(__file__).resolve().parents[1]


class LinearConfig(Config):
    """The test backend's one hyper-parameter."""

    lr: float = pydantic.Field(default=0.05, gt=0)


class LinearTrainer:
    """A 1x1 convolution + tanh fitted with masked L1: a backend ``Trainer`` in miniature."""

    def __init__(self, generator: nn.Module, config: LinearConfig) -> None:
        self._generator = generator
        self._in_step = generator
        self.optimizer = torch.optim.Adam(generator.parameters(), lr=config.lr)

    @property
    def generator(self) -> nn.Module:
        return self._generator

    def networks(self) -> Mapping[str, nn.Module]:
        return {"generator": self._generator}

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        self._in_step = wrapper(self._generator)

    def train_step(self, batch: Batch, amp: bool) -> dict[str, float]:
        with torch.autocast(batch["sar"].device.type, enabled=amp):
            generated = self._in_step(batch["sar"])
        error = (generated.float() - batch["optical"]).abs() * batch["valid"]
        loss = error.sum() / (batch["valid"].sum() * generated.shape[1]).clamp_min(1)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"l1": loss.item()}

    def end_epoch(self, epoch: int, epochs: int) -> None:
        del epoch, epochs

    def state_dict(self) -> dict[str, object]:
        return {"generator": self._generator.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._generator.load_state_dict(state["generator"])
        self.optimizer.load_state_dict(state["optimizer"])


class LinearBackend:
    """The test backend: per-pixel affine SAR -> optical, which the synthetic store obeys."""

    name = "linear"
    paired = True
    config_type: type[Config] = LinearConfig

    def build_trainer(
        self, in_channels: int, out_channels: int, config: Config, device: torch.device
    ) -> LinearTrainer:
        assert isinstance(config, LinearConfig)
        generator = self.build_generator(in_channels, out_channels, config).to(device)
        return LinearTrainer(generator, config)

    def build_generator(self, in_channels: int, out_channels: int, config: Config) -> nn.Module:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.Tanh())

    def receptive_field(self, config: Config) -> int:
        return 1


PLUGIN = """
    from geocolor.plugins.hookspecs import hookimpl
    from tests.test_train import LinearBackend

    @hookimpl
    def geocolor_register_backends(registry):
        registry.register("linear", LinearBackend())
"""


def tracking_template(factory: pytest.TempPathFactory) -> Path:
    """An initialised MLflow SQLite database, made once per session (it takes seconds)."""
    template = factory.getbasetemp() / "mlflow-template" / "mlflow.db"
    if not template.exists():
        template.parent.mkdir(exist_ok=True)
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()
    return template


def use_fresh_tracking(
    folder: Path, factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Point MLflow at a copy of the template database in ``folder`` and work there."""
    database = folder / "mlflow.db"
    shutil.copy(tracking_template(factory), database)
    uri = f"sqlite:///{database}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(folder)
    return uri


def install_linear_backend(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the linear backend as a third-party plugin, as pip would."""
    site = folder / "site-packages"
    site.mkdir()
    install_plugin(site, "geocolor-linear-test", "geocolor_linear_test", PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    get_plugins.cache_clear()
    return site


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_synthetic_store(tmp_path_factory.mktemp("train") / "store.zarr")


def quick_config(**changes: Any) -> TrainConfig:
    """Linear backend, tiny and quick: 16 train tiles in batches of 4."""
    values: dict[str, Any] = {
        "backend": "linear",
        "epochs": 2,
        "batch_size": 4,
        "num_workers": 0,
        "log_every": 1,
        "checkpoint_dir": "checkpoints",
    }
    return TrainConfig(**{**values, **changes})


def loss_history(run_id: str) -> list[tuple[int, float]]:
    history = mlflow.MlflowClient().get_metric_history(run_id, "loss_l1")
    return [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)]


def untrained_psnr(
    store: str, backend: Any, options: Config, seed: int, normalisation: Normalisation
) -> float:
    """Val PSNR of the backend's untrained generator, scored as validation scores."""
    data = StoreData.open(store)
    seed_everything(seed)
    untrained = backend.build_trainer(2, 3, options, torch.device("cpu")).generator
    return score_generator(
        untrained,
        normalisation,
        torch.device("cpu"),
        store,
        data.split(Split.VAL),
        data.layout.tile_size,
    )["psnr"]


#: A CycleGAN small enough to learn the synthetic relation in a minute or two on a CPU.
SMALL_CYCLEGAN = {"ngf": 8, "n_blocks": 1, "ndf": 8, "lr": 0.003, "pool_size": 0}


def test_default_cyclegan_learns_the_mapping(store: str, tracking: str) -> None:
    """Validation PSNR of the trained model beats the untrained one and the mean colour."""
    assert "cyclegan" in load_plugins(autoload=False).backends.names()
    config = TrainConfig(
        epochs=10,
        batch_size=2,
        seed=1,
        num_workers=0,
        log_every=4,
        backend_options=SMALL_CYCLEGAN,
    )
    assert config.backend == "cyclegan"
    result = train(store, config)
    model = load_model(result.model_uri)
    untrained = untrained_psnr(
        store,
        get_plugins().backends.get("cyclegan"),
        model.config,
        config.seed,
        model.normalisation,
    )
    trained, mean_colour = result.metrics["psnr"], result.metrics["baseline_mean_psnr"]
    print(
        f"val PSNR (dB): untrained {untrained:.2f}, mean colour {mean_colour:.2f}, "
        f"trained {trained:.2f}; SSIM {result.metrics['ssim']:.3f}"
    )
    assert trained > mean_colour + 2.5
    assert trained > untrained + 5
    assert result.metrics["ssim"] > 0.5


def test_same_seed_gives_identical_losses_and_logs_the_run(
    store: str, tracking: str, linear_plugin: Path
) -> None:
    first = train(store, quick_config(seed=3))
    second = train(store, quick_config(seed=3))
    other = train(store, quick_config(seed=4))
    assert first.run_id != second.run_id
    assert len(loss_history(first.run_id)) == 8  # 2 epochs x 16 tiles / 4 per step
    assert loss_history(first.run_id) == loss_history(second.run_id)
    assert loss_history(first.run_id) != loss_history(other.run_id)
    assert (first.model_version, second.model_version) == ("1", "2")

    client = mlflow.MlflowClient()
    run = client.get_run(first.run_id)
    assert run.data.params["backend"] == "linear" and run.data.params["backend.lr"] == "0.05"
    assert run.data.params["store"] == store and len(run.data.params["store_fingerprint"]) == 16
    assert {f"val_{m}" for m in ("psnr", "ssim", "sam", "l1")} <= set(run.data.metrics)
    assert [m.step for m in client.get_metric_history(first.run_id, "val_psnr")] == [0, 1]
    artifacts = {a.path for a in client.list_artifacts(first.run_id)}
    assert "normalisation.json" in artifacts
    samples = [a.path for a in client.list_artifacts(first.run_id, "samples")]
    assert samples == ["samples/epoch_0000.png", "samples/epoch_0001.png"]
    version = client.get_model_version("geocolor", "1")
    assert version.run_id == first.run_id
    assert version.tags["backend"] == "linear"
    assert version.tags["data_fingerprint"] == run.data.params["store_fingerprint"]
    assert version.tags["git_commit"]
    assert Path(first.checkpoint).is_file()


def test_resume_continues_the_same_run_as_if_never_stopped(
    store: str, tracking: str, linear_plugin: Path
) -> None:
    straight = train(store, quick_config(seed=5))
    stopped = train(store, quick_config(seed=5, epochs=1))
    resumed = train(store, quick_config(seed=5), resume=stopped.checkpoint)
    assert resumed.run_id == stopped.run_id
    assert loss_history(resumed.run_id) == loss_history(straight.run_id)
    history = mlflow.MlflowClient().get_metric_history(resumed.run_id, "val_psnr")
    assert sorted(m.step for m in history) == [0, 1]
    assert resumed.metrics == straight.metrics

    with pytest.raises(UsageError, match="backend_options"):
        train(store, quick_config(backend_options={"lr": 0.1}), resume=stopped.checkpoint)
    with pytest.raises(UsageError, match="has done 2 of 2 epochs already"):
        train(store, quick_config(seed=5), resume=resumed.checkpoint)
    with pytest.raises(GeocolorError, match="checkpoint not found"):
        train(store, quick_config(), resume="missing.pt")


def test_configuration_errors_are_one_line(store: str, tmp_path: Path, tracking: str) -> None:
    injected: Registry[Any] = Registry("model backend")
    injected.register("linear", LinearBackend())
    with pytest.raises(UsageError, match=r"backend_options.width: Extra inputs"):
        train(store, quick_config(backend_options={"width": 3}), backends=injected)
    with pytest.raises(GeocolorError, match="unknown model backend 'nope'"):
        train(store, quick_config(backend="nope"), backends=injected)
    test_only = write_synthetic_store(tmp_path / "small.zarr", tiles_down=1)
    with pytest.raises(GeocolorError, match=r"small\.zarr: the store has no train tiles"):
        train(test_only, quick_config(), backends=injected)


def test_load_model_from_every_uri_form(store: str, tracking: str, linear_plugin: Path) -> None:
    result = train(store, quick_config(epochs=1, model_name="shapes"))
    promote("shapes", result.model_version, "candidate")
    run_uri = f"runs:/{result.run_id}/model"
    local = mlflow.artifacts.download_artifacts(artifact_uri=run_uri)
    sar, _, _ = synthetic_pair(48, 80, seed=5)
    outputs = []
    for uri in ("models:/shapes@candidate", "models:/shapes/1", run_uri, local):
        model = load_model(uri)
        assert (model.backend, model.in_channels, model.out_channels) == ("linear", 2, 3)
        assert model.receptive_field == 1 and not model.generator.training
        outputs.append(model.predict(sar[None]))
        if uri.startswith("models:/"):
            assert model.version is not None and model.version.version == "1"
            assert model.version.run_id == result.run_id
            assert model.version.aliases == ("candidate",)
        else:
            assert model.version is None
    assert outputs[0].shape == (1, 3, 48, 80) and outputs[0].dtype == np.float32
    assert np.isnan(outputs[0][0, :, 2:5, 3:7]).all()
    assert all(np.array_equal(outputs[0], other, equal_nan=True) for other in outputs[1:])

    for missing in ("models:/shapes/7", "models:/nothing@candidate", "runs:/abc/model"):
        with pytest.raises(GeocolorError, match=f"^{missing}: cannot load the model"):
            load_model(missing)
    corrupt = Path(shutil.copytree(local, "corrupt"))
    next(corrupt.rglob("generator.pt")).write_bytes(b"not a state dict")
    with pytest.raises(GeocolorError, match="corrupt: cannot load the model"):
        load_model(str(corrupt))
    with pytest.raises(GeocolorError, match="expects SAR of shape"):
        load_model(local).predict(sar)


def test_sample_grid_shows_sar_generated_and_real_side_by_side() -> None:
    spec = Normalisation(
        ("VV", "VH"), (0.0, 0.0), (1.0, 1.0), OPTICAL_BANDS, (0.0,) * 3, (1.0,) * 3
    )
    sar = torch.full((2, 2, 8, 6), -1.0)
    generated = torch.zeros(2, 3, 8, 6)
    real = torch.stack([torch.full((8, 6), v) for v in (-1.0, 0.0, 1.0)])[None].repeat(2, 1, 1, 1)
    valid = torch.ones(2, 1, 8, 6)
    valid[1, 0, 0, 0] = 0
    grid = sample_grid(sar, generated, real, valid, spec)
    assert grid.shape == (2 * 10, 3 * 8, 3) and grid.dtype == np.uint8
    assert (grid[1, 1] == 0).all()  # SAR at -1 is black
    assert (grid[1, 9] == 128).all()  # generated 0 is mid grey
    assert grid[1, 17].tolist() == [255, 128, 0]  # B04, B03, B02 as red, green, blue
    assert grid[11, 17].tolist() == [0, 0, 0]  # a masked real pixel is black
    assert (grid[0] == 255).all()  # the white border


def test_torchrun_two_processes_log_one_run_and_one_version(
    store: str, tmp_path: Path, tracking: str, linear_plugin: Path
) -> None:
    script = tmp_path / "train_script.py"
    script.write_text(
        "import sys\nfrom geocolor.cli.train import train_command\ntrain_command(sys.argv[1:])\n"
    )
    pipeline = tmp_path / "train.yaml"
    pipeline.write_text("log_every: 1\nnum_workers: 0\nepochs: 5\n")
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(linear_plugin), str(REPOSITORY)]),
        "MLFLOW_TRACKING_URI": tracking,
        "OMP_NUM_THREADS": "1",
    }
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"),
        *(str(script), store, "--config", str(pipeline), "--backend", "linear"),
        *("--epochs", "2", "--batch-size", "2", "--steps-per-epoch", "3"),
    ]
    done = subprocess.run(
        command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "models:/geocolor/1"
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("geocolor")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    assert runs[0].data.params["world_size"] == "2"
    assert runs[0].data.params["epochs"] == "2"  # the command line wins over the YAML
    assert [str(v.version) for v in client.search_model_versions("name = 'geocolor'")] == ["1"]
    history = client.get_metric_history(runs[0].info.run_id, "loss_l1")
    assert sorted(m.step for m in history) == [1, 2, 3, 4, 5, 6]
